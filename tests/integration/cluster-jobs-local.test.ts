import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { build } from "esbuild";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ClusterPort, GeomedianJobSpec, JobRef } from "~/server/drivers/cluster";
import { createLocalCluster } from "~/server/drivers/cluster/local";
import { readStatusFile } from "~/server/drivers/cluster/local-jobs-state";
import { localRunAnnotation, startLocalJobRunner, type LocalJobRunner, type LocalJobRunnerOptions } from "~/server/embedded/local-jobs";
import { createLogger } from "~/server/logger";
import { waitFor } from "../support/kube-api";

/**
 * The embedded default's Jobs: the local driver writes and reads the files, the runner (the
 * `piksel start` parent in production) runs the same Job spec as child processes. Workers here are
 * a small script that follows a scenario per task (fail N times, exit 2, hold until released), or
 * a stand-in CLI that records the command line the runner derived from the container args.
 */

const root = path.resolve(import.meta.dirname, "../..");
const log = createLogger({ level: "warn" });
const image = `registry.local/piksel-core@sha256:${"7c".repeat(32)}`;
const settings = { parallelism: 2, backoffLimitPerIndex: 2, maxFailedIndexes: 3, terminationGracePeriodSeconds: 2 };
const tasks = (n: number) => Array.from({ length: n }, (_, i) => `2024--P1Y/${10 + i}/-4`);
let seq = 0;
const spec = (n: number): GeomedianJobSpec => ({ requestId: `loc${Date.now().toString(36)}${seq++}`, environment: "dev", image, tasks: tasks(n) });

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const fixtures = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-local-jobs-fixtures-"));
/** The scenario worker: argv = <scenario.json> <the container args>. Attempts are counted per task id in files beside the scenario. */
const worker = path.join(fixtures, "worker.mjs");
fs.writeFileSync(
  worker,
  `import fs from "node:fs";
const [scenarioFile, ...args] = process.argv.slice(2);
const scenario = JSON.parse(fs.readFileSync(scenarioFile, "utf8"));
const list = fs.readFileSync(args[args.indexOf("--task-list") + 1], "utf8").split("\\n");
const task = list[Number(args[args.indexOf("--task-index") + 1])];
const base = scenarioFile + "." + task.replaceAll("/", "_");
const attempt = (fs.existsSync(base + ".count") ? Number(fs.readFileSync(base + ".count", "utf8")) : 0) + 1;
fs.writeFileSync(base + ".count", String(attempt));
const s = scenario[task] ?? {};
console.log("task " + task + " attempt " + attempt);
if (s.failTimes && attempt <= s.failTimes) { console.error("attempt " + attempt + ": S3 GetObject timed out"); process.exit(1); }
if (s.exitCode) { console.error("no datasets for " + task); process.exit(s.exitCode); }
if (s.hold && attempt <= (s.holdAttempts ?? 99)) {
  fs.writeFileSync(base + ".pid", String(process.pid));
  process.on("SIGTERM", () => { console.log("got SIGTERM"); if (!s.ignoreTerm) process.exit(143); });
  setInterval(() => { if (fs.existsSync(base + ".release")) { console.log("progress 100%"); process.exit(0); } }, 10);
} else {
  console.log("task " + task + " done");
}
`,
);
/** Stands in for dist/cli/piksel.mjs: records its argv, the index variable and the task it was given. */
const fakeCli = path.join(fixtures, "piksel.mjs");
fs.writeFileSync(
  fakeCli,
  `import fs from "node:fs";
const args = process.argv.slice(2);
const list = fs.readFileSync(args[args.indexOf("--task-list") + 1], "utf8").split("\\n");
const index = Number(args[args.indexOf("--task-index") + 1]);
const out = process.env.FAKE_CLI_OUT;
fs.appendFileSync(out, JSON.stringify({ event: "start", index, at: Date.now() }) + "\\n");
console.log(JSON.stringify({ args, JOB_COMPLETION_INDEX: process.env.JOB_COMPLETION_INDEX, task: list[index], request: process.env.PIKSEL_REQUEST_ID }));
setTimeout(() => { fs.appendFileSync(out, JSON.stringify({ event: "end", index, at: Date.now() }) + "\\n"); }, 150);
`,
);

interface Env {
  dir: string;
  cluster: ClusterPort;
  scenario: string;
  setScenario(s: Record<string, { failTimes?: number; exitCode?: number; hold?: boolean; holdAttempts?: number; ignoreTerm?: boolean }>): void;
  release(task: string): void;
  runner(extra?: Partial<LocalJobRunnerOptions>): Promise<LocalJobRunner>;
}

