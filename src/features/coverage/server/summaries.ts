import "server-only";
import type pg from "pg";
import type { MetadataTypeDefinition } from "~/server/odc/definitions";
import { datasetFields, docFields } from "~/server/odc/fields";
import { hasSchema } from "~/server/odc/schema";

/**
 * The coverage summaries of one index database (index-migrations/0002_coverage_summaries.sql,
 * docs/adr/0014-coverage-summaries.md): per product x cell x day/month/year, the dataset count, time
 * extent and lon/lat bounds.
 *
 * A refresh reads only the datasets added or updated (archiving is an update: ODC's trigger sets
 * `updated`) since the previous refresh's watermark, takes each one out of the cell and day it counted
 * in before (`piksel.coverage_dataset`), puts the active ones in where they count now, and recomputes
 * only the days, months and years those touch. A rebuild does the same from nothing. Both run in one
 * transaction under a lock, so readers see either the old summaries or the new ones, and an indexer's
 * refresh and an operator's rebuild never interleave.
 */

export interface RefreshResult {
  mode: "rebuild" | "incremental";
  /** Datasets looked at: added, updated or archived since the last refresh (all active ones for a rebuild). */
  changed: number;
  /** Summary rows (day, month, year) written. */
  periods: number;
  ms: number;
  /** Datasets added or updated after this are not summarised yet. */
  watermark: Date;
}

export interface CoverageState {
  watermark: Date;
  refreshedAt: Date;
  rebuiltAt: Date | null;
  lastMode: "rebuild" | "incremental";
  lastChanged: number;
  lastMs: number;
}

/** Thrown when the summary tables are missing: index migration 0002 is not applied in this database. */
export class CoverageTablesMissing extends Error {
  constructor() {
    super("Index migration 0002_coverage_summaries is not applied to this index database: apply it first (Indexing page, or `piksel index migrate --env <env>`).");
    this.name = "CoverageTablesMissing";
  }
}

// Serialises refreshes of one database: "pksl", 2 (1 is the migration runner's).
const LOCK_CLASS = 0x706b736c;
const LOCK_COVERAGE = 2;

/** Whether index migration 0002 (the summary tables) is applied here. */
export async function coverageTablesExist(db: pg.Pool | pg.PoolClient): Promise<boolean> {
  const { rows } = await db.query<{ t: string | null }>("SELECT to_regclass('piksel.coverage_state')::text AS t");
  return Boolean(rows[0]?.t);
}

export async function coverageState(db: pg.Pool | pg.PoolClient): Promise<CoverageState | null> {
  const { rows } = await db.query<{ watermark: Date; refreshed_at: Date; rebuilt_at: Date | null; last_mode: "rebuild" | "incremental"; last_changed: string; last_ms: number }>(
    "SELECT watermark, refreshed_at, rebuilt_at, last_mode, last_changed::text, last_ms FROM piksel.coverage_state",
  );
  const r = rows[0];
  return r ? { watermark: r.watermark, refreshedAt: r.refreshed_at, rebuiltAt: r.rebuilt_at, lastMode: r.last_mode, lastChanged: Number(r.last_changed), lastMs: r.last_ms } : null;
}

/**
 * The SELECT list that turns an `agdc.dataset` row (alias d) of one metadata type into its summary
 * row, with ODC's own field expressions (the same the dynamic indexes and `dc.find_datasets` use).
 * Undefined when the metadata type has no lat/lon/time fields: its datasets cannot be placed.
 */
function placementSql(definition: MetadataTypeDefinition): string | undefined {
  const fields = docFields(datasetFields(definition));
  const [lat, lon, time, region] = ["lat", "lon", "time", "region_code"].map((n) => fields.get(n));
  if (!lat || !lon || !time || lat.type !== "double-range" || lon.type !== "double-range" || time.type !== "datetime-range") return undefined;
  const doc = "d.metadata";
  const lonR = lon.sql(doc);
  const latR = lat.sql(doc);
  // Without a region code, a one-degree cell named by its south-west corner, from the footprint's centre.
  const fallback = `'lonlat:' || floor((lower(${lonR}) + upper(${lonR})) / 2)::int || ',' || floor((lower(${latR}) + upper(${latR})) / 2)::int`;
  const cell = region && region.type === "string" ? `coalesce(nullif(${region.sql(doc)}, ''), ${fallback})` : fallback;
  return `d.id, d.dataset_type_ref AS product_ref, (d.archived IS NULL) AS active, ${cell} AS cell, lower(${time.sql(doc)}) AS time,
          lower(${lonR}) AS west, lower(${latR}) AS south, upper(${lonR}) AS east, upper(${latR}) AS north`;
}

async function inTransaction<T>(client: pg.PoolClient, fn: () => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    const result = await fn();
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK");
    throw err;
  }
}

