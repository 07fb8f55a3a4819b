import "server-only";
import pg from "pg";

/**
 * Connection pools to the index databases for the console's own `piksel` schema (runs, failures,
 * migrations), one per URL and process. The ODC index driver keeps its own pool for `agdc`; these are
 * small because they carry only bookkeeping.
 */

const holder = globalThis as unknown as { pikselIndexPools?: Map<string, pg.Pool> };

export function indexDatabasePool(url: string): pg.Pool {
  holder.pikselIndexPools ??= new Map();
  let pool = holder.pikselIndexPools.get(url);
  if (!pool) {
    pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 });
    // An idle client that loses its server must not crash the process.
    pool.on("error", () => undefined);
    holder.pikselIndexPools.set(url, pool);
  }
  return pool;
}

/** Ends every pool (CLI exit, test teardown). */
export async function closeIndexDatabasePools(): Promise<void> {
  const pools = [...(holder.pikselIndexPools?.values() ?? [])];
  holder.pikselIndexPools?.clear();
  await Promise.all(pools.map((p) => p.end()));
}
