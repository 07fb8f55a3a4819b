import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runIndexing, type IndexerDeps, type IndexRunRequest, type RunProgress } from "~/features/indexing/server/indexer.service";
import { getRun, listFailures, listRuns } from "~/features/indexing/server/run-store";
import { stacToEo3 } from "~/features/indexing/stac-to-eo3";
import { createStacCatalog } from "~/server/drivers/catalog/stac";
import { createLogger } from "~/server/logger";
import { createIndexDatabase } from "../support/stac/index-db";
import { broken, generateItems, reprocessed, touched, type StacItem } from "../support/stac/items";
import { startStacTestServer, type StacTestServer } from "../support/stac/server";

const log = createLogger({ level: "silent" });
// The whole catalogue of the test server: 31QGB-like tiles around 5°E 19°N, 28QCH-like around 16.8°W 20°N.
const world: IndexRunRequest["scope"] = { bbox: [-20, 15, 10, 25], datetime: "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z", collections: ["sentinel-2-l2a"] };
const request = (scope = world, extra: Partial<IndexRunRequest> = {}): IndexRunRequest => ({ environment: "dev", scope, trigger: "cli", startedBy: "cli:test", ...extra });
const fast = { retries: 3, retryBaseMs: 5, timeoutMs: 5000 };
const datasetId = (item: StacItem) => stacToEo3(item).document.id;

let db: Awaited<ReturnType<typeof createIndexDatabase>>;
let server: StacTestServer;
let deps: IndexerDeps;

async function freshIndex(prefix: string, items: StacItem[], opts: Parameters<typeof startStacTestServer>[0] extends infer O ? Partial<O> : never = {}) {
  await server?.close();
  await db?.drop();
  db = await createIndexDatabase(prefix);
  server = await startStacTestServer({ items, maxLimit: 100, ...opts });
  deps = { index: db.index, catalog: createStacCatalog({ url: server.url, policy: fast }), db: db.pool, log };
}

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

