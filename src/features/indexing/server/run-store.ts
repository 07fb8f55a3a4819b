import "server-only";
import type pg from "pg";
import type { StacPageRequest } from "~/server/drivers/catalog";
import { AppError } from "~/server/errors";

/**
 * Runs and failures of the indexer in `piksel.index_run` / `piksel.index_failure` of the environment's
 * own index database (index-migrations/0001_index_runs.sql), beside the datasets they wrote: a run
 * started by the console, the CLI or a CronJob is recorded the same way, and a resume point can never
 * belong to another index.
 */

export type RunStatus = "running" | "completed" | "cancelled" | "failed" | "interrupted";
export type RunTrigger = "console" | "cli" | "schedule" | "start-up";

/** What a run searches: the environment's configured scope, possibly overridden for the run. */
export interface IndexScope {
  bbox: [number, number, number, number];
  datetime: string;
  collections: string[];
}

export interface RunCounters {
  pages: number;
  items: number;
  added: number;
  updated: number;
  skipped: number;
  archived: number;
  failed: number;
  retries: number;
}

export interface IndexRun extends RunCounters {
  id: number;
  environment: string;
  status: RunStatus;
  trigger: RunTrigger;
  startedBy: string;
  catalog: string;
  scope: IndexScope;
  limitPages: number | null;
  resumedFrom: number | null;
  startedAt: Date;
  heartbeatAt: Date;
  finishedAt: Date | null;
  /** Items of the same search that earlier runs (this one resumed) already went through. */
  itemsBefore: number;
  numberMatched: number | null;
  /** Whether the search was left unfinished and a run of the same scope would continue it. */
  resumable: boolean;
  cancelRequested: boolean;
  error: string | null;
}

export interface FailureRecord {
  page: number | null;
  itemId: string | null;
  datasetId: string | null;
  problem: string;
  reason: string;
}

export interface IndexFailure extends FailureRecord {
  id: number;
  at: Date;
}

export interface PendingArchive {
  older: string;
  newer: string;
}

// At most this many failure rows per run: a catalogue of broken items must not fill the database.
// The run's `failed` counter still counts every one.
export const MAX_FAILURE_ROWS = 10_000;

// Advisory lock of "one run per environment": class "pksl", object = hash of the environment name.
const LOCK_CLASS = 0x706b736c;
export function runLockKey(environment: string): number {
  let h = 2;
  for (const c of environment) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0;
  // Non-negative, and never 1 (the migrations lock of the same class).
  return (h & 0x7fffffff) | 2;
}

type Row = Record<string, unknown>;
const num = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));

function toRun(r: Row): IndexRun {
  return {
    id: Number(r.id),
    environment: r.environment as string,
    status: r.status as RunStatus,
    trigger: r.trigger as RunTrigger,
    startedBy: r.started_by as string,
    catalog: r.catalog as string,
    scope: r.scope as IndexScope,
    limitPages: r.limit_pages === null ? null : Number(r.limit_pages),
    resumedFrom: r.resumed_from === null ? null : Number(r.resumed_from),
    startedAt: r.started_at as Date,
    heartbeatAt: r.heartbeat_at as Date,
    finishedAt: (r.finished_at as Date | null) ?? null,
    itemsBefore: num(r.items_before),
    pages: num(r.pages),
    items: num(r.items),
    added: num(r.added),
    updated: num(r.updated),
    skipped: num(r.skipped),
    archived: num(r.archived),
    failed: num(r.failed),
    retries: num(r.retries),
    numberMatched: r.number_matched === null ? null : Number(r.number_matched),
    resumable: r.next_request !== null,
    cancelRequested: r.cancel_requested as boolean,
    error: (r.error as string | null) ?? null,
  };
}

const RUN_COLUMNS =
  "id::text, environment, status, trigger, started_by, catalog, scope, limit_pages, resumed_from::text, started_at, heartbeat_at, finished_at, items_before, pages, items, added, updated, skipped, archived, failed, retries, number_matched, next_request IS NOT NULL AS has_next, cancel_requested, error";
const mapRun = (r: Row) => toRun({ ...r, next_request: r.has_next ? {} : null });

/** Whether migration 0001 has created the run tables in this index database. */
export async function runTablesExist(db: pg.Pool): Promise<boolean> {
  const { rows } = await db.query<{ t: string | null }>("SELECT to_regclass('piksel.index_run')::text AS t");
  return Boolean(rows[0]?.t);
}

export async function requireRunTables(db: pg.Pool, environment: string): Promise<void> {
  if (!(await runTablesExist(db))) {
    throw new AppError(
      "PRECONDITION_FAILED",
      `The index of ${environment} has no run tables yet: apply index migration 0001_index_runs to ${environment} (Indexing page, Migrations; or \`piksel index migrate --env ${environment}\`).`,
    );
  }
}

