import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { formatTaskId, parseTaskId } from "~/lib/grid";
import type { ClusterPort, JobRef } from "~/server/drivers/cluster";
import { createLocalCluster } from "~/server/drivers/cluster/local";
import type { IndexPort } from "~/server/drivers/index";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import { startLocalJobRunner, type LocalJobRunner } from "~/server/embedded/local-jobs";
import { createLogger } from "~/server/logger";
import { GM_S2_ANNUAL, taskLayout } from "~/worker/layout";
import { latestProgress, parseProgressLine } from "~/worker/progress";
import { buildCli, cliPath } from "../support/cli";
import { createTestDatabase } from "../support/databases";
import { waitFor } from "../support/kube-api";
import { startRangeServer, type RangeServer } from "../support/range-server";
import { prepareIndex, sceneDataset, testSite, writeScene, yearOfScenes } from "./worker-fixtures";

/**
 * The whole chain of a geomedian request on one machine, as the embedded default runs it: the local
 * cluster driver writes the Indexed Job (the same manifest as on Kubernetes), the local job runner
 * plays the Job controller and kubelet, and each pod is the real CLI bundle (dist/cli/piksel.mjs)
 * running `worker geomedian --task-list ... --task-index $(JOB_COMPLETION_INDEX)` against sample
 * scenes served with HTTP Range and indexed in a real ODC index.
 *
 * 256 px tiles of global_10:256 (the test site's 512 px tile is four of them), a few scenes: a task
 * takes a few seconds.
 */

const collect = async (lines: AsyncIterable<string>) => {
  const out: string[] = [];
  for await (const l of lines) out.push(l);
  return out;
};