describe("indexing the STAC test server", () => {
  const items = generateItems(240, { tiles: 10, everyDays: 10 });
  beforeAll(() => freshIndex("indexing_run", items));

  it("indexes every item of the scope in batches and finds the right datasets by bbox and time", async () => {
    const progress: RunProgress[] = [];
    const result = await runIndexing(deps, request(), { tuning: { pageSize: 50, batchSize: 100 }, onProgress: (p) => progress.push(p) });
    expect(result).toMatchObject({ status: "completed", error: null, resumable: false, items: 240, added: 240, updated: 0, skipped: 0, failed: 0, pages: 5, numberMatched: 240 });
    // Progress is reported per committed batch: 100, 200, then the last 40.
    expect(progress.map((p) => p.items).slice(0, 3)).toEqual([100, 200, 240]);
    expect((await db.index.productCounts()).find((p) => p.product === "s2_l2a")?.datasets).toBe(240);

    // Tile 3 of the 28QCH template (west Africa) in the third acquisition (2024-01-21).
    const target = items.find((i) => i.properties["mgrs:grid_square"] === "DA" && i.id.startsWith("S2A_28Q") && i.properties.datetime.startsWith("2024-01-21"))!;
    const [w, s, e, n] = target.bbox as number[];
    const centre = [(w! + e!) / 2, (s! + n!) / 2];
    const found = await db.index.searchDatasets("s2_l2a", { lon: [centre[0]!, centre[0]!], lat: [centre[1]!, centre[1]!], time: ["2024-01-21T00:00:00Z", "2024-01-21T23:59:59Z"] });
    expect(found.map((d) => d.id)).toEqual([datasetId(target)]);
    expect(found[0]!.uris).toEqual([target.links.find((l: { rel: string }) => l.rel === "canonical").href]);
    expect(found[0]!.fields.region_code).toBe("28QDA");

    const run = (await listRuns(db.pool, "dev", 1))[0]!;
    expect(run).toMatchObject({ status: "completed", items: 240, added: 240, pages: 5, resumable: false, trigger: "cli", startedBy: "cli:test" });
  });

  it("adds nothing when run again: unchanged datasets are skipped without a write", async () => {
    const before = await db.pool.query("SELECT max(updated) AS u, count(*) AS n FROM agdc.dataset");
    const result = await runIndexing(deps, request(), { tuning: { pageSize: 100, batchSize: 100 } });
    expect(result).toMatchObject({ status: "completed", items: 240, added: 0, updated: 0, archived: 0, skipped: 240, failed: 0 });
    const after = await db.pool.query("SELECT max(updated) AS u, count(*) AS n FROM agdc.dataset");
    expect(after.rows[0]).toEqual(before.rows[0]);
  });

  it("updates a dataset when its item is newer, and only then", async () => {
    const changed = touched(items[7]!, { "eo:cloud_cover": 77.5 });
    const stale = { ...structuredClone(items[8]!), properties: { ...items[8]!.properties, "eo:cloud_cover": 1 } };
    server.setItems(items.map((i, n) => (n === 7 ? changed : n === 8 ? stale : i)));
    const result = await runIndexing(deps, request(), { tuning: { pageSize: 100 } });
    expect(result).toMatchObject({ status: "completed", added: 0, updated: 1, skipped: 239 });
    const [d7, d8] = await db.index.getDatasets([datasetId(changed), datasetId(stale)]).then((ds) => [datasetId(changed), datasetId(stale)].map((id) => ds.find((d) => d.id === id)!));
    expect(d7!.metadata.properties["eo:cloud_cover"]).toBe(77.5);
    // Same `updated` as indexed: not newer, so the index keeps what it has.
    expect(d8!.metadata.properties["eo:cloud_cover"]).toBe(items[8]!.properties["eo:cloud_cover"]);
    server.setItems(items);
  });

  it("archives the superseded dataset when a newer processing of the granule arrives", async () => {
    const old = items[11]!;
    const newer = reprocessed(old, "05.11");
    server.setItems([...items, newer]);
    const result = await runIndexing(deps, request(), { tuning: { pageSize: 100 } });
    expect(result).toMatchObject({ status: "completed", added: 1, archived: 1, failed: 0 });
    const [o, n] = await Promise.all([db.index.getDatasets([datasetId(old)]), db.index.getDatasets([datasetId(newer)])]);
    expect(o[0]!.archived).not.toBeNull();
    expect(n[0]!.archived).toBeNull();
    // A search for the granule finds only the newer processing.
    const found = await db.index.searchDatasets("s2_l2a", { time: [old.properties.datetime, old.properties.datetime], fields: { region_code: n[0]!.fields.region_code as string } });
    expect(found.map((d) => d.id)).toEqual([datasetId(newer)]);

    // Run again: the archived one stays archived, nothing changes.
    expect(await runIndexing(deps, request(), { tuning: { pageSize: 100 } })).toMatchObject({ added: 0, updated: 0, archived: 0 });
    expect((await db.index.getDatasets([datasetId(old)]))[0]!.archived).not.toBeNull();
  });

  it("does not index an older processing when a newer one of its granule is active", async () => {
    const base = items[21]!;
    const newest = reprocessed(base, "05.11");
    const older = reprocessed(base, "04.00", 2);
    server.setItems([...items, reprocessed(items[11]!, "05.11"), newest]);
    expect(await runIndexing(deps, request(), { tuning: { pageSize: 100 } })).toMatchObject({ added: 1, archived: 1 });
    server.setItems([...items, reprocessed(items[11]!, "05.11"), newest, older]);
    const result = await runIndexing(deps, request(), { tuning: { pageSize: 100 } });
    expect(result).toMatchObject({ status: "completed", added: 0, archived: 0, failed: 0 });
    expect(await db.index.getDatasets([datasetId(older)])).toEqual([]);
    server.setItems(items);
  });

  it("indexes only the scope: a smaller bbox and time range index a subset", async () => {
    const scoped = await createIndexDatabase("indexing_scope");
    try {
      const scope = { bbox: [4, 18, 6, 21] as [number, number, number, number], datetime: "2024-01-01T00:00:00Z/2024-01-31T23:59:59Z", collections: ["sentinel-2-l2a"] };
      const result = await runIndexing({ ...deps, index: scoped.index, db: scoped.pool }, request(scope), { tuning: { pageSize: 100 } });
      const expected = items.filter((i) => i.id.includes("_31Q") && i.properties.datetime < "2024-02-01").length;
      expect(expected).toBeGreaterThan(0);
      expect(result).toMatchObject({ status: "completed", added: expected, items: expected });
    } finally {
      await scoped.drop();
    }
  });
});

