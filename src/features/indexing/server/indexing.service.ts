import "server-only";
import type pg from "pg";
import { recordAudit } from "~/features/audit/server/audit.service";
import { indexDatabaseUrl, type EnvironmentConfig, type PikselConfig } from "~/server/config";
import type { Db } from "~/server/db";
import { AppError } from "~/server/errors";
import type { Logger } from "~/server/logger";
import { indexDatabasePool } from "~/server/odc/migrations/database";
import type { EnvironmentPorts } from "~/server/ports";
import type { ListRunsInput, RunFailuresInput, RunRef, ScopeOverrideInput, StartRunInput } from "../indexing.schema";
import { productSummaries, type ProductSummary } from "./index-summary";
import { defaultIndexerTuning, prepareIndexRun, type IndexerTuning } from "./indexer.service";
import { failureSummaries, getRun, listFailures, listRuns, requestCancel, runLockHeld, runTablesExist, type IndexFailure, type IndexRun, type IndexScope } from "./run-store";

/**
 * The Indexing page's server side: per environment, what its ODC index holds, the indexer runs
 * (started here, by `piksel index` or by the CronJob: all are recorded in the index database), and
 * starting and cancelling runs from the console. A console run runs in this process, in the
 * background, one per environment.
 */

export interface IndexingDeps {
  /** The app database, for the audit log. */
  db: Pick<Db, "auditEvent">;
  config: PikselConfig;
  ports: Map<string, EnvironmentPorts>;
  log: Logger;
  /** The index database of an environment (for the `piksel` schema); default: a process-wide pool. */
  indexDb?: (environment: string) => pg.Pool;
  tuning?: Partial<IndexerTuning>;
}

export interface Actor {
  id?: string | null;
  email: string;
}

function environment(deps: IndexingDeps, name: string): { env: EnvironmentConfig; ports: EnvironmentPorts; db: pg.Pool } {
  const env = deps.config.environments.find((e) => e.name === name);
  const ports = deps.ports.get(name);
  if (!env || !ports) throw new AppError("NOT_FOUND", `No environment "${name}". Configured: ${deps.config.environments.map((e) => e.name).join(", ")}.`);
  return { env, ports, db: deps.indexDb ? deps.indexDb(name) : indexDatabasePool(indexDatabaseUrl(deps.config, env)) };
}

/** The environment's configured scope with a run's overrides. */
export function runScope(configured: EnvironmentConfig["scope"], override: ScopeOverrideInput): IndexScope {
  return {
    bbox: [...(override.bbox ?? configured.bbox)] as IndexScope["bbox"],
    datetime: override.datetime ?? configured.datetime,
    collections: [...(override.collections ?? configured.collections)],
  };
}

export interface EnvironmentIndex {
  environment: string;
  label: string | null;
  reachable: boolean;
  /** The index check's detail, or why it is unreachable. */
  detail: string;
  /** The STAC API it is indexed from. */
  catalog: string;
  /** What a run searches unless told otherwise. */
  scope: IndexScope;
  /** Whether index migration 0001 (run records) is applied: runs need it. */
  runTables: boolean;
  products: ProductSummary[];
}

// Product summaries scan every dataset of a product: computed again when a run has written since
// (its heartbeat moved), but at most every few seconds, and at least every half minute for datasets
// that others (the worker, `datacube dataset add`) add.
const SUMMARY_MAX_AGE_MS = 30_000;
const SUMMARY_MIN_AGE_MS = 5_000;
const summaryCache = globalThis as unknown as { pikselIndexSummaries?: Map<string, { at: number; stamp: string; value: Promise<ProductSummary[]> }> };

async function cachedSummaries(key: string, db: pg.Pool, runTables: boolean): Promise<ProductSummary[]> {
  summaryCache.pikselIndexSummaries ??= new Map();
  const cache = summaryCache.pikselIndexSummaries;
  const stamp = runTables ? String((await db.query<{ s: string | null }>("SELECT max(heartbeat_at)::text AS s FROM piksel.index_run")).rows[0]?.s) : "";
  const hit = cache.get(key);
  const age = hit ? Date.now() - hit.at : Infinity;
  if (hit && age < SUMMARY_MAX_AGE_MS && (hit.stamp === stamp || age < SUMMARY_MIN_AGE_MS)) return hit.value;
  const value = productSummaries(db);
  cache.set(key, { at: Date.now(), stamp, value });
  // A failure is not cached: the next call tries again.
  value.catch(() => cache.delete(key));
  return value;
}