function environment(): Env {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-local-jobs-"));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const scenario = path.join(dir, "scenario.json");
  fs.writeFileSync(scenario, "{}");
  return {
    dir,
    scenario,
    cluster: createLocalCluster({ stateDir: path.join(dir, "cluster"), pollIntervalMs: 20, jobs: settings }),
    setScenario: (s) => fs.writeFileSync(scenario, JSON.stringify(s)),
    release: (task) => fs.writeFileSync(`${scenario}.${task.replaceAll("/", "_")}.release`, ""),
    async runner(extra = {}) {
      const runner = await startLocalJobRunner({
        environments: [{ name: "dev", stateDir: path.join(dir, "cluster") }],
        cli: fakeCli,
        env: process.env,
        log,
        pollIntervalMs: 20,
        retryBackoff: { initialSeconds: 0, maxSeconds: 0 },
        command: (pod) => ({ file: process.execPath, args: [worker, scenario, ...pod.args] }),
        ...extra,
      });
      cleanups.push(() => runner.stop());
      return runner;
    },
  };
}

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of lines) out.push(l);
  return out;
}

const finished = (cluster: ClusterPort, ref: JobRef, phase?: string) =>
  waitFor(
    "the request to finish",
    async () => {
      const s = await cluster.jobStatus(ref);
      return s && (phase ? s.phase === phase : ["succeeded", "failed"].includes(s.phase)) ? s : undefined;
    },
    { timeoutMs: 20_000 },
  );