describe("bad STAC input is recorded and skipped", () => {
  it("records items without geometry, assets or proj fields, of unknown collections and broken JSON, and completes", async () => {
    const good = generateItems(60, { tiles: 5 });
    const bad: unknown[] = [broken.withoutGeometry(good[1]!), broken.withoutAssets(good[2]!), broken.withoutProj(good[3]!), broken.unknownCollection(good[4]!)];
    const served = [...good.slice(5), ...(bad as StacItem[])];
    // And a feature that arrived as a string of cut-off JSON (a double-encoding server).
    await freshIndex("indexing_bad", served, { rawFeatures: [JSON.stringify('{"type":"Feature","id":"S2B_BROKEN')] });
    // A scope that names a collection no ODC product is configured for.
    const result = await runIndexing(deps, request({ ...world, collections: ["sentinel-2-l2a", "landsat-c2-l2"] }), { tuning: { pageSize: 20 } });
    expect(result).toMatchObject({ status: "completed", added: 55, failed: 5 });
    const run = (await listRuns(db.pool, "dev", 1))[0]!;
    const failures = await listFailures(db.pool, run.id, { limit: 100 });
    expect(failures.map((f) => [f.itemId, f.problem]).sort()).toEqual(
      [
        [good[1]!.id, "missing-geometry"],
        [good[2]!.id, "no-assets"],
        [good[3]!.id, "missing-proj"],
        [good[4]!.id, "unknown-collection"],
        [null, "invalid-item"],
      ].sort(),
    );
    expect(failures.find((f) => f.problem === "missing-proj")!.reason).toMatch(/proj:epsg/);
  });
});

