import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { tileLonLatBounds } from "~/lib/grid";
import type { IndexPort } from "~/server/drivers/index";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import { parseProgressLine } from "~/worker/progress";
import { createTestDatabase } from "../support/databases";
import { startRangeServer, type RangeServer } from "../support/range-server";
import { prepareIndex, sceneDataset, testSite, writeScene, yearOfScenes } from "./worker-fixtures";

const root = path.resolve(import.meta.dirname, "../..");

/**
 * A CLI entry that registers the worker commands exactly as src/cli/main.ts registers its own (its
 * `action`, and the same `config` and `withDatabases` behaviour), bundled as scripts/build-cli.mjs bundles
 * the real one, so the test runs what ships.
 */
const ENTRY = `
import { Command } from "commander";
import { ConfigError, loadConfig } from "~/server/config";
import { createLogger } from "~/server/logger";
import { ensureEmbeddedDatabases } from "~/cli/platform";
import { action } from "~/cli/action";
import { registerWorkerCommands } from "~/cli/worker-command";

const log = createLogger({ pretty: false, level: process.env.PIKSEL_LOG_LEVEL, sync: true });
function config() {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + "\\n");
      process.exit(2);
    }
    throw err;
  }
}
async function withDatabases(c, fn) {
  const pg = await ensureEmbeddedDatabases(c, log);
  try {
    await fn();
  } finally {
    if (pg?.startedHere) await pg.stop();
  }
}
const program = new Command("piksel").showHelpAfterError();
registerWorkerCommands(program, { action, config, withDatabases, log });
await program.parseAsync(process.argv);
`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("piksel worker geomedian (CLI)", () => {
  const site = testSite();
  const year = yearOfScenes(site);
  let dir: string;
  let cli: string;
  let server: RangeServer;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let index: IndexPort;
  let configFile: string;
  const task = `2024--P1Y/${site.task.tile.x}/${site.task.tile.y}`;

  const piksel = (args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [cli, "worker", "geomedian", ...args],
        { encoding: "utf8", env: { NODE_ENV: "production", PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PIKSEL_CONFIG: configFile, PIKSEL_LOG_JSON: "1" }, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const jsonLines = (stdout: string) => stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-worker-cli-"));
    const scenesDir = path.join(dir, "scenes");
    await Promise.all(year.scenes.map((s) => writeScene(scenesDir, s, site.extent)));
    server = await startRangeServer(scenesDir);
    db = await createTestDatabase("worker_cli");
    index = createPostgresIndex(db.url);
    await prepareIndex(index, year.scenes.map((s) => sceneDataset(s, site.extent, server.url)));

    const cacheDir = path.join(root, ".cache", "worker-cli-test");
    fs.mkdirSync(cacheDir, { recursive: true });
    cli = path.join(cacheDir, `piksel-${process.pid}.mjs`);
    await build({
      stdin: { contents: ENTRY, resolveDir: root, loader: "ts" },
      outfile: cli,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      alias: { "~": path.join(root, "src"), "server-only": path.join(root, "tests/support/empty.ts") },
      logLevel: "warning",
    });
    configFile = path.join(dir, "piksel.yaml");
    fs.writeFileSync(
      configFile,
      YAML.stringify({
        dataDir: path.join(dir, "data"),
        database: { url: db.url },
        geomedian: { grid: site.grid.name },
        environments: [
          {
            name: "test",
            index: { url: db.url },
            gitops: { remote: path.join(dir, "gitops.git"), overlayPath: "overlays/test" },
            registry: { driver: "layout", path: path.join(dir, "registry"), repository: "piksel-core" },
            cluster: { driver: "local", stateDir: path.join(dir, "cluster") },
            objects: { driver: "local", root: path.join(dir, "objects"), bucket: "piksel-test-data" },
            catalog: { url: "http://127.0.0.1:9/v1" },
            scope: { bbox: [106.5, -6.8, 107.1, -6.2], datetime: "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z" },
          },
        ],
      }),
    );
  }, 240_000);

  afterAll(async () => {
    await index?.close();
    await db?.drop();
    await server?.close();
    if (cli) fs.rmSync(cli, { force: true });
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("computes the task, logs JSON progress lines {stage, chunk, of, percent}, indexes it, and does nothing the second time", async () => {
    const first = await piksel(["--env", "test", "--task", task, "--grid", site.grid.name, "--threads", "2"]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const progress = jsonLines(first.stdout).filter((l) => l.msg === "progress");
    expect(progress.filter((l) => l.stage === "reduce").map((l) => [l.chunk, l.of])).toEqual([[1, 4], [2, 4], [3, 4], [4, 4]]);
    expect(progress.at(-1)).toMatchObject({ stage: "done", chunk: 1, of: 1, percent: 100, task });
    expect(progress.every((l) => typeof l.percent === "number" && typeof l.stage === "string")).toBe(true);
    const done = jsonLines(first.stdout).find((l) => l.msg === "geomedian written")!;
    expect(done.uri).toMatch(/^file:\/\/.*\/piksel-test-data\/derived\/gm_s2_annual\/1-0-0\/x\d+\/y\d+\/2024--P1Y\/gm_s2_annual_x\d+y\d+_2024--P1Y_final\.odc-metadata\.yaml$/);
    const ll = tileLonLatBounds(site.grid, site.task.tile);
    expect(await index.countDatasets("gm_s2_annual", { lon: [ll.west, ll.east], lat: [ll.south, ll.north] })).toBe(1);

    // Without --grid: the configuration's geomedian.grid, the same grid, so the same finished task.
    const second = await piksel(["--env", "test", "--task", task]);
    expect(second.code).toBe(0);
    expect(jsonLines(second.stdout).filter((l) => l.msg === "progress").map((l) => l.stage)).toEqual(["skipped"]);
  });

  it("writes to a directory given by --output and leaves the index alone with --no-index", async () => {
    const out = path.join(dir, "elsewhere");
    const r = await piksel(["--env", "test", "--task", task, "--grid", site.grid.name, "--output", out, "--no-index", "--chunk", "512", "--threads", "1"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const folder = path.join(out, "gm_s2_annual", "1-0-0", `x${site.task.tile.x}`, `y${site.task.tile.y}`, "2024--P1Y");
    expect(fs.readdirSync(folder)).toHaveLength(16);
    // One 512 px chunk.
    expect(jsonLines(r.stdout).filter((l) => l.stage === "reduce").map((l) => l.of)).toEqual([1]);
    const ll = tileLonLatBounds(site.grid, site.task.tile);
    expect(await index.countDatasets("gm_s2_annual", { lon: [ll.west, ll.east], lat: [ll.south, ll.north] })).toBe(1);
  });

  it("fails with one line and exit code 2 (bad input, not worth retrying) when the index has no datasets for the task", async () => {
    const r = await piksel(["--env", "test", "--task", "2024--P1Y/5000/1282", "--grid", site.grid.name]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^piksel: no s2_l2a datasets in the index of environment test for task 2024--P1Y\/5000\/1282 \(grid global_10:512, lon [-\d.]+\.\.[-\d.]+, lat [-\d.]+\.\.[-\d.]+, 2024-01-01 to 2024-12-31\)\n$/);
  });

  it("fails with one line naming the COG when a source stays unreadable", async () => {
    server.fail((p) => p.endsWith("/S2A_48MYU_20240326_0_L2A/B03.tif"), Infinity, 503);
    const r = await piksel(["--env", "test", "--task", task, "--grid", site.grid.name, "--output", path.join(dir, "broken"), "--http-retries", "2", "--http-retry-delay", "0.05"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^piksel: cannot (open|read) ${server.url}/S2A_48MYU_20240326_0_L2A/B03\\.tif after 2 retries: HTTP response code: 503\\n$`));
    expect(r.stderr.split("\n")).toHaveLength(2);
  });

  it("fails with one line when the output location is not writable", async () => {
    const blocker = path.join(dir, "a-file");
    fs.writeFileSync(blocker, "not a directory");
    const r = await piksel(["--env", "test", "--task", task, "--grid", site.grid.name, "--output", path.join(blocker, "out")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^piksel: output file:\/\/.* is not writable: ENOTDIR: .*\n$/);
  });

  it("refuses an unknown environment, a malformed task, an unknown grid and a bad --chunk with the reason and exit code 2", async () => {
    const cases: [string[], RegExp][] = [
      [["--env", "nope", "--task", task], /^piksel: --env nope: no such environment \(configured: test\)\n$/],
      [["--env", "test", "--task", "2024/1"], /^piksel: task "2024\/1": expected <period>\/<x>\/<y>, e\.g\. 2024--P1Y\/304\/68\n$/],
      [["--env", "test", "--task", task, "--grid", "mars_10"], /^piksel: unknown grid "mars_10": expected one of .*\n$/],
      [["--env", "test", "--task", task, "--chunk", "0"], /^piksel: --chunk 0: expected a whole number from 16 to 4096\n$/],
      [["--env", "test", "--task", task, "--output", "ftp://x/y"], /^piksel: --output ftp:\/\/x\/y: expected s3:\/\/bucket\/prefix, file:\/\/\/dir or a directory\n$/],
    ];
    for (const [args, message] of cases) {
      const r = await piksel(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
    }
  });

  it("runs line --task-index of --task-list, as a Job's completion index does", async () => {
    const list = path.join(dir, "tasks");
    fs.writeFileSync(list, `${task}\n2024--P1Y/5000/1282\n`);
    // The first test computed line 0's task: done already, and the last line lists the outputs.
    const r = await piksel(["--env", "test", "--task-list", list, "--task-index", "0"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const last = parseProgressLine(r.stdout.trim().split("\n").at(-1)!);
    expect(last).toMatchObject({ stage: "skipped", percent: 100, task, outputs: { status: "skipped", indexed: true } });
    expect(last!.outputs!.uri).toMatch(/^file:\/\/.*_2024--P1Y_final\.odc-metadata\.yaml$/);
    expect(Object.keys(last!.outputs!.bands)).toHaveLength(14);

    const none = await piksel(["--env", "test", "--task-list", list, "--task-index", "1"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^piksel: no s2_l2a datasets in the index of environment test for task 2024--P1Y\/5000\/1282 /);
  });

  it("refuses a task list or index that cannot name a task with exit code 2 and what to fix", async () => {
    const list = path.join(dir, "tasks-2");
    fs.writeFileSync(list, `${task}\n\n`);
    const cases: [string[], RegExp][] = [
      [["--task-list", list, "--task-index", "2"], /^piksel: --task-index 2: .*tasks-2 lists 2 tasks \(indexes 0 to 1\); the Job's completions and its task list disagree\n$/],
      [["--task-list", list, "--task-index", "1"], /^piksel: line 2 of .*tasks-2 \(task index 1\) is empty: expected one task id such as 2024--P1Y\/304\/68\n$/],
      [["--task-list", path.join(dir, "no-such-list"), "--task-index", "0"], /^piksel: --task-list .*no-such-list: no such file; it should be the task list the Job mounts \(one task id per line\)\n$/],
      [["--task-list", list, "--task-index", "$(JOB_COMPLETION_INDEX)"], /^piksel: --task-index \$\(JOB_COMPLETION_INDEX\): expected a whole number from 0, .*is JOB_COMPLETION_INDEX set on the container\?\)\n$/],
      [["--task-list", list], /^piksel: --task-list .*tasks-2 needs --task-index <n>, the line \(from 0\) of the task to run\n$/],
      [["--task", task, "--task-list", list, "--task-index", "0"], /^piksel: give either --task <id> or --task-list <file> with --task-index <n>, not both\n$/],
      [[], /^piksel: no task: give --task <id> \(e\.g\. 2024--P1Y\/304\/68\), or --task-list <file> with --task-index <n> as a Job does\n$/],
      // Usage errors found by the option parser are bad input too.
      [["--task", task, "--colour", "blue"], /^error: unknown option '--colour'/],
    ];
    for (const [args, message] of cases) {
      const r = await piksel(["--env", "test", ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
    }
  });

  it("stops within seconds on SIGTERM while a read hangs: ends by the signal (143), scratch removed, nothing written", async () => {
    const scratch = path.join(dir, "scratch-term");
    const out = path.join(dir, "term-out");
    fs.mkdirSync(scratch, { recursive: true });
    // Every read of B03 hangs: the worker waits on GDAL, where nothing can be cancelled.
    const hanging = server.stall((p) => p.endsWith("/B03.tif"));
    const child = spawn(process.execPath, [cli, "worker", "geomedian", "--env", "test", "--task", task, "--output", out, "--scratch", scratch, "--threads", "1"], {
      env: { NODE_ENV: "production", PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PIKSEL_CONFIG: configFile, PIKSEL_LOG_JSON: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    try {
      await hanging;
      // The worker's scratch directory (its rasters are inside).
      expect(fs.readdirSync(scratch)).toHaveLength(1);
      const signalled = Date.now();
      child.kill("SIGTERM");
      const end = await exited;
      expect(Date.now() - signalled).toBeLessThan(10_000);
      // Ended by the signal itself: a shell, tini and the kubelet report 128 + 15.
      expect(end).toEqual({ code: null, signal: "SIGTERM" });
      expect(stderr).toBe("piksel: stopped by SIGTERM before the task finished; scratch files removed, no partial output left\n");
      expect(stdout).toContain('"msg":"stopping: aborting reads and the reduction, removing scratch files and any unfinished output"');
      expect(fs.readdirSync(scratch)).toEqual([]);
      const written = fs.existsSync(out) ? fs.readdirSync(out, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()) : [];
      expect(written).toEqual([]);
    } finally {
      server.unstall();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    }
  });
});