describe("geomedian Jobs on the local runner, running the real worker CLI", () => {
  // The test site's 512 px tile is 2 x 2 tiles of this grid (same origin).
  const site = testSite();
  const grid = "global_10:256";
  const { x, y } = site.task.tile;
  const tasks = {
    west: `2024--P1Y/${2 * x}/${2 * y}`,
    east: `2024--P1Y/${2 * x + 1}/${2 * y}`,
    north: `2024--P1Y/${2 * x}/${2 * y + 1}`,
    // Far from every scene: the index has nothing for it.
    empty: "2024--P1Y/9000/2000",
  };
  // Four clear-ish 2024 scenes are enough for the chain; the geomedian's numbers are tested elsewhere.
  const scenes = yearOfScenes(site).scenes.slice(0, 4);
  let dir: string;
  let server: RangeServer;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let index: IndexPort;
  let cluster: ClusterPort;
  let runner: LocalJobRunner;
  const stateDir = () => path.join(dir, "cluster");
  const layout = (task: string) => taskLayout(GM_S2_ANNUAL, parseTaskId(task), "derived");
  const inBucket = (key: string) => path.join(dir, "objects", "piksel-test-data", key);
  const taskFolder = (task: string) => inBucket(layout(task).dir);
  const filesIn = (folder: string) => (fs.existsSync(folder) ? fs.readdirSync(folder) : []);
  let seq = 0;
  const submit = (taskIds: string[]) =>
    cluster.submitJob({ requestId: `chain${Date.now().toString(36)}${seq++}`, environment: "test", image: `registry.local/piksel-core@sha256:${"5e".repeat(32)}`, tasks: taskIds });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-worker-jobs-"));
    buildCli();
    const scenesDir = path.join(dir, "scenes");
    await Promise.all(scenes.map((s) => writeScene(scenesDir, s, site.extent)));
    server = await startRangeServer(scenesDir);
    db = await createTestDatabase("worker_jobs");
    index = createPostgresIndex(db.url);
    await prepareIndex(index, scenes.map((s) => sceneDataset(s, site.extent, server.url)));
    const configFile = path.join(dir, "piksel.yaml");
    fs.writeFileSync(
      configFile,
      YAML.stringify({
        dataDir: path.join(dir, "data"),
        database: { url: db.url },
        geomedian: { grid },
        environments: [
          {
            name: "test",
            index: { url: db.url },
            gitops: { remote: path.join(dir, "gitops.git"), overlayPath: "overlays/test" },
            registry: { driver: "layout", path: path.join(dir, "registry"), repository: "piksel-core" },
            cluster: { driver: "local", stateDir: stateDir() },
            objects: { driver: "local", root: path.join(dir, "objects"), bucket: "piksel-test-data" },
            catalog: { url: "http://127.0.0.1:9/v1" },
            scope: { bbox: [106.5, -6.8, 107.1, -6.2], datetime: "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z" },
          },
        ],
      }),
    );
    // Two workers at once at most (the test machine is small); a grace far above what a clean stop takes.
    cluster = createLocalCluster({ stateDir: stateDir(), pollIntervalMs: 50, jobs: { parallelism: 2, backoffLimitPerIndex: 2, terminationGracePeriodSeconds: 20 } });
    runner = await startLocalJobRunner({
      environments: [{ name: "test", stateDir: stateDir() }],
      cli: cliPath,
      // What `piksel start` hands its workers: the configuration, JSON logs.
      env: { NODE_ENV: "production", PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PIKSEL_CONFIG: configFile, PIKSEL_LOG_JSON: "1", UV_THREADPOOL_SIZE: "8" },
      log: createLogger({ level: "warn" }),
      pollIntervalMs: 50,
      // Retries at once: a bad-input task retried by mistake would show up as a second attempt.
      retryBackoff: { initialSeconds: 0, maxSeconds: 0 },
    });
  }, 240_000);

  afterAll(async () => {
    await runner?.stop();
    await index?.close();
    await db?.drop();
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("computes each task of the request; a task without scenes fails at once with exit code 2 and is not retried", async () => {
    const ref = await submit([tasks.west, tasks.east, tasks.empty]);
    const status = await waitFor(
      "the request to finish",
      async () => {
        const s = await cluster.jobStatus(ref);
        return s && ["succeeded", "failed"].includes(s.phase) ? s : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    expect(status).toMatchObject({ phase: "failed", tasks: 3, succeeded: 2, failed: 1, message: "FailedIndexes: Job has failed indexes" });
    const states = (await cluster.taskStates(ref))!;
    expect(states.map((t) => [t.state, t.attempts, t.exitCode])).toEqual([
      ["succeeded", 1, 0],
      ["succeeded", 1, 0],
      ["failed", 1, 2],
    ]);
    expect(states[2]!.reason).toBe("exit code 2: bad input; not retried");
    const failedLog = await collect(cluster.streamLogs(ref, 2));
    expect(failedLog.at(-1)).toMatch(/^piksel: no s2_l2a datasets in the index of environment test for task 2024--P1Y\/9000\/2000 \(grid global_10:256, /);

    // Each worker's log ends with the progress line listing its outputs; the files are there.
    for (const [i, task] of [tasks.west, tasks.east].entries()) {
      const lines = await collect(cluster.streamLogs(ref, i));
      const last = latestProgress(lines);
      expect(last).toMatchObject({ stage: "done", percent: 100, task: formatTaskId(parseTaskId(task)), outputs: { status: "done", indexed: true } });
      const progress = lines.map(parseProgressLine).filter((p) => p !== null);
      expect(progress.map((p) => p.stage).filter((s, k, all) => s !== all[k - 1])).toEqual(["plan", "read", "reduce", "write", "index", "done"]);
      const folder = taskFolder(task);
      expect(last!.outputs!.uri).toBe(`file://${inBucket(layout(task).eo3)}`);
      expect(filesIn(folder)).toHaveLength(16);
    }
    expect(filesIn(taskFolder(tasks.empty))).toEqual([]);
  });

  it("cancel stops a running worker by SIGTERM well within the grace period, leaving no partial output", async () => {
    // The worker's reads of B03 hang, as with a source that stops answering: it is mid-task, in GDAL.
    const hanging = server.stall((p) => p.endsWith("/B03.tif"));
    try {
      const ref: JobRef = await submit([tasks.north]);
      await hanging;
      await waitFor("the task to be running", async () => (await cluster.taskStates(ref))?.[0]?.state === "running", { timeoutMs: 30_000 });
      const cancelled = Date.now();
      await cluster.cancelJob(ref);
      await waitFor("the request's Job to be gone", async () => (await cluster.jobStatus(ref)) === null, { timeoutMs: 30_000, intervalMs: 100 });
      // terminationGracePeriodSeconds is 20: a worker that ignored SIGTERM would have lasted until SIGKILL.
      expect(Date.now() - cancelled).toBeLessThan(10_000);
      expect(filesIn(taskFolder(tasks.north))).toEqual([]);
      expect(fs.existsSync(path.join(stateDir(), "jobs", ref.name))).toBe(false);
    } finally {
      server.unstall();
    }
  });
});