describe("failures of the catalogue, aborts and resumption", () => {
  const items = generateItems(300, { tiles: 10 });
  afterEach(() => server.setFault(undefined));

  it("completes against a server that fails every third page, retrying those pages", async () => {
    await freshIndex("indexing_flaky", items);
    server.setFault(({ pageNo, attempt }) => (pageNo % 3 === 0 && attempt === 1 ? (pageNo % 2 ? { status: 503 } : { brokenJson: true }) : undefined));
    const result = await runIndexing(deps, request(), { tuning: { pageSize: 25, batchSize: 50 } });
    expect(result).toMatchObject({ status: "completed", added: 300, failed: 0, pages: 12, retries: 4 });
    expect((await listRuns(db.pool, "dev", 1))[0]).toMatchObject({ retries: 4, status: "completed" });
  });

  it("ends the run as failed when a page keeps failing, naming the URL, and the next run continues from that page", async () => {
    await freshIndex("indexing_failing_page", items);
    server.setFault(({ pageNo }) => (pageNo === 4 ? { status: 502 } : undefined));
    const first = await runIndexing(deps, request(), { tuning: { pageSize: 25, batchSize: 25 } });
    expect(first).toMatchObject({ status: "failed", added: 75, resumable: true });
    expect(first.error).toMatch(/^STAC API GET http:\/\/127\.0\.0\.1:\d+\/v1\/search\?.*token=next%3A75.*: answered 502 Bad Gateway \(4 attempts\)$/);
    const run = (await listRuns(db.pool, "dev", 1))[0]!;
    expect(await listFailures(db.pool, run.id, { limit: 10 })).toMatchObject([{ problem: "page", page: 4, reason: first.error }]);

    server.setFault(undefined);
    const before = server.requests.length;
    const second = await runIndexing(deps, request(), { tuning: { pageSize: 25, batchSize: 25 } });
    expect(second).toMatchObject({ status: "completed", added: 225, skipped: 0, itemsBefore: 75, resumable: false });
    expect(server.requests[before]!.url).toContain("token=next%3A75");
    expect((await listRuns(db.pool, "dev", 1))[0]).toMatchObject({ resumedFrom: run.id });
    expect((await db.index.productCounts())[0]!.datasets).toBe(300);
  });

  it("stops cleanly on abort with a consistent index, and the next run resumes where it stopped", async () => {
    await freshIndex("indexing_abort", items);
    const controller = new AbortController();
    const first = await runIndexing(deps, request(), {
      tuning: { pageSize: 20, batchSize: 40 },
      signal: controller.signal,
      // Ctrl-C after the second batch is committed.
      onProgress: (p) => p.items >= 80 && controller.abort(),
    });
    expect(first).toMatchObject({ status: "cancelled", resumable: true });
    // Whole batches only: what the run counted is exactly what the index holds.
    const indexed = (await db.index.productCounts())[0]!.datasets;
    expect(indexed).toBe(first.added);
    expect(indexed % 20).toBe(0);
    const stopped = (await listRuns(db.pool, "dev", 1))[0]!;
    expect(stopped).toMatchObject({ status: "cancelled", items: first.items, resumable: true });

    const second = await runIndexing(deps, request(), { tuning: { pageSize: 20, batchSize: 40 } });
    expect(second).toMatchObject({ status: "completed", added: 300 - indexed, skipped: 0, failed: 0, itemsBefore: first.items });
    expect((await db.index.productCounts())[0]!.datasets).toBe(300);
    // A third run starts the search over (the last one finished it) and changes nothing.
    expect(await runIndexing(deps, request(), { tuning: { pageSize: 100 } })).toMatchObject({ status: "completed", itemsBefore: 0, items: 300, added: 0, skipped: 300 });
  });

  it("continues a page-limited run with the next run of the same scope, and restarts on request", async () => {
    await freshIndex("indexing_limit", items);
    const opts = { tuning: { pageSize: 50, batchSize: 50 } };
    expect(await runIndexing(deps, request(world, { limitPages: 2 }), opts)).toMatchObject({ status: "completed", items: 100, resumable: true });
    expect(await runIndexing(deps, request(world, { limitPages: 2 }), opts)).toMatchObject({ status: "completed", items: 100, itemsBefore: 100, added: 100, resumable: true });
    expect(await runIndexing(deps, request(world, { restart: true, limitPages: 1 }), opts)).toMatchObject({ items: 50, itemsBefore: 0, skipped: 50 });
    // Another scope does not pick up this scope's resume point.
    const other = { ...world, datetime: "2024-01-01T00:00:00Z/2024-06-30T23:59:59Z" };
    expect(await runIndexing(deps, request(other), opts)).toMatchObject({ status: "completed", itemsBefore: 0 });
  });

  it("pages with POST next links (body merged) the same way", async () => {
    await freshIndex("indexing_post", items);
    const result = await runIndexing(deps, request(), { tuning: { pageSize: 40, method: "POST" } });
    expect(result).toMatchObject({ status: "completed", added: 300, pages: 8 });
    const posts = server.requests.filter((r) => r.method === "POST");
    expect(posts).toHaveLength(8);
    expect(posts[1]!.body).toMatchObject({ collections: ["sentinel-2-l2a"], bbox: world.bbox, datetime: world.datetime, limit: 40, token: "next:40" });
  });

  it("refuses a second run of the same environment while one is in progress (CONFLICT)", async () => {
    await freshIndex("indexing_conflict", items);
    server.setFault(({ pageNo, attempt }) => (pageNo === 2 && attempt === 1 ? { status: 429, retryAfter: "1" } : undefined));
    const first = runIndexing(deps, request(), { tuning: { pageSize: 100 } });
    await expect.poll(() => server.requests.length).toBeGreaterThanOrEqual(2);
    await expect(runIndexing(deps, request(), { tuning: { pageSize: 100 } })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/already in progress in dev: run \d+, started by cli:test/) });
    expect(await first).toMatchObject({ status: "completed", added: 300, retries: 1 });
  });

  it("stops when the run is cancelled through its record (from another process)", async () => {
    await freshIndex("indexing_cancel_flag", items);
    const result = await runIndexing(deps, request(), {
      tuning: { pageSize: 25, batchSize: 25 },
      onProgress: (p) => {
        if (p.pages === 2) void db.pool.query("UPDATE piksel.index_run SET cancel_requested = true WHERE id = $1", [p.runId]);
      },
    });
    expect(result.status).toBe("cancelled");
    expect(result.items).toBeLessThan(300);
    expect((await getRun(db.pool, result.runId))!.status).toBe("cancelled");
  });

  it("finishes the archive step a run left pending (it stopped between the add and the archive)", async () => {
    await freshIndex("indexing_pending_archive", items.slice(0, 20));
    await runIndexing(deps, request(), { tuning: { pageSize: 100 } });
    const older = datasetId(items[3]!);
    const newer = reprocessed(items[3]!, "05.11");
    await db.index.addDatasets([{ document: stacToEo3(newer).document, uris: [stacToEo3(newer).uri] }]);
    const last = (await listRuns(db.pool, "dev", 1))[0]!;
    await db.pool.query("UPDATE piksel.index_run SET pending_archive = $2 WHERE id = $1", [last.id, JSON.stringify([{ older, newer: datasetId(newer) }])]);
    await runIndexing(deps, request(), { tuning: { pageSize: 100 } });
    expect((await db.index.getDatasets([older]))[0]!.archived).not.toBeNull();
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM piksel.index_run WHERE pending_archive <> '[]'::jsonb");
    expect(rows[0].n).toBe(0);
  });
});

