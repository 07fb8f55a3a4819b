import "server-only";
import { createHash } from "node:crypto";
import type pg from "pg";
import { refreshCoverageAfterRun } from "~/features/coverage/server/after-index-run";
import { CatalogError, type CatalogPort, type StacPage, type StacPageRequest } from "~/server/drivers/catalog";
import type { IndexPort } from "~/server/drivers/index";
import { AppError } from "~/server/errors";
import type { Logger } from "~/server/logger";
import { standardDefinitions } from "~/server/odc/standard-definitions";
import { classifyExisting, dedupe, itemBounds, planSupersession, type Candidate, type Skip, type StoredDataset } from "../batch-plan";
import { defaultProductMapping, StacConversionError, stacToEo3 } from "../stac-to-eo3";
import {
  createRun,
  finishRun,
  leftoverArchives,
  listRuns,
  markInterrupted,
  recordFailures,
  recordHeartbeat,
  recordProgress,
  requireRunTables,
  resumePoint,
  setPendingArchive,
  tryRunLock,
  type FailureRecord,
  type IndexScope,
  type RunCounters,
  type RunStatus,
  type RunTrigger,
} from "./run-store";

/**
 * The STAC indexer: searches the catalogue within an environment's scope, converts each item with
 * `stacToEo3` and writes the datasets in batches, one transaction each (docs/adr/0010-indexing.md).
 * Idempotent and resumable: a batch is committed before the run records the page after it, so a run
 * that stops anywhere is continued by the next run of the same scope, and pages seen twice change
 * nothing. A malformed item is recorded with its reason and skipped; only a catalogue that stays
 * unreachable, or the index database itself, ends a run early.
 */

export interface IndexerTuning {
  /**
   * Items asked for per STAC page (the server may cap it). Earth Search items are ~20 KB of JSON:
   * pages of a few hundred keep each response to a few MB (less garbage to collect per page) while
   * one page in flight still hides the API's latency.
   */
  pageSize: number;
  /** Items per index transaction: pages are gathered until at least this many. */
  batchSize: number;
  /** How the first search request is sent. */
  method: "GET" | "POST";
  /** STAC collection -> ODC product. */
  products: Readonly<Record<string, string>>;
}

export const defaultIndexerTuning: IndexerTuning = { pageSize: 250, batchSize: 1000, method: "GET", products: defaultProductMapping };

export interface IndexRunRequest {
  environment: string;
  scope: IndexScope;
  trigger: RunTrigger;
  /** Who started it: an e-mail for the console, `cli:<user>` for the command. */
  startedBy: string;
  /** Stop after this many pages; the run can be continued. */
  limitPages?: number;
  /** Start the search over even when an unfinished run of this scope could be continued. */
  restart?: boolean;
}

export interface IndexerDeps {
  index: IndexPort;
  catalog: CatalogPort;
  /** The environment's index database, for the run records (`piksel` schema). */
  db: pg.Pool;
  log: Logger;
}

export interface RunProgress extends RunCounters {
  runId: number;
  environment: string;
  /** Items of the whole search (numberMatched), when the catalogue says. */
  numberMatched: number | null;
  /** Items of this search that earlier, resumed runs went through. */
  itemsBefore: number;
  elapsedMs: number;
  itemsPerSecond: number;
  /** Seconds left at the current rate, when numberMatched is known. */
  etaSeconds: number | null;
}

export interface RunResult extends RunProgress {
  status: Exclude<RunStatus, "running" | "interrupted">;
  error: string | null;
  /** The search is unfinished (cancelled, failed or page-limited): a run of the same scope continues it. */
  resumable: boolean;
}

export interface ExecuteOptions {
  signal?: AbortSignal;
  onProgress?: (progress: RunProgress) => void;
}

/** A run that holds its environment's lock and has its record; `execute` does the work, once. */
export interface PreparedRun {
  runId: number;
  resumedFrom: number | null;
  execute(options?: ExecuteOptions): Promise<RunResult>;
}

