import pg from "pg";
import type { IndexPort } from "~/server/drivers/index";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import { loadIndexMigrations } from "~/server/odc/migrations/files";
import { applyIndexMigration } from "~/server/odc/migrations/runner";
import { createTestDatabase, pgAdminUrl } from "../databases";

/**
 * A fresh index database for indexer tests: the ODC driver on it, a pool for the `piksel` schema,
 * and (unless told otherwise) the index migrations applied directly, without the promotion rule or
 * the audit log, which tests/integration/indexing-migrations.test.ts covers.
 */
export async function createIndexDatabase(prefix: string, opts: { migrate?: boolean } = {}): Promise<{ url: string; index: IndexPort; pool: pg.Pool; drop(): Promise<void> }> {
  const t = await createTestDatabase(prefix);
  const pool = new pg.Pool({ connectionString: t.url, max: 4 });
  if (opts.migrate ?? true) {
    for (const m of loadIndexMigrations()) await applyIndexMigration(pool, m, "test", () => undefined);
  }
  const index = createPostgresIndex(t.url);
  return {
    url: t.url,
    index,
    pool,
    async drop() {
      await index.close();
      await pool.end();
      // pool.end() resolves before the server has closed every session; a forced drop would then
      // kill one mid-goodbye and its client would raise an unhandled 57P01. Wait for them to go.
      const admin = new pg.Client({ connectionString: pgAdminUrl() });
      await admin.connect();
      try {
        for (let i = 0; i < 200; i++) {
          const { rows } = await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1", [t.name]);
          if (rows[0]!.n === 0) break;
          await new Promise((resolve) => setImmediate(resolve));
        }
      } finally {
        await admin.end();
      }
      await t.drop();
    },
  };
}