describe("local cluster: geomedian Jobs as child processes", () => {
  it("runs each index through the CLI with the command line of the container args, within parallelism", async () => {
    const env = environment();
    const out = path.join(env.dir, "cli-out.jsonl");
    await env.runner({ command: undefined, env: { ...process.env, FAKE_CLI_OUT: out } });
    const s = spec(5);
    const ref = await env.cluster.submitJob(s);
    expect(ref).toMatchObject({ requestId: s.requestId, name: `gm-${s.requestId}`, namespace: "piksel", image, tasks: 5 });
    expect(await env.cluster.submitJob(s)).toEqual(ref);
    const status = await finished(env.cluster, ref, "succeeded");
    expect(status).toMatchObject({ tasks: 5, succeeded: 5, failed: 0 });
    expect(status.conditions.map((c) => c.type)).toEqual(["SuccessCriteriaMet", "Complete"]);

    const printed = JSON.parse((await collect(env.cluster.streamLogs(ref, 3)))[0]!) as { args: string[]; JOB_COMPLETION_INDEX: string; task: string; request: string };
    expect(printed.args).toEqual(["worker", "geomedian", "--env", "dev", "--task-list", path.join(env.dir, "cluster", "jobs", ref.name, "volumes", "tasks", "tasks"), "--task-index", "3"]);
    expect(printed).toMatchObject({ JOB_COMPLETION_INDEX: "3", task: "2024--P1Y/13/-4", request: s.requestId });

    // Never more than `parallelism` workers at once.
    const events = fs.readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string; at: number });
    let running = 0;
    let most = 0;
    for (const e of events.sort((a, b) => a.at - b.at || (a.event === "end" ? -1 : 1))) {
      running += e.event === "start" ? 1 : -1;
      most = Math.max(most, running);
    }
    expect(most).toBe(2);
    const pods = (await readStatusFile(path.join(env.dir, "cluster"), ref.name))!.pods;
    expect(pods[0]!.metadata.annotations![localRunAnnotation]).toBe(`the local checkout (node ${fakeCli})`);
    expect(pods[0]!.status!.containerStatuses![0]).toMatchObject({ image, state: { terminated: { exitCode: 0, reason: "Completed" } } });
  });

  it("a task that fails three times is failed with its last log lines while the others finish; bad input is not retried", async () => {
    const env = environment();
    await env.runner();
    const s = spec(4);
    env.setScenario({ [s.tasks[1]!]: { failTimes: 99 }, [s.tasks[2]!]: { exitCode: 2 } });
    const ref = await env.cluster.submitJob(s);
    const status = await finished(env.cluster, ref);
    expect(status).toMatchObject({ phase: "failed", tasks: 4, succeeded: 2, failed: 2, message: "FailedIndexes: Job has failed indexes" });
    const states = (await env.cluster.taskStates(ref))!;
    expect(states.map((t) => [t.index, t.state, t.attempts, t.failures, t.exitCode])).toEqual([
      [0, "succeeded", 1, 0, 0],
      [1, "failed", 3, 3, 1],
      [2, "failed", 1, 1, 2],
      [3, "succeeded", 1, 0, 0],
    ]);
    expect(states[1]!.reason).toBe("failed 3 times; last: exit code 1");
    expect(states[2]!.reason).toBe("exit code 2: bad input; not retried");
    expect(await collect(env.cluster.streamLogs(ref, 1, { tailLines: 1 }))).toEqual(["attempt 3: S3 GetObject timed out"]);
    expect(await collect(env.cluster.streamLogs(ref, 1, { attempt: 1 }))).toEqual(["task 2024--P1Y/11/-4 attempt 1", "attempt 1: S3 GetObject timed out"]);
    const late = await collect(env.cluster.streamLogs(ref, 1, { sinceTime: new Date(Date.now() + 60_000).toISOString() }));
    expect(late).toEqual([]);

    // Retry the flaky one once it would pass: a follow-up Job, counted into the request.
    env.setScenario({ [s.tasks[1]!]: { failTimes: 3 } });
    await expect(env.cluster.retryTasks(ref, [0, 1], { retry: 1 })).rejects.toMatchObject({ code: "CONFLICT", message: "only failed tasks can be retried; task 0 is succeeded" });
    const retry = await env.cluster.retryTasks(ref, [1], { retry: 1 });
    expect(retry).toEqual({ name: `${ref.name}-r1`, retry: 1, indexes: [1] });
    expect(await env.cluster.retryTasks(ref, [1], { retry: 1 })).toEqual(retry);
    await waitFor("the retried task to succeed", async () => (await env.cluster.taskStates(ref))?.[1]?.state === "succeeded", { timeoutMs: 20_000 });
    expect((await env.cluster.taskStates(ref))![1]).toMatchObject({ attempts: 4, failures: 3, job: `${ref.name}-r1`, exitCode: 0 });
    expect(await env.cluster.jobStatus(ref)).toMatchObject({ phase: "failed", succeeded: 3, failed: 1, retries: 1 });
    expect(await collect(env.cluster.streamLogs(ref, 1))).toEqual(["task 2024--P1Y/11/-4 attempt 4", "task 2024--P1Y/11/-4 done"]);
  });

  it("stops the request when more tasks fail than maxFailedIndexes, killing the running ones", async () => {
    const env = environment();
    env.cluster = createLocalCluster({ stateDir: path.join(env.dir, "cluster"), pollIntervalMs: 20, jobs: { ...settings, parallelism: 3, maxFailedIndexes: 0 } });
    await env.runner();
    const s = spec(4);
    env.setScenario({ [s.tasks[0]!]: { hold: true }, [s.tasks[1]!]: { hold: true }, [s.tasks[2]!]: { exitCode: 2 } });
    const ref = await env.cluster.submitJob(s);
    const status = await finished(env.cluster, ref);
    expect(status).toMatchObject({ phase: "failed", message: "MaxFailedIndexesExceeded: Job has exceeded the specified maximal number of failed indexes" });
    // As in Kubernetes, the Job fails first and its running pods terminate after: wait for the kill.
    await waitFor("the held worker to be terminated", async () => (await env.cluster.taskStates(ref))?.[0]?.exitCode != null, { timeoutMs: 20_000 });
    const states = (await env.cluster.taskStates(ref))!;
    expect(states.map((t) => t.state)).toEqual(["failed", "failed", "failed", "failed"]);
    expect(states[0]!.reason).toMatch(/^not finished: the Job failed \(MaxFailedIndexesExceeded/);
    // Terminated by the runner (SIGTERM: 128 + 15), whether or not the worker had set up its handler yet.
    expect(states[0]!.exitCode).toBe(143);
  });

  it("cancel kills the workers' process groups, then the Job and its logs are gone", async () => {
    const env = environment();
    await env.runner();
    const s = spec(2);
    // One worker ignores SIGTERM: it goes at SIGKILL, terminationGracePeriodSeconds (2 s) later.
    env.setScenario({ [s.tasks[0]!]: { hold: true }, [s.tasks[1]!]: { hold: true, ignoreTerm: true } });
    const ref = await env.cluster.submitJob(s);
    await waitFor("both tasks running", async () => (await env.cluster.taskStates(ref))?.every((t) => t.state === "running"), { timeoutMs: 20_000 });
    const pidFiles = s.tasks.map((t) => `${env.scenario}.${t.replaceAll("/", "_")}.pid`);
    await waitFor("both workers to have started", () => pidFiles.every((f) => fs.existsSync(f)));
    const pids = pidFiles.map((f) => Number(fs.readFileSync(f, "utf8")));
    await env.cluster.cancelJob(ref);
    expect((await env.cluster.jobStatus(ref))?.phase).toBe("cancelling");
    await waitFor("the worker that handles SIGTERM to end", () => !fs.existsSync(`/proc/${pids[0]}`) || fs.readFileSync(`/proc/${pids[0]}/stat`, "utf8").split(" ")[2] === "Z");
    expect((await env.cluster.jobStatus(ref))?.phase).toBe("cancelling");
    await waitFor("the Job to be gone", async () => (await env.cluster.jobStatus(ref)) === null, { timeoutMs: 20_000 });
    expect(pids.filter((pid) => fs.existsSync(`/proc/${pid}`))).toEqual([]);
    expect(fs.existsSync(path.join(env.dir, "cluster", "jobs", ref.name))).toBe(false);
    await env.cluster.cancelJob(ref);
  });

  it("follows a running task's log until it ends", async () => {
    const env = environment();
    await env.runner();
    const s = spec(1);
    env.setScenario({ [s.tasks[0]!]: { hold: true } });
    const ref = await env.cluster.submitJob(s);
    const lines: string[] = [];
    await waitFor("the task to run", async () => (await env.cluster.taskStates(ref))?.[0]?.state === "running", { timeoutMs: 20_000 });
    const following = (async () => {
      for await (const l of env.cluster.streamLogs(ref, 0, { follow: true })) lines.push(l);
    })();
    await waitFor("the first line", () => lines.length === 1);
    env.release(s.tasks[0]!);
    await following;
    expect(lines).toEqual(["task 2024--P1Y/10/-4 attempt 1", "progress 100%"]);
  });

  it("resumes after a restart: attempts cut by the stop are disruptions, retried without counting", async () => {
    const env = environment();
    let runner = await env.runner();
    const s = spec(2);
    env.setScenario({ [s.tasks[0]!]: { hold: true, holdAttempts: 1 }, [s.tasks[1]!]: { hold: true, holdAttempts: 1 } });
    const ref = await env.cluster.submitJob(s);
    await waitFor("both tasks running", async () => (await env.cluster.taskStates(ref))?.every((t) => t.state === "running"), { timeoutMs: 20_000 });
    await waitFor("both workers to have started", () => s.tasks.every((t) => fs.existsSync(`${env.scenario}.${t.replaceAll("/", "_")}.pid`)));
    await runner.stop();
    const states = (await env.cluster.taskStates(ref))!;
    expect(states.map((t) => [t.state, t.failures])).toEqual([
      ["retrying", 1],
      ["retrying", 1],
    ]);
    expect(states[0]!.reason).toMatch(/interrupted \(TerminationByKubelet: the local job runner stopped\); not counted as a failure/);
    runner = await env.runner();
    const done = await finished(env.cluster, ref, "succeeded");
    expect(done).toMatchObject({ succeeded: 2 });
    expect((await env.cluster.taskStates(ref))!.map((t) => [t.attempts, t.failures])).toEqual([
      [2, 1],
      [2, 1],
    ]);
  });

  it("removes a request's Jobs ttlSecondsAfterFinished after the last one finished", async () => {
    const env = environment();
    env.cluster = createLocalCluster({ stateDir: path.join(env.dir, "cluster"), pollIntervalMs: 20, jobs: { ...settings, ttlSecondsAfterFinished: 0 } });
    await env.runner();
    const ref = await env.cluster.submitJob(spec(1));
    await waitFor("the Job removed after its TTL", async () => fs.existsSync(path.join(env.dir, "cluster", "jobs")) && (await env.cluster.jobStatus(ref)) === null, { timeoutMs: 20_000 });
  });

  it("lets only one runner run per state directory", async () => {
    const env = environment();
    await env.runner();
    await expect(env.runner()).rejects.toThrow(`the local job runner of environment dev already runs in process ${process.pid}`);
  });
});