/** The key of a search: a run continues only an unfinished run with the same one. */
export function scopeKey(catalog: string, scope: IndexScope, method: string): string {
  const canonical = JSON.stringify({ catalog, bbox: scope.bbox, datetime: scope.datetime, collections: [...scope.collections].sort(), method });
  return createHash("sha256").update(canonical).digest("hex");
}

/** Creates the agdc schema, the eo3 metadata type and the products the scope maps to, where missing. */
async function ensureIndex(index: IndexPort, collections: readonly string[], products: Readonly<Record<string, string>>, log: Logger): Promise<void> {
  const wanted = [...new Set(collections.map((c) => products[c]).filter((p): p is string => p !== undefined))];
  const init = await index.init();
  if (init.created) log.info("created the ODC index schema");
  const missing: string[] = [];
  for (const name of wanted) if (!(await index.getProduct(name))) missing.push(name);
  if (missing.length === 0) return;
  const defs = standardDefinitions();
  for (const mt of defs.metadataTypes) await index.addMetadataType(mt);
  for (const name of missing) {
    const def = defs.products.find((p) => (p as { name?: unknown }).name === name);
    // A product Piksel has no definition for cannot be created here; its items are recorded as rejected.
    if (def) await index.addProduct(def);
    log.info({ product: name }, def ? "added the product to the ODC index" : "no standard definition for this product");
  }
}

/** Archives that a run recorded as pending and did not get to (it stopped between the two writes). */
async function repairLeftoverArchives(deps: IndexerDeps, environment: string): Promise<void> {
  for (const { runId, pending } of await leftoverArchives(deps.db, environment)) {
    const ids = [...new Set(pending.flatMap((p) => [p.older, p.newer]))];
    const present = new Map((await deps.index.getDatasets(ids)).map((d) => [d.id, d]));
    const olders = pending.filter((p) => present.get(p.newer)?.archived === null && present.get(p.older)?.archived === null).map((p) => p.older);
    const archived = olders.length ? await deps.index.archiveDatasets(olders) : 0;
    await setPendingArchive(deps.db, runId, []);
    deps.log.info({ runId, archived }, "finished the archive step an earlier run left pending");
  }
}

const emptyCounters = (): RunCounters => ({ pages: 0, items: 0, added: 0, updated: 0, skipped: 0, archived: 0, failed: 0, retries: 0 });
const idOf = (item: unknown) => (item !== null && typeof item === "object" && typeof (item as { id?: unknown }).id === "string" ? ((item as { id: string }).id) : null);

// Candidates whose sensing times lie within this span are looked up together.
const CLUSTER_MS = 86_400_000;

/**
 * Takes the environment's run lock (CONFLICT when a run is in progress anywhere), prepares the index
 * and records the run. The caller must `execute` it: that releases the lock.
 */
export async function prepareIndexRun(deps: IndexerDeps, request: IndexRunRequest, tuning: IndexerTuning = defaultIndexerTuning): Promise<PreparedRun> {
  const { db, index, catalog, log } = deps;
  const env = request.environment;
  await requireRunTables(db, env);
  const lock = await tryRunLock(db, env);
  if (!lock) {
    const running = (await listRuns(db, env, 20)).find((r) => r.status === "running");
    throw new AppError(
      "CONFLICT",
      running
        ? `An indexing run is already in progress in ${env}: run ${running.id}, started by ${running.startedBy} (${running.trigger}) at ${running.startedAt.toISOString()}.`
        : `An indexing run is already in progress in ${env}.`,
      running ? { runId: running.id } : undefined,
    );
  }
  let runId: number;
  let startAt: StacPageRequest;
  let resumedFrom: number | null = null;
  let itemsBefore = 0;
  let numberMatched: number | null = null;
  try {
    const stale = await markInterrupted(db, env);
    if (stale) log.warn({ environment: env, runs: stale }, "marked runs whose process stopped as interrupted");
    await ensureIndex(index, request.scope.collections, tuning.products, log);
    await repairLeftoverArchives(deps, env);
    const key = scopeKey(catalog.endpoint, request.scope, tuning.method);
    const resume = request.restart ? undefined : await resumePoint(db, env, key);
    startAt = resume?.next ?? catalog.firstRequest({ ...request.scope, limit: tuning.pageSize, method: tuning.method });
    if (resume) {
      resumedFrom = resume.run.id;
      itemsBefore = resume.run.itemsBefore + resume.run.items;
      numberMatched = resume.run.numberMatched;
    }
    runId = await createRun(db, {
      environment: env,
      trigger: request.trigger,
      startedBy: request.startedBy,
      catalog: catalog.endpoint,
      scope: request.scope,
      scopeKey: key,
      limitPages: request.limitPages ?? null,
      resumedFrom,
      itemsBefore,
      numberMatched,
      nextRequest: startAt,
    });
  } catch (err) {
    await lock.release();
    throw err;
  }

  let started = false;
  return {
    runId,
    resumedFrom,
    async execute(options = {}) {
      if (started) throw new Error(`run ${runId} was already executed`);
      started = true;
      try {
        const result = await execute(deps, { runId, request, tuning, startAt, itemsBefore, numberMatched, resumed: resumedFrom !== null }, options);
        // Coverage summaries follow the index (docs/adr/0014-coverage-summaries.md); never fails the run.
        await refreshCoverageAfterRun(db, env, log);
        return result;
      } finally {
        await lock.release();
      }
    },
  };
}