const aggregates = "sum(datasets)::int, min(first_time), max(last_time), min(west), min(south), max(east), max(north)";

/**
 * Brings the summaries up to date with the index: incrementally from the last watermark, or from
 * nothing with `rebuild` (also what the first refresh of a database does). Throws
 * CoverageTablesMissing when migration 0002 is not applied.
 */
export async function refreshCoverage(db: pg.Pool, options: { rebuild?: boolean } = {}): Promise<RefreshResult> {
  const started = performance.now();
  const client = await db.connect();
  try {
    return await inTransaction(client, async () => {
      if (!(await coverageTablesExist(client))) throw new CoverageTablesMissing();
      await client.query("SELECT pg_advisory_xact_lock($1, $2)", [LOCK_CLASS, LOCK_COVERAGE]);
      // Days and months are UTC: casts between date and timestamptz follow the session's zone.
      await client.query("SET LOCAL timezone = 'UTC'");
      await client.query("SET LOCAL work_mem = '64MB'");
      const state = await coverageState(client);
      const rebuild = Boolean(options.rebuild) || state === null;
      // A writer's transaction still open now stamps its rows with its own start (now() is the
      // transaction's start), which may be before this refresh: the next refresh starts from the
      // oldest open transaction, so those rows are read once they are committed. (Without the right
      // to see other users' sessions, xact_start is null and only now() counts.)
      const { rows: wm } = await client.query<{ wm: Date }>(
        `SELECT least(now(), (SELECT min(xact_start) FROM pg_stat_activity
                               WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL)) AS wm`,
      );
      const watermark = wm[0]!.wm;

      await client.query(
        `CREATE TEMP TABLE cov_changed (id uuid, product_ref smallint, active boolean, cell text, time timestamptz,
           west float8, south float8, east float8, north float8) ON COMMIT DROP`,
      );
      if (await hasSchema(client)) {
        const { rows: types } = await client.query<{ id: number; definition: MetadataTypeDefinition }>(
          "SELECT m.id, m.definition FROM agdc.metadata_type m WHERE EXISTS (SELECT 1 FROM agdc.dataset_type t WHERE t.metadata_type_ref = m.id)",
        );
        for (const t of types) {
          const select = placementSql(t.definition);
          if (!select) continue;
          // metadata_type_ref as a literal, as ODC writes it (ix_ds_mdt_isactive's leading column).
          const where = rebuild ? "d.archived IS NULL" : "(d.added > $1 OR d.updated > $1 OR d.archived > $1)";
          await client.query(
            `INSERT INTO cov_changed SELECT ${select} FROM agdc.dataset d WHERE d.metadata_type_ref = ${Math.trunc(t.id)} AND ${where}`,
            rebuild ? [] : [state!.watermark],
          );
        }
      }
      const { rows: counted } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM cov_changed");
      const changed = counted[0]!.n;
      // A dataset without a time or a footprint cannot be placed on the map or the timeline.
      const placeable = "active AND time IS NOT NULL AND west IS NOT NULL AND south IS NOT NULL AND east IS NOT NULL AND north IS NOT NULL";
      let periods = 0;

      if (rebuild) {
        await client.query("TRUNCATE piksel.coverage_dataset, piksel.coverage_period, piksel.coverage_timeline");
        await client.query(`INSERT INTO piksel.coverage_dataset SELECT id, product_ref, cell, time, west, south, east, north FROM cov_changed WHERE ${placeable}`);
        const days = await client.query(
          `INSERT INTO piksel.coverage_period
           SELECT product_ref, 'd', time::date, cell, count(*)::int, min(time), max(time), min(west), min(south), max(east), max(north)
             FROM piksel.coverage_dataset GROUP BY product_ref, time::date, cell`,
        );
        const months = await client.query(
          `INSERT INTO piksel.coverage_period
           SELECT product_ref, 'm', date_trunc('month', period)::date, cell, ${aggregates}
             FROM piksel.coverage_period WHERE level = 'd' GROUP BY product_ref, date_trunc('month', period)::date, cell`,
        );
        const years = await client.query(
          `INSERT INTO piksel.coverage_period
           SELECT product_ref, 'y', date_trunc('year', period)::date, cell, ${aggregates}
             FROM piksel.coverage_period WHERE level = 'm' GROUP BY product_ref, date_trunc('year', period)::date, cell`,
        );
        await client.query(
          "INSERT INTO piksel.coverage_timeline SELECT product_ref, level, period, sum(datasets)::int FROM piksel.coverage_period GROUP BY product_ref, level, period",
        );
        periods = (days.rowCount ?? 0) + (months.rowCount ?? 0) + (years.rowCount ?? 0);
      } else if (changed > 0) {
        // The days each changed dataset counted in before and counts in now.
        await client.query("CREATE TEMP TABLE cov_keys (product_ref smallint, cell text, day date) ON COMMIT DROP");
        await client.query(
          `WITH gone AS (DELETE FROM piksel.coverage_dataset c USING cov_changed x WHERE c.id = x.id RETURNING c.product_ref, c.cell, c.time)
           INSERT INTO cov_keys SELECT product_ref, cell, time::date FROM gone`,
        );
        await client.query(
          `WITH placed AS (INSERT INTO piksel.coverage_dataset SELECT id, product_ref, cell, time, west, south, east, north FROM cov_changed WHERE ${placeable}
                           RETURNING product_ref, cell, time)
           INSERT INTO cov_keys SELECT product_ref, cell, time::date FROM placed`,
        );
        await client.query(
          `CREATE TEMP TABLE cov_touched ON COMMIT DROP AS
           SELECT DISTINCT product_ref, cell, level, period FROM (
             SELECT product_ref, cell, 'd'::"char" AS level, day AS period FROM cov_keys
             UNION ALL SELECT product_ref, cell, 'm', date_trunc('month', day)::date FROM cov_keys
             UNION ALL SELECT product_ref, cell, 'y', date_trunc('year', day)::date FROM cov_keys) k`,
        );
        await client.query(
          `DELETE FROM piksel.coverage_period p USING cov_touched k
            WHERE p.product_ref = k.product_ref AND p.level = k.level AND p.period = k.period AND p.cell = k.cell`,
        );
        // Finest first: months are summed from the days just written, years from the months.
        const days = await client.query(
          `INSERT INTO piksel.coverage_period
           SELECT k.product_ref, 'd', k.period, k.cell, count(*)::int, min(c.time), max(c.time), min(c.west), min(c.south), max(c.east), max(c.north)
             FROM cov_touched k JOIN piksel.coverage_dataset c
               ON c.product_ref = k.product_ref AND c.cell = k.cell AND c.time >= k.period AND c.time < k.period + 1
            WHERE k.level = 'd' GROUP BY k.product_ref, k.period, k.cell`,
        );
        const months = await client.query(
          `INSERT INTO piksel.coverage_period
           SELECT k.product_ref, 'm', k.period, k.cell, sum(p.datasets)::int, min(p.first_time), max(p.last_time), min(p.west), min(p.south), max(p.east), max(p.north)
             FROM cov_touched k JOIN piksel.coverage_period p
               ON p.product_ref = k.product_ref AND p.cell = k.cell AND p.level = 'd' AND p.period >= k.period AND p.period < (k.period + interval '1 month')::date
            WHERE k.level = 'm' GROUP BY k.product_ref, k.period, k.cell`,
        );
        const years = await client.query(
          `INSERT INTO piksel.coverage_period
           SELECT k.product_ref, 'y', k.period, k.cell, sum(p.datasets)::int, min(p.first_time), max(p.last_time), min(p.west), min(p.south), max(p.east), max(p.north)
             FROM cov_touched k JOIN piksel.coverage_period p
               ON p.product_ref = k.product_ref AND p.cell = k.cell AND p.level = 'm' AND p.period >= k.period AND p.period < (k.period + interval '1 year')::date
            WHERE k.level = 'y' GROUP BY k.product_ref, k.period, k.cell`,
        );
        await client.query(
          `CREATE TEMP TABLE cov_timeline_keys ON COMMIT DROP AS SELECT DISTINCT product_ref, level, period FROM cov_touched`,
        );
        await client.query(
          `DELETE FROM piksel.coverage_timeline t USING cov_timeline_keys k WHERE t.product_ref = k.product_ref AND t.level = k.level AND t.period = k.period`,
        );
        await client.query(
          `INSERT INTO piksel.coverage_timeline
           SELECT k.product_ref, k.level, k.period, sum(p.datasets)::int
             FROM cov_timeline_keys k JOIN piksel.coverage_period p ON p.product_ref = k.product_ref AND p.level = k.level AND p.period = k.period
            GROUP BY k.product_ref, k.level, k.period`,
        );
        periods = (days.rowCount ?? 0) + (months.rowCount ?? 0) + (years.rowCount ?? 0);
      }
      const ms = Math.round(performance.now() - started);
      const mode = rebuild ? "rebuild" : "incremental";
      await client.query(
        `INSERT INTO piksel.coverage_state (id, watermark, refreshed_at, rebuilt_at, last_mode, last_changed, last_ms)
         VALUES (true, $1, now(), CASE WHEN $2 = 'rebuild' THEN now() END, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET watermark = excluded.watermark, refreshed_at = excluded.refreshed_at,
           rebuilt_at = coalesce(excluded.rebuilt_at, piksel.coverage_state.rebuilt_at), last_mode = excluded.last_mode,
           last_changed = excluded.last_changed, last_ms = excluded.last_ms`,
        [watermark, mode, changed, ms],
      );
      return { mode, changed, periods, ms, watermark };
    });
  } finally {
    client.release();
  }
}
