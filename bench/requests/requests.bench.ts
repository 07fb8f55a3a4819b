/**
 * Product requests at 1 000 tiles. Run from the repository root:
 *
 *   node bench/lib/run-ts.mjs bench/requests/requests.bench.ts [--tiles 1000] [--datasets 500000] [--runs 20] [--skip-page]
 *
 * 1. Planning: an index of `--datasets` Sentinel-2 datasets (server-side INSERT ... SELECT from one
 *    real Earth Search item: one-degree granules over western Indonesia, one acquisition per granule
 *    every ~34 hours over five years, the product's dynamic indexes built as `datacube product add`
 *    does), then p50/p95 of `planRequest` for a square AOI meeting about `--tiles` tiles of the
 *    embedded grid (global_10:480) for 2023 (target: under 2 s), as an admin (no size limit).
 * 2. The request page's data: p50/p95 of `requests.get` (tRPC caller + superjson, what the page polls
 *    every 1.5 s) for a request of that many tasks in mixed states.
 * 3. The request page in Chromium (needs `npm run build`): the built console started as `piksel start`
 *    does, the same request stored in its app database, the page opened as the requester: time until
 *    the map and the tile table are shown, main-thread long tasks (> 50 ms) over 15 s of live polling,
 *    and the time to expand the table to all tiles and to open a tile's logs.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import superjson from "superjson";
import { createLocalUser } from "~/features/auth/server/demo-users";
import { planRequest } from "~/features/requests/server/plan.service";
import type { PlannedTile } from "~/features/requests/requests.schema";
import { loadConfig } from "~/server/config";
import { createDb, type Db } from "~/server/db";
import { deployMigrations } from "~/server/db/migrate";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import { startEmbeddedPostgres } from "~/server/embedded/postgres";
import { createLogger } from "~/server/logger";
import { standardDefinitions } from "~/server/odc/standard-definitions";
import type { EnvironmentPorts } from "~/server/ports";
import { createCaller } from "~/server/trpc/root";
import { freePort } from "../../tests/support/net";
import { fillGranules, s2Product, s2Template, withoutDynamicIndexes } from "../lib/odc-fill";

const REPO = process.cwd();
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(0)} ms, p95 ${pct(xs, 95).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
const TILE_STATES = ["succeeded", "succeeded", "succeeded", "running", "running", "pending", "failed", "retrying"] as const;

/** A request of `tiles` tasks in mixed states, as the request engine leaves them mid-run. */
async function storeRequest(db: Db, userId: string, tiles: PlannedTile[], aoi: unknown): Promise<string> {
  const id = `bench${randomUUID().replace(/-/g, "").slice(0, 10)}`;
  await db.request.create({
    data: {
      id,
      environment: "staging",
      product: "gm_s2_annual",
      period: "2023--P1Y",
      grid: "global_10:480",
      aoi: aoi as object,
      areaKm2: tiles.length * 23,
      title: `Bench: ${tiles.length} tiles`,
      // Submitting with the next attempt far away: the page keeps polling and the engine leaves it alone.
      state: "submitting",
      nextAttemptAt: new Date(Date.now() + 86_400_000),
      image: `registry.local/piksel-core:v1.8.0@sha256:${"ab".repeat(32)}`,
      digest: `sha256:${"ab".repeat(32)}`,
      tag: "v1.8.0",
      requestedById: userId,
    },
  });
  await db.requestTask.createMany({
    data: tiles.map((t, index) => {
      const state = TILE_STATES[index % TILE_STATES.length]!;
      return {
        requestId: id,
        index,
        taskId: t.taskId,
        x: t.x,
        y: t.y,
        bounds: t.bounds,
        scenes: t.scenes,
        state,
        attempts: state === "pending" ? 0 : state === "failed" ? 3 : 1,
        failures: state === "failed" ? 3 : state === "retrying" ? 1 : 0,
        progress: state === "running" ? (index % 100) / 100 : state === "succeeded" ? 1 : 0,
        stage: state === "running" ? "reduce" : null,
        reason: state === "failed" ? "exit code 1 (3 attempts)" : null,
        lastLog: state === "failed" ? "reading B04: HTTP 503\nworker failed" : null,
      };
    }),
  });
  return id;
}

