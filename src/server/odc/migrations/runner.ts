import "server-only";
import type pg from "pg";
import type { IndexMigration } from "./files";

/** One row of `piksel.schema_migration`. */
export interface AppliedMigration {
  name: string;
  checksum: string;
  appliedAt: Date;
  appliedBy: string;
}

// Serialises appliers of one database (two admins, or the console and the CLI): "pksl", 1.
const LOCK_CLASS = 0x706b736c;
const LOCK_MIGRATIONS = 1;

const trackingTableSql = `
CREATE SCHEMA IF NOT EXISTS piksel;
CREATE TABLE IF NOT EXISTS piksel.schema_migration (
  name text PRIMARY KEY,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  applied_by text NOT NULL
);`;

/** The migrations applied to this database, in order; none when the tracking table does not exist yet. */
export async function appliedMigrations(db: pg.Pool | pg.PoolClient): Promise<AppliedMigration[]> {
  const { rows } = await db.query<{ t: string | null }>("SELECT to_regclass('piksel.schema_migration')::text AS t");
  if (!rows[0]?.t) return [];
  const res = await db.query<{ name: string; checksum: string; applied_at: Date; applied_by: string }>(
    "SELECT name, checksum, applied_at, applied_by FROM piksel.schema_migration ORDER BY name",
  );
  return res.rows.map((r) => ({ name: r.name, checksum: r.checksum, appliedAt: r.applied_at, appliedBy: r.applied_by }));
}

/**
 * Applies one migration in one transaction with its tracking row, under a lock. `check` sees the
 * applied list as it is under the lock and throws to refuse; nothing is changed then.
 */
export async function applyIndexMigration(pool: pg.Pool, migration: IndexMigration, appliedBy: string, check: (applied: AppliedMigration[]) => void): Promise<AppliedMigration> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    try {
      await client.query("SELECT pg_advisory_xact_lock($1, $2)", [LOCK_CLASS, LOCK_MIGRATIONS]);
      await client.query(trackingTableSql);
      check(await appliedMigrations(client));
      // The simple query protocol (no parameters) runs a file of several statements as written.
      await client.query(migration.sql);
      const { rows } = await client.query<{ applied_at: Date }>(
        "INSERT INTO piksel.schema_migration (name, checksum, applied_by) VALUES ($1, $2, $3) RETURNING applied_at",
        [migration.name, migration.checksum, appliedBy],
      );
      await client.query("COMMIT");
      return { name: migration.name, checksum: migration.checksum, appliedAt: rows[0]!.applied_at, appliedBy };
    } catch (err) {
      await client.query("ROLLBACK");
      throw err;
    }
  } finally {
    client.release();
  }
}