/** Forgets an environment's summaries: a run of this process has just finished writing. */
function forgetSummaries(environment: string): void {
  for (const key of summaryCache.pikselIndexSummaries?.keys() ?? []) if (key.startsWith(`${environment} `)) summaryCache.pikselIndexSummaries!.delete(key);
}

/** Per environment: reachability, scope, and products with dataset counts, time range and latest dataset. */
export async function indexingOverview(deps: IndexingDeps): Promise<EnvironmentIndex[]> {
  return Promise.all(
    deps.config.environments.map(async (e): Promise<EnvironmentIndex> => {
      const { ports, db } = environment(deps, e.name);
      const base = { environment: e.name, label: e.label ?? null, catalog: ports.catalog.endpoint, scope: runScope(e.scope, {}) };
      try {
        const detail = await ports.index.check();
        const runTables = await runTablesExist(db);
        const products = await cachedSummaries(`${e.name} ${ports.index.endpoint}`, db, runTables);
        return { ...base, reachable: true, detail, runTables, products };
      } catch (err) {
        return { ...base, reachable: false, detail: (err as Error).message, runTables: false, products: [] };
      }
    }),
  );
}

export interface RunView extends IndexRun {
  /** A `running` run whose process still holds the environment's run lock. */
  alive: boolean;
  itemsPerSecond: number;
  /** Seconds left at the run's rate, when the catalogue reported numberMatched. */
  etaSeconds: number | null;
  /** Failures grouped by problem: how many, and one reason as an example. */
  failures: { problem: string; count: number; example: string }[];
}

export interface EnvironmentRuns {
  environment: string;
  /** Why the runs could not be read (index unreachable, migration 0001 missing); null when they were. */
  unavailable: string | null;
  runs: RunView[];
}

/** Recent runs of every environment, newest first, with live progress of running ones. */
export async function listIndexRuns(deps: IndexingDeps, input: ListRunsInput): Promise<EnvironmentRuns[]> {
  return Promise.all(
    deps.config.environments.map(async (e): Promise<EnvironmentRuns> => {
      const { db } = environment(deps, e.name);
      try {
        if (!(await runTablesExist(db))) return { environment: e.name, unavailable: "Index migration 0001_index_runs is not applied here yet.", runs: [] };
        const runs = await listRuns(db, e.name, input.perEnvironment);
        const failures = await failureSummaries(db, runs.filter((r) => r.failed > 0 || r.status === "failed").map((r) => r.id));
        const alive = runs.some((r) => r.status === "running") ? await runLockHeld(db, e.name) : false;
        return {
          environment: e.name,
          unavailable: null,
          runs: runs.map((r) => {
            const seconds = ((r.finishedAt ?? r.heartbeatAt).getTime() - r.startedAt.getTime()) / 1000;
            const rate = seconds > 0 ? r.items / seconds : 0;
            const remaining = r.numberMatched === null ? null : Math.max(0, r.numberMatched - r.itemsBefore - r.items);
            return { ...r, alive: r.status === "running" && alive, itemsPerSecond: rate, etaSeconds: r.status === "running" && remaining !== null && rate > 0 ? remaining / rate : null, failures: failures.get(r.id) ?? [] };
          }),
        };
      } catch (err) {
        return { environment: e.name, unavailable: `Cannot read the runs: ${(err as Error).message}`, runs: [] };
      }
    }),
  );
}

/** The failed items of one run, oldest first. */
export async function runFailures(deps: IndexingDeps, input: RunFailuresInput): Promise<IndexFailure[]> {
  const { db } = environment(deps, input.environment);
  const run = await getRun(db, input.runId);
  if (!run || run.environment !== input.environment) throw new AppError("NOT_FOUND", `No indexing run ${input.runId} in ${input.environment}.`);
  return listFailures(db, input.runId, { limit: input.limit, after: input.after });
}