async function fillIndex(url: string, datasets: number) {
  const index = createPostgresIndex(url, { maxConnections: 2 });
  const db = new pg.Pool({ connectionString: url, max: 2 });
  try {
    await index.init();
    const defs = standardDefinitions();
    for (const mt of defs.metadataTypes) await index.addMetadataType(mt);
    await index.addProduct(defs.products.find((p) => (p as { name?: string }).name === "s2_l2a"));
    const { product, metadataType } = await s2Product(db);
    const template = s2Template(REPO);
    // 12 x 8 one-degree granules over 100..112 E, 10..2 S.
    await withoutDynamicIndexes(db, () => fillGranules(db, { template, product, metadataType, grid: { west: 100, south: -10, columns: 12, rows: 8 }, start: 0, count: datasets }));
  } finally {
    await db.end();
  }
  return index;
}

async function pageBench(opts: { tiles: PlannedTile[]; aoi: unknown; log: ReturnType<typeof createLogger> }) {
  const cli = path.join(REPO, "dist/cli/piksel.mjs");
  if (!fs.existsSync(cli) || !fs.existsSync(path.join(REPO, ".next/standalone"))) {
    console.log("   skipped: the console is not built (npm run build)");
    return;
  }
  const { chromium } = await import("@playwright/test");
  const dataDir = fs.mkdtempSync(path.join(tmpdir(), "piksel-bench-page-"));
  fs.chmodSync(dataDir, 0o755);
  const [port, pgPort, catalogPort] = [await freePort(), await freePort(), await freePort()];
  const env = { ...process.env, PORT: String(port), PIKSEL_DATA_DIR: dataDir, PIKSEL_PUBLIC_URL: `http://localhost:${port}`, PIKSEL_EMBEDDED_PG_PORT: String(pgPort), PIKSEL_EMBEDDED_CATALOG_PORT: String(catalogPort), PIKSEL_LOG_JSON: "1" };
  const child = spawn(process.execPath, [cli, "start"], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout!.on("data", (b: Buffer) => (output += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (output += b.toString()));
  const browser = await chromium.launch({
    executablePath: ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p)),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader"],
  });
  try {
    for (const deadline = Date.now() + 180_000; !/Piksel Console is ready/.test(output); ) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the console did not start:\n${output.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const db = createDb(`postgres://postgres:postgres@127.0.0.1:${pgPort}/piksel`);
    const user = await db.user.findUniqueOrThrow({ where: { email: "requester@piksel.local" } });
    const id = await storeRequest(db, user.id, opts.tiles, opts.aoi);
    await db.$disconnect();

    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const base = `http://localhost:${port}`;
    await page.goto(`${base}/sign-in`);
    await page.getByLabel("E-mail").fill("requester@piksel.local");
    await page.getByLabel("Password").fill("piksel-demo");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(/environments/);
    await page.addInitScript(() => {
      const w = window as unknown as { longTasks: number[] };
      w.longTasks = [];
      new PerformanceObserver((list) => list.getEntries().forEach((e) => w.longTasks.push(e.duration))).observe({ type: "longtask", buffered: true });
    });
    const t0 = performance.now();
    await page.goto(`${base}/requests/${id}`);
    await page.getByRole("table", { name: "Tiles" }).getByRole("row").nth(100).waitFor();
    const tableMs = performance.now() - t0;
    await page.locator('[data-testid="map-view"][data-state="ready"]').waitFor();
    const mapMs = performance.now() - t0;
    await page.evaluate(() => ((window as unknown as { longTasks: number[] }).longTasks.length = 0));
    // The measurement window itself (ten polls of the live page), not a wait for something to happen.
    await page.waitForTimeout(15_000);
    const long = await page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks);
    let t = performance.now();
    await page.getByRole("button", { name: `Show all ${opts.tiles.length} tiles` }).click();
    await page.getByRole("table", { name: "Tiles" }).getByRole("row").nth(opts.tiles.length).waitFor();
    const expandMs = performance.now() - t;
    t = performance.now();
    await page.getByRole("table", { name: "Tiles" }).getByRole("button", { name: "Logs" }).first().click();
    await page.getByLabel("Log lines").getByText("worker failed").waitFor();
    const logsMs = performance.now() - t;
    console.log(`   table of the first 100 tiles shown after ${tableMs.toFixed(0)} ms, map ready after ${mapMs.toFixed(0)} ms`);
    console.log(`   15 s of live polling (every 1.5 s): ${long.length} long tasks, longest ${long.length ? Math.max(...long).toFixed(0) : 0} ms, ${long.reduce((a, b) => a + b, 0).toFixed(0)} ms blocked in all`);
    console.log(`   show all ${opts.tiles.length} rows: ${expandMs.toFixed(0)} ms; open a failed tile's logs: ${logsMs.toFixed(0)} ms`);
  } finally {
    await browser.close();
    try {
      process.kill(-child.pid!, "SIGINT");
    } catch {
      // already gone
    }
    await new Promise((r) => child.once("exit", r));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function main(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { tiles: { type: "string", default: "1000" }, datasets: { type: "string", default: "500000" }, runs: { type: "string", default: "20" }, "skip-page": { type: "boolean", default: false } } });
  const wanted = Number(values.tiles);
  const runs = Number(values.runs);
  const log = createLogger({ level: "warn" });
  const dataDir = fs.mkdtempSync(path.join(tmpdir(), "piksel-bench-requests-"));
  fs.chmodSync(dataDir, 0o755);
  const pgPort = await freePort();
  const pgHandle = await startEmbeddedPostgres({ dataDir, port: pgPort, databases: ["piksel", "odc_bench"], log });
  console.log(`Requests bench: node ${process.version}, ${availableParallelism()} CPUs, load ${loadavg()[0]!.toFixed(2)}, embedded PostgreSQL`);
  try {
    const config = loadConfig({ PIKSEL_DATA_DIR: dataDir, PIKSEL_EMBEDDED_PG_PORT: String(pgPort) });
    const staging = config.environments.find((e) => e.name === "staging")!;
    staging.scope.bbox = [100, -10, 112, -2];
    staging.scope.datetime = "2020-01-01T00:00:00Z/2024-12-31T23:59:59Z";
    let t = performance.now();
    const index = await fillIndex(`postgres://postgres:postgres@127.0.0.1:${pgPort}/odc_bench`, Number(values.datasets));
    console.log(`\n1. Planning (${Number(values.datasets).toLocaleString("en")} datasets indexed in ${((performance.now() - t) / 1000).toFixed(1)} s)`);
    // A square of side ~4.8 km x sqrt(tiles) around 106.8 E, 6.5 S (the grid's tiles are 4.8 km).
    const half = (Math.sqrt(wanted) * 4.8) / 2 / 111;
    const aoi = { type: "Polygon", coordinates: [[[106.8 - half, -6.5 - half], [106.8 + half, -6.5 - half], [106.8 + half, -6.5 + half], [106.8 - half, -6.5 + half], [106.8 - half, -6.5 - half]]] };
    const deps = { config, ports: new Map([["staging", { index } as unknown as EnvironmentPorts]]) };
    const input = { environment: "staging", year: 2023, aoi };
    const first = await planRequest(deps, "admin", input);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      t = performance.now();
      await planRequest(deps, "admin", input);
      times.push(performance.now() - t);
    }
    console.log(`   AOI of ${Math.round(first.areaKm2).toLocaleString("en")} km²: ${first.totals.tiles} tiles, ${first.totals.scenes.toLocaleString("en")} scenes (${first.totals.empty} empty)`);
    console.log(`   planRequest over ${runs} runs: ${fmt(times)}  (target: under 2 000 ms)`);

    console.log(`\n2. The request page's poll (requests.get of ${first.totals.tiles} tasks, tRPC caller + superjson)`);
    const appUrl = `postgres://postgres:postgres@127.0.0.1:${pgPort}/piksel`;
    await deployMigrations({ url: appUrl, schemaPath: path.join(REPO, "prisma/schema.prisma"), migrationsDir: path.join(REPO, "prisma/migrations") });
    const db = createDb(appUrl);
    const u = await createLocalUser(db, { email: "bench@piksel.local", name: "Bench", role: "requester", password: "password-1" });
    const id = await storeRequest(db, u.id, first.tiles, aoi);
    const caller = createCaller({ db, config, ports: new Map(), log, user: { id: u.id, email: u.email, name: u.name, role: "requester" }, headers: new Headers() });
    const gets: number[] = [];
    let bytes = 0;
    for (let i = 0; i < Math.max(runs, 50); i++) {
      t = performance.now();
      bytes = JSON.stringify(superjson.serialize(await caller.requests.get({ id }))).length;
      gets.push(performance.now() - t);
    }
    console.log(`   ${fmt(gets)}; ${(bytes / 1024).toFixed(0)} KiB per poll`);
    await db.$disconnect();
    await index.close();

    console.log(`\n3. The request page in Chromium with ${first.totals.tiles} tiles`);
    if (values["skip-page"]) console.log("   skipped (--skip-page)");
    else await pageBench({ tiles: first.tiles, aoi, log });
  } finally {
    await pgHandle.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