/** The run lock of an environment, held on its own connection for the whole run. */
export interface RunLock {
  release(): Promise<void>;
}

/** Takes the environment's run lock, or returns undefined when another process or run holds it. */
export async function tryRunLock(db: pg.Pool, environment: string): Promise<RunLock | undefined> {
  const client = await db.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, $2) AS ok", [LOCK_CLASS, runLockKey(environment)]);
    if (!rows[0]?.ok) {
      client.release();
      return undefined;
    }
  } catch (err) {
    client.release();
    throw err;
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      try {
        await client.query("SELECT pg_advisory_unlock($1, $2)", [LOCK_CLASS, runLockKey(environment)]);
        client.release();
      } catch (err) {
        // A broken connection has lost the lock with its session anyway; do not return it to the pool.
        client.release(err as Error);
      }
    },
  };
}

/** Whether some session holds the environment's run lock (a live run, wherever it was started). */
export async function runLockHeld(db: pg.Pool, environment: string): Promise<boolean> {
  const { rows } = await db.query<{ held: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND classid::bigint = $1 AND objid::bigint = $2) AS held`,
    [LOCK_CLASS, runLockKey(environment)],
  );
  return Boolean(rows[0]?.held);
}

/** Marks runs left `running` by a process that died; call with the run lock held. */
export async function markInterrupted(db: pg.Pool, environment: string): Promise<number> {
  const { rowCount } = await db.query(
    "UPDATE piksel.index_run SET status = 'interrupted', finished_at = heartbeat_at, error = coalesce(error, 'the process running it stopped before it finished') WHERE environment = $1 AND status = 'running'",
    [environment],
  );
  return rowCount ?? 0;
}

/** The latest run of this search, if it left the search unfinished: where a new run continues. */
export async function resumePoint(db: pg.Pool, environment: string, scopeKey: string): Promise<{ run: IndexRun; next: StacPageRequest } | undefined> {
  const { rows } = await db.query<Row>(`SELECT ${RUN_COLUMNS}, next_request FROM piksel.index_run WHERE environment = $1 AND scope_key = $2 ORDER BY id DESC LIMIT 1`, [environment, scopeKey]);
  const r = rows[0];
  if (!r || r.status === "running" || r.next_request === null) return undefined;
  return { run: mapRun(r), next: r.next_request as StacPageRequest };
}

export interface NewRun {
  environment: string;
  trigger: RunTrigger;
  startedBy: string;
  catalog: string;
  scope: IndexScope;
  scopeKey: string;
  limitPages: number | null;
  resumedFrom: number | null;
  itemsBefore: number;
  numberMatched: number | null;
  /** Where the search starts: the resume point, or the first request. */
  nextRequest: StacPageRequest;
}

export async function createRun(db: pg.Pool, run: NewRun): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO piksel.index_run (environment, status, trigger, started_by, catalog, scope, scope_key, limit_pages, resumed_from, items_before, number_matched, next_request)
     VALUES ($1, 'running', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id::text`,
    [run.environment, run.trigger, run.startedBy, run.catalog, JSON.stringify(run.scope), run.scopeKey, run.limitPages, run.resumedFrom, run.itemsBefore, run.numberMatched, JSON.stringify(run.nextRequest)],
  );
  return Number(rows[0]!.id);
}

/**
 * Records progress after a committed batch: counters, the next page to continue from and the
 * heartbeat. Returns whether someone asked the run to stop (a cancel from another process).
 */
export async function recordProgress(db: pg.Pool, runId: number, counters: RunCounters, progress: { next: StacPageRequest | null; numberMatched: number | null }): Promise<{ cancelRequested: boolean }> {
  const { rows } = await db.query<{ cancel_requested: boolean }>(
    `UPDATE piksel.index_run SET pages = $2, items = $3, added = $4, updated = $5, skipped = $6, archived = $7, failed = $8, retries = $9,
            next_request = $10, number_matched = coalesce($11, number_matched), heartbeat_at = now()
      WHERE id = $1 RETURNING cancel_requested`,
    [runId, counters.pages, counters.items, counters.added, counters.updated, counters.skipped, counters.archived, counters.failed, counters.retries, progress.next === null ? null : JSON.stringify(progress.next), progress.numberMatched],
  );
  return { cancelRequested: Boolean(rows[0]?.cancel_requested) };
}

/** Counters only (retries between batches), without moving the resume point. */
export async function recordHeartbeat(db: pg.Pool, runId: number, counters: RunCounters): Promise<{ cancelRequested: boolean }> {
  const { rows } = await db.query<{ cancel_requested: boolean }>(
    "UPDATE piksel.index_run SET retries = $2, heartbeat_at = now() WHERE id = $1 RETURNING cancel_requested",
    [runId, counters.retries],
  );
  return { cancelRequested: Boolean(rows[0]?.cancel_requested) };
}

