import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cellDatasets, compareCoverage, coverageCells, coverageHistogram, type CoverageDeps } from "~/features/coverage/server/coverage.service";
import { coverageState, refreshCoverage } from "~/features/coverage/server/summaries";
import { runIndexing, type IndexerDeps, type IndexRunRequest } from "~/features/indexing/server/indexer.service";
import { stacToEo3 } from "~/features/indexing/stac-to-eo3";
import { loadConfig } from "~/server/config";
import { createStacCatalog } from "~/server/drivers/catalog/stac";
import { createLogger } from "~/server/logger";
import { createIndexDatabase } from "../support/stac/index-db";
import { generateItems, makeItem, reprocessed, touched, type StacItem } from "../support/stac/items";
import { startStacTestServer, type StacTestServer } from "../support/stac/server";

const log = createLogger({ level: "silent" });
const scope: IndexRunRequest["scope"] = { bbox: [-20, 15, 10, 25], datetime: "2023-01-01T00:00:00Z/2025-12-31T23:59:59Z", collections: ["sentinel-2-l2a"] };
const request: IndexRunRequest = { environment: "dev", scope, trigger: "cli", startedBy: "cli:test" };
const datasetId = (item: StacItem) => stacToEo3(item).document.id;

let db: Awaited<ReturnType<typeof createIndexDatabase>>;
let other: Awaited<ReturnType<typeof createIndexDatabase>>;
let server: StacTestServer;
let deps: IndexerDeps;

/** Every summary row, in a fixed order, for comparing two ways of computing them. */
async function snapshot(pool: pg.Pool) {
  const q = async (sql: string) => (await pool.query(sql)).rows;
  return {
    datasets: await q("SELECT id::text, product_ref, cell, time, west, south, east, north FROM piksel.coverage_dataset ORDER BY id"),
    periods: await q("SELECT product_ref, level, period::text, cell, datasets, first_time, last_time, west, south, east, north FROM piksel.coverage_period ORDER BY product_ref, level, period, cell"),
    timeline: await q("SELECT product_ref, level, period::text, datasets FROM piksel.coverage_timeline ORDER BY product_ref, level, period"),
  };
}

// Two tile templates (31QGB around 5°E 19°N, 28QCH around 16.8°W 20°N), 10 tiles each, every 10 days from 2024-01-01.
const first = generateItems(200, { tiles: 10, everyDays: 10 });

beforeAll(async () => {
  db = await createIndexDatabase("coverage_refresh");
  other = await createIndexDatabase("coverage_other");
  server = await startStacTestServer({ items: first, maxLimit: 100 });
  deps = { index: db.index, catalog: createStacCatalog({ url: server.url, policy: { retries: 3, retryBaseMs: 5, timeoutMs: 5000 } }), db: db.pool, log };
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
  await other?.drop();
});

describe("coverage summaries follow the index", () => {
  it("the indexer's first run summarises what it wrote: counts per cell and period equal the index's", async () => {
    const result = await runIndexing(deps, request, { tuning: { pageSize: 100 } });
    expect(result).toMatchObject({ status: "completed", added: 200 });
    const state = await coverageState(db.pool);
    expect(state).toMatchObject({ lastMode: "rebuild", lastChanged: 200 });
    const { rows } = await db.pool.query("SELECT sum(datasets)::int AS n FROM piksel.coverage_period WHERE level = 'y'");
    expect(rows[0].n).toBe(200);
    // Per region code, the same counts as ODC's own search.
    const perRegion = await db.pool.query<{ cell: string; n: number }>("SELECT cell, sum(datasets)::int AS n FROM piksel.coverage_period WHERE level = 'm' GROUP BY cell ORDER BY cell");
    for (const { cell, n } of perRegion.rows.slice(0, 3)) expect(await db.index.countDatasets("s2_l2a", { fields: { region_code: cell } })).toBe(n);
  });

  it("after indexing more data (new, updated, superseded and moved datasets), the incremental refresh equals a full rebuild", async () => {
    // More acquisitions (2024-06 onwards), new tiles, an update, a reprocessing that archives its
    // predecessor, and an item whose sensing time was corrected into another month.
    const later = generateItems(300, { tiles: 15, everyDays: 3, start: new Date("2024-06-01T00:00:00Z") });
    const moved = { ...touched(first[5]!), properties: { ...touched(first[5]!).properties, datetime: "2024-09-15T10:25:34.000Z" } };
    const items = [...first.map((i, n) => (n === 5 ? moved : n === 7 ? touched(i) : i)), ...later, reprocessed(first[11]!, "05.11")];
    server.setItems(items);
    const result = await runIndexing(deps, request, { tuning: { pageSize: 100 } });
    expect(result).toMatchObject({ status: "completed", added: 301, updated: 2, archived: 1, failed: 0 });
    const state = await coverageState(db.pool);
    expect(state).toMatchObject({ lastMode: "incremental" });
    // Only what changed was read: the new, the two updated and the archived dataset.
    expect(state!.lastChanged).toBe(301 + 2 + 1);

    const incremental = await snapshot(db.pool);
    expect(incremental.datasets).toHaveLength(200 + 300);
    // The moved dataset counts in September now, not January.
    const movedRow = incremental.datasets.find((d) => d.id === datasetId(moved));
    expect((movedRow!.time as Date).toISOString()).toBe("2024-09-15T10:25:34.000Z");

    const rebuilt = await refreshCoverage(db.pool, { rebuild: true });
    expect(rebuilt).toMatchObject({ mode: "rebuild", changed: 500 });
    expect(await snapshot(db.pool)).toEqual(incremental);
  });

  it("a dataset archived outside the indexer leaves its cell at the next refresh, and a second refresh changes nothing", async () => {
    const gone = datasetId(first[0]!);
    expect(await db.index.archiveDatasets([gone])).toBe(1);
    const r = await refreshCoverage(db.pool);
    expect(r).toMatchObject({ mode: "incremental", changed: 1 });
    const after = await snapshot(db.pool);
    expect(after.datasets.find((d) => d.id === gone)).toBeUndefined();
    expect(await refreshCoverage(db.pool)).toMatchObject({ mode: "incremental", changed: 0, periods: 0 });
    expect(await snapshot(db.pool)).toEqual(after);
    await refreshCoverage(db.pool, { rebuild: true });
    expect(await snapshot(db.pool)).toEqual(after);
  });
});