/** prepare + execute: one run from start to end (the CLI, the CronJob, tests). */
export async function runIndexing(deps: IndexerDeps, request: IndexRunRequest, options: ExecuteOptions & { tuning?: Partial<IndexerTuning> } = {}): Promise<RunResult> {
  const prepared = await prepareIndexRun(deps, request, { ...defaultIndexerTuning, ...options.tuning });
  return prepared.execute(options);
}

/** A page once converted: the items themselves (tens of KB each) are not kept past conversion. */
interface ConvertedPage {
  items: number;
  candidates: Candidate[];
  failures: FailureRecord[];
}

async function execute(
  deps: IndexerDeps,
  run: { runId: number; request: IndexRunRequest; tuning: IndexerTuning; startAt: StacPageRequest; itemsBefore: number; numberMatched: number | null; resumed: boolean },
  options: ExecuteOptions,
): Promise<RunResult> {
  const { index, catalog, db } = deps;
  const { runId, request, tuning } = run;
  const log = deps.log.child({ component: "indexer", environment: request.environment, runId });
  const started = performance.now();
  const counters = emptyCounters();
  let numberMatched = run.numberMatched;
  let failureRows = 0;
  let buffer: ConvertedPage[] = [];
  let bufferedItems = 0;
  let committedNext: StacPageRequest | null = run.startAt;
  let pagesSeen = 0;
  // Ours, so that a cancel requested through the database stops the search like Ctrl-C does.
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) stop.abort(options.signal.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });

  const progress = (): RunProgress => {
    const elapsedMs = performance.now() - started;
    const rate = elapsedMs > 0 ? (counters.items / elapsedMs) * 1000 : 0;
    const remaining = numberMatched === null ? null : Math.max(0, numberMatched - run.itemsBefore - counters.items);
    return { runId, environment: request.environment, ...counters, numberMatched, itemsBefore: run.itemsBefore, elapsedMs, itemsPerSecond: rate, etaSeconds: remaining === null || rate <= 0 ? null : remaining / rate };
  };
  const emit = () => options.onProgress?.(progress());

  const convert = (page: StacPage): ConvertedPage => {
    const candidates: Candidate[] = [];
    const failures: FailureRecord[] = [];
    const count = page.items.length;
    for (let i = 0; i < count; i++) {
      const item = page.items[i];
      // Let each item (tens of KB of objects) go as soon as it is converted, not with the whole page.
      page.items[i] = null;
      try {
        const c = stacToEo3(item, { products: tuning.products });
        candidates.push({ itemId: c.itemId, datasetId: c.document.id, product: c.product, document: c.document, uri: c.uri, page: page.number, bounds: itemBounds(item) });
      } catch (err) {
        if (err instanceof StacConversionError) failures.push({ page: page.number, itemId: err.itemId, datasetId: null, problem: err.problem, reason: err.message });
        else failures.push({ page: page.number, itemId: idOf(item), datasetId: null, problem: "invalid-item", reason: `cannot be converted: ${(err as Error).message}` });
      }
    }
    return { items: count, candidates, failures };
  };

  /** The active datasets around new candidates (same product, time and place): their granules' other processings. */
  const activeAround = async (fresh: Candidate[]): Promise<StoredDataset[]> => {
    const out: StoredDataset[] = [];
    const byProduct = new Map<string, Candidate[]>();
    for (const c of fresh) byProduct.set(c.product, [...(byProduct.get(c.product) ?? []), c]);
    for (const [product, list] of byProduct) {
      const timed = list.map((c) => ({ c, t: Date.parse(String(c.document.properties.datetime)) })).filter((x) => !Number.isNaN(x.t)).sort((a, b) => a.t - b.t);
      for (let i = 0; i < timed.length; ) {
        let j = i;
        while (j + 1 < timed.length && timed[j + 1]!.t - timed[i]!.t <= CLUSTER_MS) j++;
        const cluster = timed.slice(i, j + 1);
        i = j + 1;
        const bounds = cluster.map((x) => x.c.bounds);
        const query = {
          time: [new Date(cluster[0]!.t).toISOString(), new Date(cluster[cluster.length - 1]!.t).toISOString()] as const,
          ...(bounds.every((b) => b !== null) && {
            lon: [Math.min(...bounds.map((b) => b!.west)), Math.max(...bounds.map((b) => b!.east))] as const,
            lat: [Math.min(...bounds.map((b) => b!.south)), Math.max(...bounds.map((b) => b!.north))] as const,
          }),
        };
        try {
          for (const d of await index.searchDatasets(product, query)) out.push({ id: d.id, product, archived: false, properties: d.metadata.properties });
        } catch (err) {
          // A product missing from the index: its datasets are rejected by the add below, with the reason.
          if (err instanceof AppError && err.code === "NOT_FOUND") continue;
          throw err;
        }
      }
    }
    return out;
  };

  /** Writes pages as one batch and records the page to continue from. Returns whether to stop. */
  const flush = async (pages: ConvertedPage[], next: StacPageRequest | null): Promise<boolean> => {
    const failures = pages.flatMap((p) => p.failures);
    const { kept, skipped: duplicates } = dedupe(pages.flatMap((p) => p.candidates));
    const skipped: Skip[] = [...duplicates];
    if (kept.length > 0) {
      const existing = new Map(
        (await index.getDatasets(kept.map((c) => c.datasetId))).map((d): [string, StoredDataset] => [d.id, { id: d.id, product: d.product, archived: d.archived !== null, properties: d.metadata.properties }]),
      );
      const { fresh, updates, skipped: known } = classifyExisting(kept, existing);
      skipped.push(...known);
      const plan = fresh.length > 0 ? planSupersession(fresh, await activeAround(fresh)) : { add: [], skipped: [], archive: [] };
      skipped.push(...plan.skipped);
      // Written first, so that a run stopping between the add and the archive is completed by the next one.
      if (plan.archive.length > 0) await setPendingArchive(db, runId, plan.archive);
      const toWrite = [...plan.add, ...updates];
      const result = toWrite.length > 0 ? await index.addDatasets(toWrite.map((c) => ({ document: c.document, uris: [c.uri], product: c.product })), { onExisting: "update" }) : { added: [], updated: [], unchanged: [], rejected: [] };
      const byId = new Map(toWrite.map((c) => [c.datasetId, c]));
      for (const r of result.rejected) {
        const c = r.id ? byId.get(r.id) : undefined;
        failures.push({ page: c?.page ?? null, itemId: c?.itemId ?? null, datasetId: r.id, problem: "rejected", reason: `rejected by the index: ${r.reason}` });
      }
      counters.added += result.added.length;
      counters.updated += result.updated.length;
      counters.skipped += result.unchanged.length;
      const added = new Set(result.added);
      const olders = [...new Set(plan.archive.filter((a) => added.has(a.newer)).map((a) => a.older))];
      if (olders.length > 0) counters.archived += await index.archiveDatasets(olders);
      if (plan.archive.length > 0) await setPendingArchive(db, runId, []);
    }
    counters.skipped += skipped.length;
    counters.failed += failures.length;
    failureRows += await recordFailures(db, runId, failures, failureRows);
    counters.pages += pages.length;
    counters.items += pages.reduce((n, p) => n + p.items, 0);
    committedNext = next;
    const { cancelRequested } = await recordProgress(db, runId, counters, { next, numberMatched });
    log.debug({ ...counters }, "batch committed");
    emit();
    return cancelRequested;
  };

  // One batch is written while the next pages arrive and are converted (the database and this
  // process work at the same time); writes stay one at a time and in order, so each batch's lookups
  // see every batch before it.
  let writing: Promise<void> | null = null;
  const write = async (next: StacPageRequest | null) => {
    const pages = buffer;
    buffer = [];
    bufferedItems = 0;
    if (writing) await writing;
    writing = flush(pages, next).then((cancel) => {
      if (cancel) stop.abort(new Error("cancelled"));
    });
    // Observed when the next write or the end awaits it.
    writing.catch(() => undefined);
  };
  const drain = async () => {
    if (writing) await writing;
  };

  let status: RunResult["status"] = "completed";
  let error: string | null = null;
  let lastNext: StacPageRequest | null = run.startAt;
  const query = { ...request.scope, limit: tuning.pageSize, method: tuning.method };
  log.info({ scope: request.scope, resumed: run.resumed, limitPages: request.limitPages ?? null }, "indexing run started");
  try {
    const pages = catalog.search(query, {
      signal: stop.signal,
      startAt: run.startAt,
      maxPages: request.limitPages,
      onRetry: (e) => {
        counters.retries++;
        log.warn({ url: e.url, attempt: e.attempt, reason: e.reason, delayMs: e.delayMs }, "retrying a STAC page");
        emit();
        void recordHeartbeat(db, runId, counters).then(
          (r) => r.cancelRequested && stop.abort(new Error("cancelled")),
          () => undefined,
        );
      },
    });
    for await (const page of pages) {
      pagesSeen++;
      if (page.numberMatched !== undefined) numberMatched = page.numberMatched;
      buffer.push(convert(page));
      bufferedItems += page.items.length;
      lastNext = page.next;
      if (bufferedItems >= tuning.batchSize || page.next === null) await write(page.next);
      if (stop.signal.aborted) break;
    }
    if (buffer.length > 0) await write(lastNext);
    await drain();
    // Stopped with pages left: cancelled. An abort after the last page changes nothing: completed.
    if (stop.signal.aborted && committedNext !== null) status = "cancelled";
  } catch (err) {
    try {
      // A failed write fails the run here. Pages already received are complete: commit them, so
      // that the resume point moves past them.
      await drain();
      if (buffer.length > 0) {
        await write(lastNext);
        await drain();
      }
      if (stop.signal.aborted && committedNext !== null) status = "cancelled";
      else if (stop.signal.aborted) status = "completed";
      else if (err instanceof CatalogError) {
        status = "failed";
        error = err.message;
        failureRows += await recordFailures(db, runId, [{ page: pagesSeen + 1, itemId: null, datasetId: null, problem: "page", reason: err.message }], failureRows);
      } else throw err;
    } catch (inner) {
      status = "failed";
      error = (inner as Error).message;
      log.error({ err: inner }, "indexing run failed");
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  try {
    await finishRun(db, runId, status, error);
  } catch (err) {
    // The next run of this environment marks it interrupted; the index itself is consistent.
    log.error({ err }, "could not record the end of the run");
  }
  const result: RunResult = { ...progress(), status, error, resumable: committedNext !== null };
  log.info(
    { status, error, ...counters, itemsBefore: run.itemsBefore, numberMatched, resumable: result.resumable, seconds: Math.round(result.elapsedMs / 100) / 10, itemsPerSecond: Math.round(result.itemsPerSecond) },
    "indexing run finished",
  );
  emit();
  return result;
}