export async function finishRun(db: pg.Pool, runId: number, status: Exclude<RunStatus, "running">, error: string | null): Promise<void> {
  await db.query("UPDATE piksel.index_run SET status = $2, error = $3, finished_at = now(), heartbeat_at = now() WHERE id = $1", [runId, status, error]);
}

/** Records failures, up to MAX_FAILURE_ROWS per run. */
export async function recordFailures(db: pg.Pool, runId: number, failures: readonly FailureRecord[], alreadyRecorded: number): Promise<number> {
  const room = Math.max(0, MAX_FAILURE_ROWS - alreadyRecorded);
  const rows = failures.slice(0, room);
  if (rows.length === 0) return 0;
  const values: unknown[] = [];
  const tuples = rows.map((f) => {
    const base = values.length;
    values.push(runId, f.page, f.itemId, f.datasetId, f.problem, f.reason.slice(0, 2000));
    return `($${base + 1}::bigint, $${base + 2}::int, $${base + 3}::text, $${base + 4}::uuid, $${base + 5}::text, $${base + 6}::text)`;
  });
  await db.query(`INSERT INTO piksel.index_failure (run_id, page, item_id, dataset_id, problem, reason) VALUES ${tuples.join(", ")}`, values);
  return rows.length;
}

/** The superseded datasets a run is about to archive (written before the batch that supersedes them). */
export async function setPendingArchive(db: pg.Pool, runId: number, pending: readonly PendingArchive[]): Promise<void> {
  await db.query("UPDATE piksel.index_run SET pending_archive = $2 WHERE id = $1", [runId, JSON.stringify(pending)]);
}

/** Archives left pending by runs of this environment that stopped between a batch and its archive step. */
export async function leftoverArchives(db: pg.Pool, environment: string): Promise<{ runId: number; pending: PendingArchive[] }[]> {
  const { rows } = await db.query<{ id: string; pending_archive: PendingArchive[] }>(
    "SELECT id::text, pending_archive FROM piksel.index_run WHERE environment = $1 AND status <> 'running' AND pending_archive <> '[]'::jsonb",
    [environment],
  );
  return rows.map((r) => ({ runId: Number(r.id), pending: r.pending_archive }));
}

export async function listRuns(db: pg.Pool, environment: string, limit: number): Promise<IndexRun[]> {
  const { rows } = await db.query<Row>(`SELECT ${RUN_COLUMNS} FROM piksel.index_run WHERE environment = $1 ORDER BY id DESC LIMIT $2`, [environment, limit]);
  return rows.map(mapRun);
}

export async function getRun(db: pg.Pool, runId: number): Promise<IndexRun | undefined> {
  const { rows } = await db.query<Row>(`SELECT ${RUN_COLUMNS} FROM piksel.index_run WHERE id = $1`, [runId]);
  return rows[0] && mapRun(rows[0]);
}

/** Asks a run to stop at its next batch; false when it is not running. */
export async function requestCancel(db: pg.Pool, runId: number): Promise<boolean> {
  const { rowCount } = await db.query("UPDATE piksel.index_run SET cancel_requested = true WHERE id = $1 AND status = 'running'", [runId]);
  return (rowCount ?? 0) > 0;
}

/** Failures of each run grouped by problem: how many, and one reason as an example. */
export async function failureSummaries(db: pg.Pool, runIds: readonly number[]): Promise<Map<number, { problem: string; count: number; example: string }[]>> {
  const out = new Map<number, { problem: string; count: number; example: string }[]>();
  if (runIds.length === 0) return out;
  const { rows } = await db.query<{ run_id: string; problem: string; count: string; example: string }>(
    `SELECT run_id::text, problem, count(*)::text AS count, (array_agg(reason ORDER BY id))[1] AS example
       FROM piksel.index_failure WHERE run_id = ANY($1::bigint[]) GROUP BY run_id, problem ORDER BY run_id, count(*) DESC`,
    [runIds],
  );
  for (const r of rows) {
    const list = out.get(Number(r.run_id)) ?? [];
    list.push({ problem: r.problem, count: Number(r.count), example: r.example });
    out.set(Number(r.run_id), list);
  }
  return out;
}

export async function listFailures(db: pg.Pool, runId: number, opts: { limit: number; after?: number }): Promise<IndexFailure[]> {
  const { rows } = await db.query<Row>(
    "SELECT id::text, page, item_id, dataset_id::text, problem, reason, at FROM piksel.index_failure WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    [runId, opts.after ?? 0, opts.limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    page: r.page === null ? null : Number(r.page),
    itemId: (r.item_id as string | null) ?? null,
    datasetId: (r.dataset_id as string | null) ?? null,
    problem: r.problem as string,
    reason: r.reason as string,
    at: r.at as Date,
  }));
}