describe("the coverage API over the summaries", () => {
  // The embedded default's environments, with the test catalogue's area as their scope.
  const embedded = loadConfig({ PIKSEL_DATA_DIR: "/tmp/piksel-coverage-test" });
  const config = { ...embedded, environments: embedded.environments.map((e) => ({ ...e, scope: { ...e.scope, bbox: scope.bbox } })) };
  const api = (): CoverageDeps => ({ config, log, indexDb: (env) => (env === "dev" ? db.pool : other.pool) });

  it("cells for a view and a period sum to the datasets there; a period is answered from years, months and days alike", async () => {
    const all = await coverageCells(api(), { environment: "dev", product: "s2_l2a" });
    expect(all.total).toBe(499);
    // West Africa only (the 28QCH template), in a range that cuts months and a year boundary.
    const view: [number, number, number, number] = [-20, 15, -10, 25];
    const period = { from: "2024-01-15", to: "2024-07-04" };
    const cells = await coverageCells(api(), { environment: "dev", product: "s2_l2a", bbox: view, period });
    const { rows } = await db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM piksel.coverage_dataset WHERE east >= -20 AND west <= -10 AND time >= '2024-01-15' AND time < '2024-07-05'",
    );
    expect(cells.total).toBe(rows[0]!.n);
    expect(cells.cells.every((c) => c.cell.startsWith("28Q"))).toBe(true);
    expect(cells.maxCount).toBe(Math.max(...cells.cells.map((c) => c.datasets)));
  });

  it("an empty view says why: outside the scope, or no acquisitions in the period", async () => {
    const outside = await coverageCells(api(), { environment: "dev", product: "s2_l2a", bbox: [0, -50, 1, -49] });
    expect(outside.empty?.reason).toBe("outside-scope");
    const dry = await coverageCells(api(), { environment: "dev", product: "s2_l2a", bbox: [-20, 15, 10, 25], period: { from: "2023-03-01", to: "2023-03-31" } });
    expect(dry.empty).toMatchObject({ reason: "no-acquisitions" });
    expect(dry.empty!.message).toContain("499 datasets at other times");
  });

  it("the histogram by month sums to the total; by year too", async () => {
    const months = await coverageHistogram(api(), { environment: "dev", product: "s2_l2a", level: "m" });
    expect(months.buckets.reduce((n, b) => n + b.datasets, 0)).toBe(499);
    expect(months.buckets[0]!.period).toBe("2024-01-01");
    const years = await coverageHistogram(api(), { environment: "dev", product: "s2_l2a", level: "y" });
    expect(years.buckets).toEqual([{ period: "2024-01-01", datasets: 499 }]);
  });

  it("a cell lists its datasets newest first with links to the EO3 document, the STAC item and the COGs", async () => {
    const { cells } = await coverageCells(api(), { environment: "dev", product: "s2_l2a" });
    const cell = cells[0]!;
    const listed = await cellDatasets(api(), { environment: "dev", product: "s2_l2a", cell: cell.cell, limit: 5 }, { eo3Url: (env, id) => `/explorer/${env}/dataset/${id}.odc-metadata.yaml` });
    expect(listed.total).toBe(cell.datasets);
    expect(listed.datasets).toHaveLength(5);
    const times = listed.datasets.map((d) => d.time.getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const d = listed.datasets[0]!;
    expect(d.stacItemUrl).toMatch(/^https:\/\/sentinel-cogs\.s3\.amazonaws\.com\/.*\.json$/);
    expect(d.cogs.find((c) => c.band === "red")?.href).toMatch(/^https:\/\/.*B04\.tif$/);
    expect(typeof d.cloudCover).toBe("number");
    expect(d.eo3Url).toBe(`/explorer/dev/dataset/${d.id}.odc-metadata.yaml`);
  });

  it("compares two environments: cells only one of them has", async () => {
    // The other index holds only west Africa, and one tile more than dev has.
    const westAfrica = first.filter((i) => i.id.includes("_28Q")).slice(0, 40);
    const extra = makeItem({ template: 1, tile: 42, datetime: new Date("2024-02-01T11:55:52Z") });
    const otherServer = await startStacTestServer({ items: [...westAfrica, extra], maxLimit: 100 });
    try {
      await runIndexing({ ...deps, index: other.index, db: other.pool, catalog: createStacCatalog({ url: otherServer.url }) }, { ...request, environment: "staging" });
    } finally {
      await otherServer.close();
    }
    const diff = await compareCoverage(api(), { environment: "dev", other: "staging", product: "s2_l2a" });
    expect(diff.cells.filter((c) => c.presence === "only-other").map((c) => c.cell)).toEqual([stacToEo3(extra).document.properties["odc:region_code"]]);
    expect(diff.cells.filter((c) => c.presence === "only-first").every((c) => c.cell.startsWith("31Q") || !westAfrica.some((i) => i.id.includes(c.cell)))).toBe(true);
    expect(diff.totals.both).toBeGreaterThan(0);
    expect(diff.totals.onlyFirst).toBeGreaterThan(0);
  });
});