interface ActiveRun {
  runId?: number;
  controller: AbortController;
  /** Settles when the run has ended and released its lock. */
  finished?: Promise<void>;
}
const active = (() => {
  const holder = globalThis as unknown as { pikselActiveIndexRuns?: Map<string, ActiveRun> };
  holder.pikselActiveIndexRuns ??= new Map();
  return holder.pikselActiveIndexRuns;
})();

/**
 * Starts a run in the background of this process and returns its id once it is recorded. CONFLICT
 * when a run of the environment is in progress, here or in another process (the CLI, a CronJob).
 */
export async function startIndexRun(deps: IndexingDeps, actor: Actor, input: StartRunInput): Promise<{ runId: number; resumedFrom: number | null }> {
  const { env, ports, db } = environment(deps, input.environment);
  const current = active.get(env.name);
  if (current) throw new AppError("CONFLICT", `An indexing run is already in progress in ${env.name}${current.runId ? `: run ${current.runId}` : ""}.`, current.runId ? { runId: current.runId } : undefined);
  const entry: ActiveRun = { controller: new AbortController() };
  active.set(env.name, entry);
  const log = deps.log.child({ component: "indexing" });
  try {
    const scope = runScope(env.scope, input);
    const prepared = await prepareIndexRun(
      { index: ports.index, catalog: ports.catalog, db, log },
      { environment: env.name, scope, trigger: "console", startedBy: actor.email, limitPages: input.limitPages, restart: input.restart },
      { ...defaultIndexerTuning, ...deps.tuning },
    );
    entry.runId = prepared.runId;
    const done = () => {
      active.delete(env.name);
      forgetSummaries(env.name);
    };
    try {
      await recordAudit(deps.db, {
        actor,
        action: "index.run",
        environment: env.name,
        subjectType: "index-run",
        subjectId: String(prepared.runId),
        detail: { event: "start", scope: { ...scope }, limitPages: input.limitPages ?? null, resumedFrom: prepared.resumedFrom, restart: input.restart },
      });
    } catch (err) {
      // No run without its audit record: stop it before it reads a page (it records itself cancelled).
      entry.controller.abort(new Error("the audit record could not be written"));
      void prepared.execute({ signal: entry.controller.signal }).finally(done);
      throw err;
    }
    entry.finished = prepared
      .execute({ signal: entry.controller.signal })
      .then(
        () => undefined,
        (err: unknown) => log.error({ err, runId: prepared.runId }, "indexing run crashed"),
      )
      .finally(done);
    return { runId: prepared.runId, resumedFrom: prepared.resumedFrom };
  } catch (err) {
    if (entry.runId === undefined) active.delete(env.name);
    throw err;
  }
}

/** Asks a running run to stop after its current batch, wherever it runs. */
export async function cancelIndexRun(deps: IndexingDeps, actor: Actor, input: RunRef): Promise<{ runId: number; state: "cancelling" }> {
  const { env, db } = environment(deps, input.environment);
  const run = await getRun(db, input.runId);
  if (!run || run.environment !== env.name) throw new AppError("NOT_FOUND", `No indexing run ${input.runId} in ${env.name}.`);
  if (!(await requestCancel(db, input.runId))) throw new AppError("CONFLICT", `Indexing run ${input.runId} is not running (${run.status}).`);
  const local = active.get(env.name);
  if (local?.runId === input.runId) local.controller.abort(new Error("cancelled"));
  await recordAudit(deps.db, { actor, action: "index.run", environment: env.name, subjectType: "index-run", subjectId: String(input.runId), detail: { event: "cancel" } });
  return { runId: input.runId, state: "cancelling" };
}

/** The console's background run of an environment: its id and a promise of its end (tests, shutdown). */
export function backgroundRun(environment: string): { runId: number | undefined; finished: Promise<void> } | undefined {
  const r = active.get(environment);
  return r && { runId: r.runId, finished: r.finished ?? Promise.resolve() };
}