describe("run records", () => {
  it("needs index migration 0001 in the environment's index (PRECONDITION_FAILED otherwise)", async () => {
    const bare = await createIndexDatabase("indexing_bare", { migrate: false });
    try {
      await expect(runIndexing({ ...deps, index: bare.index, db: bare.pool }, request())).rejects.toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringContaining("0001_index_runs") });
    } finally {
      await bare.drop();
    }
  });

  it("marks a run whose process died as interrupted and resumes it", async () => {
    await freshIndex("indexing_interrupted", generateItems(60, { tiles: 5 }));
    // A run row left `running` by a process that was killed (its lock died with its connection).
    const next = deps.catalog.firstRequest({ ...world, limit: 30, method: "GET" });
    const { scopeKey } = await import("~/features/indexing/server/indexer.service");
    await db.pool.query(
      `INSERT INTO piksel.index_run (environment, status, trigger, started_by, catalog, scope, scope_key, next_request) VALUES ('dev', 'running', 'schedule', 'cronjob', $1, $2, $3, $4)`,
      [deps.catalog.endpoint, JSON.stringify(world), scopeKey(deps.catalog.endpoint, world, "GET"), JSON.stringify(next)],
    );
    const result = await runIndexing(deps, request(), { tuning: { pageSize: 30 } });
    expect(result).toMatchObject({ status: "completed", added: 60 });
    const runs = await listRuns(db.pool, "dev", 2);
    expect(runs[1]).toMatchObject({ status: "interrupted", error: expect.stringContaining("stopped") });
    expect(runs[0]!.resumedFrom).toBe(runs[1]!.id);
  });
});

// The pool is only used through the helpers; keep the import meaningful for readers of failures.
void pg;