describe("local Jobs across processes", () => {
  let childScript: string;

  beforeAll(async () => {
    // The runner in a child process runs the same sources, bundled as the CLI is (scripts/build-cli.mjs).
    const outDir = path.join(root, "node_modules", ".cache", "piksel-tests");
    childScript = path.join(outDir, `jobs-runner-child-${process.pid}.mjs`);
    await build({
      stdin: {
        contents: `
          import { startLocalJobRunner } from "~/server/embedded/local-jobs";
          import { createLogger } from "~/server/logger";
          const [stateDir, worker, scenario] = process.argv.slice(2);
          await startLocalJobRunner({
            environments: [{ name: "dev", stateDir }],
            cli: "unused",
            env: process.env,
            log: createLogger({ level: "warn" }),
            pollIntervalMs: 20,
            retryBackoff: { initialSeconds: 0, maxSeconds: 0 },
            command: (pod) => ({ file: process.execPath, args: [worker, scenario, ...pod.args] }),
          });
          process.stdout.write(JSON.stringify({ started: true }) + "\\n");
        `,
        resolveDir: root,
        loader: "ts",
      },
      outfile: childScript,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      alias: { "~": path.join(root, "src"), "server-only": path.join(root, "tests/support/empty.ts") },
      logLevel: "warning",
    });
    return () => fs.rmSync(childScript, { force: true });
  });

  function runnerProcess(env: Env): { proc: ChildProcess; started: Promise<void>; exited: Promise<void> } {
    const proc = spawn(process.execPath, [childScript, path.join(env.dir, "cluster"), worker, env.scenario], { stdio: ["ignore", "pipe", "pipe"] });
    proc.stderr!.on("data", (d: Buffer) => process.stderr.write(`[runner] ${d.toString()}`));
    const started = new Promise<void>((resolve) => readline.createInterface({ input: proc.stdout! }).once("line", () => resolve()));
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    cleanups.push(async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        await exited;
      }
    });
    return { proc, started, exited };
  }

  it("the runner in one process runs what this one submits; this one reads states and follows logs", async () => {
    const env = environment();
    const runner = runnerProcess(env);
    await runner.started;
    const s = spec(3);
    env.setScenario({ [s.tasks[0]!]: { hold: true } });
    const ref = await env.cluster.submitJob(s);
    const events: string[] = [];
    const stop = env.cluster.watchJobs({ requestId: s.requestId }, (e) => void events.push(`${e.kind}:${e.requestId}`));
    cleanups.push(stop);
    await waitFor("task 0 running in the other process", async () => (await env.cluster.taskStates(ref))?.[0]?.state === "running", { timeoutMs: 20_000 });
    const lines: string[] = [];
    const following = (async () => {
      for await (const l of env.cluster.streamLogs(ref, 0, { follow: true })) lines.push(l);
    })();
    env.release(s.tasks[0]!);
    await following;
    expect(lines).toEqual(["task 2024--P1Y/10/-4 attempt 1", "progress 100%"]);
    await finished(env.cluster, ref, "succeeded");
    expect(events).toContain(`job:${s.requestId}`);
  });

  it("a runner killed with kill -9 leaves workers behind: the next runner stops them and retries the tasks", async () => {
    const env = environment();
    const first = runnerProcess(env);
    await first.started;
    const s = spec(1);
    env.setScenario({ [s.tasks[0]!]: { hold: true, holdAttempts: 1 } });
    const ref = await env.cluster.submitJob(s);
    await waitFor("the task running", async () => (await env.cluster.taskStates(ref))?.[0]?.state === "running", { timeoutMs: 20_000 });
    const pidFile = `${env.scenario}.${s.tasks[0]!.replaceAll("/", "_")}.pid`;
    await waitFor("the worker to have started", () => fs.existsSync(pidFile));
    // Its first line has reached the log (a runner killed earlier would lose it with the pipe).
    await waitFor("the first log line", async () => (await collect(env.cluster.streamLogs(ref, 0))).length === 1);
    const orphan = Number(fs.readFileSync(pidFile, "utf8"));
    first.proc.kill("SIGKILL");
    await first.exited;
    expect(fs.existsSync(`/proc/${orphan}`)).toBe(true);

    await env.runner();
    await finished(env.cluster, ref, "succeeded");
    await waitFor("the orphaned worker to be gone", () => !fs.existsSync(`/proc/${orphan}`) || fs.readFileSync(`/proc/${orphan}/stat`, "utf8").split(" ")[2] === "Z");
    const state = (await env.cluster.taskStates(ref))![0]!;
    expect(state).toMatchObject({ state: "succeeded", attempts: 2, failures: 1 });
    expect(await collect(env.cluster.streamLogs(ref, 0, { attempt: 1 }))).toEqual(["task 2024--P1Y/10/-4 attempt 1"]);
  });
});
