import "server-only";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { batchKeys, expandVariables, labels, taskListMount } from "../drivers/cluster/job-manifest";
import { conditionTrue, jobFinished, matchPodFailurePolicy, type JobPodObject } from "../drivers/cluster/job-state";
import { formatIndexes, parseIndexes } from "../drivers/cluster/indexes";
import {
  formatLogLine,
  jobDir,
  jobsDir,
  listJobNames,
  logFile,
  readControl,
  readJobFile,
  readStatusFile,
  removeJobDir,
  taskVolumeDir,
  writeStatusFile,
  type LocalJobFile,
  type LocalJobStatusFile,
} from "../drivers/cluster/local-jobs-state";
import type { Logger } from "../logger";

/**
 * The local job runner of the embedded default: runs the geomedian Jobs that the local cluster
 * driver writes (drivers/cluster/local-jobs-state.ts) as child processes of the `piksel start`
 * parent, playing the Kubernetes Job controller and kubelet for Indexed Jobs, with the same spec:
 *
 * - one process per pod: `node <cli> <container args>` (the image's entrypoint is
 *   `node dist/cli/piksel.mjs`, here the checkout's bundle), `$(VAR)` expanded from the container's
 *   env as the kubelet does, the task-list ConfigMap and the emptyDir mounted as directories of the
 *   Job; the image in the spec is recorded, the checkout is what runs;
 * - `parallelism`, lowest pending index first; per-index retries (`backoffLimitPerIndex`) after
 *   Kubernetes' backoff (10 s doubling, at most 6 min), `maxFailedIndexes`, the pod failure policy
 *   (a FailIndex exit code fails the task at once, a disruption is not counted),
 *   `activeDeadlineSeconds`, `ttlSecondsAfterFinished` (for the request's Jobs together: a follow-up
 *   keeps the request's own Job); status fields and conditions as the Job controller writes them;
 * - cancel: the process group gets SIGTERM, SIGKILL after terminationGracePeriodSeconds, then the
 *   Job's directory goes (foreground deletion);
 * - each pod's output goes to its log file with a timestamp per line (CRI log format).
 *
 * It resumes from the files: an attempt whose process is gone when the runner starts (the runner
 * was stopped or killed) is a failed attempt marked as a disruption (DisruptionTarget, as the pod GC
 * marks pods of a dead node), so the default policy retries it without counting it; a process still
 * running from a killed runner is killed first (found by its PIKSEL_LOCAL_POD variable).
 * One runner per state directory (lock file with its pid, taken over from a dead holder).
 */

export interface LocalJobRunnerEnvironment {
  /** Environment name, for logs. */
  name: string;
  stateDir: string;
}

/** What a pod runs: its container's command line, expanded and mapped onto the local directories. */
export interface LocalPodContext {
  job: string;
  pod: string;
  /** The Job's completion index. */
  index: number;
  /** 1-based attempt of this index in this Job. */
  attempt: number;
  /** The container's args after `$(VAR)` expansion and with mount paths mapped. */
  args: string[];
  /** The container's environment (the runner's own is added). */
  env: Record<string, string>;
}

export interface LocalJobRunnerOptions {
  environments: LocalJobRunnerEnvironment[];
  /** The CLI bundle (dist/cli/piksel.mjs): what the image's entrypoint runs. */
  cli: string;
  /** The environment workers inherit (PIKSEL_CONFIG, PIKSEL_DATA_DIR, ...); `piksel start` passes its own. */
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** How often the Jobs' files are read; default 500 ms. A process ending wakes the runner at once. */
  pollIntervalMs?: number;
  /** Delay before a failed index runs again; Kubernetes' default 10 s doubling up to 360 s. */
  retryBackoff?: { initialSeconds: number; maxSeconds: number };
  /** Something else than `node <cli> <args>` for a pod (tests). */
  command?: (pod: LocalPodContext) => { file: string; args: string[] };
}

export interface LocalJobRunner {
  /** Looks at the Jobs now instead of at the next poll. */
  kick(): void;
  /** Stops the runner: running pods are terminated and recorded as disrupted (retried after a restart). */
  stop(): Promise<void>;
}

interface Proc {
  child: ChildProcess;
  pod: string;
  exit?: { code: number; at: string };
  /** Why the runner ended it, if it did. */
  killedFor?: { reason: string; message: string; disruption: boolean };
  killTimer?: NodeJS.Timeout;
  done: Promise<void>;
}

type Pod = LocalJobStatusFile["pods"][number];
type JobSpec = {
  completions?: number;
  parallelism?: number;
  backoffLimitPerIndex?: number;
  maxFailedIndexes?: number;
  activeDeadlineSeconds?: number;
  ttlSecondsAfterFinished?: number;
  template: {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    spec: {
      terminationGracePeriodSeconds?: number;
      containers: {
        name: string;
        image: string;
        args?: string[];
        command?: string[];
        env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } & Record<string, unknown> }[];
        envFrom?: unknown[];
        volumeMounts?: { name: string; mountPath: string }[];
      }[];
      volumes?: { name: string; configMap?: { name: string }; emptyDir?: unknown }[];
    };
  };
};

/** What a local pod really ran (its image is the deployed digest, for the record). */
export const localRunAnnotation = "piksel.dev/local-run";

const kubeTime = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
const phaseOf = (p: JobPodObject) => p.status?.phase ?? "Pending";
const isActive = (p: JobPodObject) => !["Succeeded", "Failed"].includes(phaseOf(p));
const indexOf = (p: JobPodObject) => Number(p.metadata?.annotations?.[batchKeys.completionIndex] ?? -1);
const count = (p: JobPodObject, key: string) => Number(p.metadata?.annotations?.[key] ?? 0) || 0;
const priorFailures = (p: JobPodObject) => count(p, batchKeys.indexFailureCount) + count(p, batchKeys.indexIgnoredFailureCount);

const processAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** Pids of processes started for a pod (Linux: their environment names it). Elsewhere none are found. */
async function podProcesses(pod: string): Promise<number[]> {
  const marker = Buffer.from(`\0PIKSEL_LOCAL_POD=${pod}\0`);
  const entries = await fsp.readdir("/proc").catch(() => [] as string[]);
  const pids: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const environ = await fsp.readFile(`/proc/${e}/environ`).catch(() => undefined);
    if (environ && Buffer.concat([Buffer.from([0]), environ]).includes(marker)) pids.push(Number(e));
  }
  return pids;
}

async function acquireLock(stateDir: string, environment: string): Promise<() => Promise<void>> {
  const lock = path.join(stateDir, "jobs-runner.lock");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await fsp.open(lock, "wx");
      await handle.writeFile(JSON.stringify({ pid: process.pid, since: new Date().toISOString() }));
      await handle.close();
      return () => fsp.rm(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = await fsp
        .readFile(lock, "utf8")
        .then((t) => JSON.parse(t) as { pid?: number })
        .catch(() => ({ pid: undefined }));
      if (holder.pid && processAlive(holder.pid)) {
        throw new Error(`the local job runner of environment ${environment} already runs in process ${holder.pid} (lock ${lock}); only one \`piksel start\` may run per data directory`);
      }
      await fsp.rm(lock, { force: true });
    }
  }
  throw new Error(`could not take ${lock}`);
}

function setCondition(status: LocalJobStatusFile["status"], type: string, reason: string, message: string) {
  if (status.conditions?.some((c) => c.type === type && c.status === "True")) return;
  status.conditions = [...(status.conditions ?? []), { type, status: "True", reason, message, lastProbeTime: kubeTime(), lastTransitionTime: kubeTime() } as NonNullable<typeof status.conditions>[number]];
}

/** Starts the runner for the given environments. Throws if another live process runs one of them. */
export async function startLocalJobRunner(opts: LocalJobRunnerOptions): Promise<LocalJobRunner> {
  const pollMs = opts.pollIntervalMs ?? 500;
  const backoff = opts.retryBackoff ?? { initialSeconds: 10, maxSeconds: 360 };
  const procs = new Map<string, Proc>();
  const releases: (() => Promise<void>)[] = [];
  let stopped = false;
  let wake: (() => void) | undefined;
  let kicked = false;
  const kick = () => {
    kicked = true;
    wake?.();
  };

  try {
    for (const env of opts.environments) {
      await fsp.mkdir(jobsDir(env.stateDir), { recursive: true });
      releases.push(await acquireLock(env.stateDir, env.name));
    }
  } catch (err) {
    await Promise.all(releases.map((r) => r()));
    throw err;
  }

  const key = (stateDir: string, pod: string) => `${stateDir}\n${pod}`;

  function terminate(proc: Proc, graceSeconds: number, why: Proc["killedFor"]) {
    if (proc.exit || proc.killTimer) return;
    proc.killedFor = why;
    const signal = (s: NodeJS.Signals) => {
      try {
        // The whole process group: the worker and anything it started.
        process.kill(-proc.child.pid!, s);
      } catch {
        // already gone
      }
    };
    signal("SIGTERM");
    proc.killTimer = setTimeout(() => signal("SIGKILL"), graceSeconds * 1000);
    proc.killTimer.unref();
  }

  /** The kubelet's part: the pod's container as a process, its output into the log file. */
  async function startProcess(env: LocalJobRunnerEnvironment, file: LocalJobFile, pod: Pod, attempt: number): Promise<{ pid?: number; error?: string }> {
    const job = file.job.metadata.name;
    const spec = file.job.spec as unknown as JobSpec;
    const container = spec.template.spec.containers[0]!;
    const index = indexOf(pod);
    const vars: Record<string, string> = {};
    for (const e of container.env ?? []) {
      if (e.value !== undefined) vars[e.name] = expandVariables(e.value, vars);
      else if (e.valueFrom?.fieldRef) {
        const m = /^metadata\.(annotations|labels)\['(.+)'\]$/.exec(e.valueFrom.fieldRef.fieldPath);
        const value = m ? pod.metadata[m[1] as "annotations" | "labels"]?.[m[2]!] : e.valueFrom.fieldRef.fieldPath === "metadata.name" ? pod.metadata.name : undefined;
        if (value === undefined) return { error: `env ${e.name}: fieldRef ${e.valueFrom.fieldRef.fieldPath} is not available on the local runner` };
        vars[e.name] = value;
      } else return { error: `env ${e.name}: ${Object.keys(e.valueFrom ?? {}).join(", ")} is not available on the local runner (no Secrets on one machine)` };
    }
    if (container.envFrom?.length) return { error: "envFrom is not available on the local runner (no Secrets on one machine)" };
    vars.JOB_COMPLETION_INDEX ??= String(index);
    // Volumes: the task list is the Job's tasks directory; an emptyDir is a directory per pod.
    const mounts: [string, string][] = [];
    for (const m of container.volumeMounts ?? []) {
      const volume = spec.template.spec.volumes?.find((v) => v.name === m.name);
      if (volume?.emptyDir !== undefined) {
        const dir = path.join(jobDir(env.stateDir, job), "volumes", pod.metadata.name, m.name);
        await fsp.mkdir(dir, { recursive: true });
        mounts.push([m.mountPath, dir]);
      } else if (volume?.configMap && m.mountPath === taskListMount) {
        mounts.push([m.mountPath, taskVolumeDir(env.stateDir, job)]);
      } else return { error: `volume ${m.name} (${JSON.stringify(volume ?? {})}) is not available on the local runner` };
    }
    const mapPath = (text: string) => {
      for (const [from, to] of mounts) if (text === from || text.startsWith(`${from}/`)) return to + text.slice(from.length);
      return text;
    };
    for (const k of Object.keys(vars)) vars[k] = mapPath(vars[k]!);
    const args = [...(container.command ?? []), ...(container.args ?? [])].map((a) => mapPath(expandVariables(a, vars)));
    const command = opts.command?.({ job, pod: pod.metadata.name, index, attempt, args, env: vars }) ?? { file: process.execPath, args: [opts.cli, ...args] };

    const out = fs.createWriteStream(logFile(env.stateDir, job, pod.metadata.name), { flags: "a" });
    let child: ChildProcess;
    try {
      child = spawn(command.file, command.args, {
        cwd: jobDir(env.stateDir, job),
        env: { ...opts.env, ...vars, PIKSEL_LOCAL_POD: pod.metadata.name },
        // Its own process group, so cancel reaches whatever the worker starts, and Ctrl-C in the
        // terminal of `piksel start` reaches the runner, which stops the workers itself.
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (err) {
      out.end();
      return { error: `could not start ${command.file}: ${(err as Error).message}` };
    }
    const streams = (["stdout", "stderr"] as const).map(
      (name) =>
        new Promise<void>((resolve) => {
          const rl = readline.createInterface({ input: child[name]!, crlfDelay: Infinity });
          rl.on("line", (line) => out.write(formatLogLine(name, line)));
          rl.on("close", resolve);
        }),
    );
    const exited = new Promise<{ code: number }>((resolve) => {
      child.once("error", (err) => {
        out.write(formatLogLine("stderr", `piksel local runner: ${err.message}`));
        resolve({ code: 127 });
      });
      child.once("exit", (code, signal) => resolve({ code: code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 1) }));
    });
    const proc: Proc = {
      child,
      pod: pod.metadata.name,
      done: Promise.all([exited, ...streams]).then(async ([{ code }]) => {
        await new Promise<void>((resolve) => out.end(resolve));
        proc.exit = { code, at: kubeTime() };
        clearTimeout(proc.killTimer);
        kick();
      }),
    };
    procs.set(key(env.stateDir, pod.metadata.name), proc);
    return { pid: child.pid };
  }

  /** The container's end as the kubelet reports it. */
  function terminatedPod(pod: Pod, exit: { code: number; at: string }, extra?: { reason: string; message: string; disruption: boolean }) {
    const running = pod.status?.containerStatuses?.[0];
    const started = running?.state?.running?.startedAt ?? pod.status?.startTime ?? exit.at;
    pod.status = {
      ...pod.status,
      phase: exit.code === 0 && !extra?.disruption ? "Succeeded" : "Failed",
      ...(extra ? { reason: extra.reason, message: extra.message } : {}),
      conditions: [
        { type: "Ready", status: "False", reason: "PodCompleted" },
        ...(extra?.disruption ? [{ type: "DisruptionTarget", status: "True", reason: extra.reason, message: extra.message }] : []),
      ],
      containerStatuses: [
        { ...(running ?? { name: "worker" }), state: { terminated: { exitCode: exit.code, reason: exit.code === 0 ? "Completed" : "Error", startedAt: started, finishedAt: exit.at } } },
      ],
    };
  }

  /** One Job: the Job controller's sync (job_controller.go syncJob) for an Indexed Job, on the files. */
  async function reconcile(env: LocalJobRunnerEnvironment, name: string): Promise<{ requestId: string; finishedAt: number | null; ttl: number | undefined } | undefined> {
    const file = await readJobFile(env.stateDir, name);
    if (!file) return undefined;
    const spec = file.job.spec as unknown as JobSpec;
    const st: LocalJobStatusFile = (await readStatusFile(env.stateDir, name)) ?? { status: {}, pods: [], processes: {} };
    const before = JSON.stringify(st);
    const control = await readControl(env.stateDir, name);
    const grace = spec.template.spec.terminationGracePeriodSeconds ?? 30;
    const requestId = file.job.metadata.labels[labels.request] ?? "";

    // Pods whose process ended, and pods whose process is not this runner's (it was restarted).
    for (const pod of st.pods.filter(isActive)) {
      const proc = procs.get(key(env.stateDir, pod.metadata.name));
      if (proc?.exit) {
        terminatedPod(pod, proc.exit, proc.killedFor);
        procs.delete(key(env.stateDir, pod.metadata.name));
        delete st.processes[pod.metadata.name];
      } else if (!proc) {
        // A killed runner leaves its workers running (their own process groups): stop them before
        // the index runs again. The pid is checked against the pod's marker, never trusted alone.
        const recorded = st.processes[pod.metadata.name];
        const pids = recorded && !processAlive(recorded) ? [] : await podProcesses(pod.metadata.name);
        for (const pid of pids) {
          for (const target of [-pid, pid]) {
            try {
              process.kill(target, "SIGKILL");
              break;
            } catch {
              // not a group leader, or already gone
            }
          }
        }
        terminatedPod(pod, { code: 137, at: kubeTime() }, { reason: "DeletionByPodGC", message: "the local job runner restarted while this attempt ran", disruption: true });
        delete st.processes[pod.metadata.name];
      }
    }

    if (control.deletion) {
      const running = st.pods.filter(isActive);
      for (const pod of running) {
        const proc = procs.get(key(env.stateDir, pod.metadata.name));
        if (proc) terminate(proc, grace, { reason: "Deleted", message: "the request was cancelled", disruption: false });
      }
      if (!running.length) {
        await removeJobDir(env.stateDir, name);
        opts.log.info({ job: name, environment: env.name }, "local Job deleted");
        return undefined;
      }
      if (JSON.stringify(st) !== before) await writeStatusFile(env.stateDir, name, st);
      return { requestId, finishedAt: null, ttl: undefined };
    }

    const terminal = () => conditionTrue({ status: st.status }, "Complete") ?? conditionTrue({ status: st.status }, "Failed");
    if (!terminal()) syncJob(env, file, st, spec, grace);
    const next = await startPods(env, file, st, spec);
    if (JSON.stringify(st) !== before) await writeStatusFile(env.stateDir, name, st);
    if (next !== undefined) wakeAt = Math.min(wakeAt, next);
    const done = terminal();
    return { requestId, finishedAt: done ? Date.parse(String(done.lastTransitionTime)) : null, ttl: spec.ttlSecondsAfterFinished };
  }

  /** Status and conditions from the pods (indexed_job_utils.go, pod_failure_policy.go). */
  function syncJob(env: LocalJobRunnerEnvironment, file: LocalJobFile, st: LocalJobStatusFile, spec: JobSpec, grace: number) {
    const status = st.status;
    const job = { ...file.job, status };
    const completions = spec.completions ?? 0;
    status.startTime ??= kubeTime();
    const completed = new Set(parseIndexes(status.completedIndexes, completions));
    const failed = new Set(parseIndexes(status.failedIndexes, completions));
    let counted = 0;
    let failure: { reason: string; message: string } | undefined;
    for (const pod of st.pods) {
      const ix = indexOf(pod);
      if (ix < 0 || ix >= completions) continue;
      if (phaseOf(pod) === "Succeeded") completed.add(ix);
      if (phaseOf(pod) !== "Failed" || pod.status?.reason === "JobFailed") continue;
      const rule = matchPodFailurePolicy(job, pod);
      if (rule?.action !== "Ignore") counted++;
      if (rule?.action === "FailJob") failure ??= { reason: "PodFailurePolicy", message: `Container worker for pod ${pod.metadata.name} failed with exit code matching FailJob rule` };
      if (rule?.action === "FailIndex" || (rule?.action !== "Ignore" && count(pod, batchKeys.indexFailureCount) >= (spec.backoffLimitPerIndex ?? 0))) failed.add(ix);
    }
    for (const ix of completed) failed.delete(ix);
    const existing = status.conditions?.find((c) => c.type === "FailureTarget" && c.status === "True");
    if (existing) failure = { reason: existing.reason ?? "", message: existing.message ?? "" };
    if (!failure && spec.activeDeadlineSeconds !== undefined && Date.now() - Date.parse(status.startTime as string) >= spec.activeDeadlineSeconds * 1000) failure = { reason: "DeadlineExceeded", message: "Job was active longer than specified deadline" };
    if (!failure && spec.maxFailedIndexes !== undefined && failed.size > spec.maxFailedIndexes) failure = { reason: "MaxFailedIndexesExceeded", message: "Job has exceeded the specified maximal number of failed indexes" };
    if (!failure && failed.size > 0 && failed.size + completed.size >= completions) failure = { reason: "FailedIndexes", message: "Job has failed indexes" };
    const active = st.pods.filter(isActive);
    if (failure) {
      setCondition(status, "FailureTarget", failure.reason, failure.message);
      // The controller deletes the active pods, then declares the Job failed once they are gone.
      for (const pod of active) {
        const proc = procs.get(key(env.stateDir, pod.metadata.name));
        if (proc) terminate(proc, grace, { reason: "JobFailed", message: `the Job failed (${failure.reason})`, disruption: false });
      }
      if (!active.length) setCondition(status, "Failed", failure.reason, failure.message);
    } else if (completed.size >= completions && !active.length) {
      setCondition(status, "SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods");
      setCondition(status, "Complete", "CompletionsReached", "Reached expected number of succeeded pods");
      status.completionTime = kubeTime();
    }
    Object.assign(status, {
      active: active.length,
      ready: active.filter((p) => phaseOf(p) === "Running").length,
      failed: counted,
      succeeded: completed.size,
      terminating: 0,
      completedIndexes: formatIndexes(completed),
      ...(spec.backoffLimitPerIndex !== undefined ? { failedIndexes: formatIndexes(failed) } : {}),
    });
  }

  /** New pods for pending indexes, up to parallelism; returns when a retry's backoff ends, if one waits. */
  async function startPods(env: LocalJobRunnerEnvironment, file: LocalJobFile, st: LocalJobStatusFile, spec: JobSpec): Promise<number | undefined> {
    const status = st.status;
    if (jobFinished({ status })) return undefined;
    const name = file.job.metadata.name;
    const completions = spec.completions ?? 0;
    const completed = new Set(parseIndexes(status.completedIndexes, completions));
    const failed = new Set(parseIndexes(status.failedIndexes, completions));
    const active = new Set(st.pods.filter(isActive).map(indexOf));
    let room = (spec.parallelism ?? 1) - active.size;
    let next: number | undefined;
    if (spec.activeDeadlineSeconds !== undefined && status.startTime) next = Date.parse(status.startTime as string) + spec.activeDeadlineSeconds * 1000;
    for (let ix = 0; ix < completions && room > 0; ix++) {
      if (completed.has(ix) || failed.has(ix) || active.has(ix)) continue;
      const previous = st.pods.filter((p) => indexOf(p) === ix).sort((a, b) => priorFailures(a) - priorFailures(b)).pop();
      let failures = 0;
      let ignored = 0;
      if (previous) {
        failures = count(previous, batchKeys.indexFailureCount);
        ignored = count(previous, batchKeys.indexIgnoredFailureCount);
        if (matchPodFailurePolicy({ ...file.job, status }, previous)?.action === "Ignore") ignored++;
        else failures++;
        // Kubernetes waits 10 s, 20 s, 40 s ... (at most 6 min) before an index's next pod.
        const finishedAt = Date.parse(String(previous.status?.containerStatuses?.[0]?.state?.terminated?.finishedAt ?? ""));
        const due = finishedAt + Math.min(backoff.maxSeconds, backoff.initialSeconds * 2 ** (failures + ignored - 1)) * 1000;
        if (Number.isFinite(due) && due > Date.now()) {
          next = Math.min(next ?? due, due);
          continue;
        }
      }
      const template = spec.template;
      const podName = `${name}-${ix}-${randomBytes(3).toString("hex").slice(0, 5)}`;
      const pod: Pod = {
        metadata: {
          name: podName,
          labels: { ...template.metadata?.labels, [batchKeys.completionIndex]: String(ix), [batchKeys.jobName]: name, [batchKeys.controllerUid]: file.job.metadata.uid },
          annotations: {
            ...template.metadata?.annotations,
            [batchKeys.completionIndex]: String(ix),
            [batchKeys.indexFailureCount]: String(failures),
            ...(ignored ? { [batchKeys.indexIgnoredFailureCount]: String(ignored) } : {}),
            // The spec's image is the digest deployed in the environment; one machine runs its checkout.
            [localRunAnnotation]: opts.command ? "a test command" : `the local checkout (node ${opts.cli})`,
          },
          creationTimestamp: kubeTime(),
        },
        status: { phase: "Pending" },
      };
      // Recorded before its process starts: a runner killed in between finds the pod and its process.
      st.pods.push(pod);
      await writeStatusFile(env.stateDir, name, st);
      const started = await startProcess(env, file, pod, failures + ignored + 1);
      const container = template.spec.containers[0]!;
      if (started.error) {
        terminatedPod(pod, { code: 128, at: kubeTime() });
        pod.status = { ...pod.status, reason: "CreateContainerConfigError", message: started.error };
        opts.log.warn({ job: name, pod: podName, environment: env.name }, started.error);
      } else {
        st.processes[podName] = started.pid!;
        const now = kubeTime();
        pod.status = {
          phase: "Running",
          startTime: now,
          conditions: [{ type: "Ready", status: "True" }],
          containerStatuses: [{ name: container.name, state: { running: { startedAt: now } } }],
        };
        Object.assign(pod.status.containerStatuses![0]!, { image: container.image, imageID: container.image, ready: true, started: true, restartCount: 0 });
      }
      room--;
    }
    status.active = st.pods.filter(isActive).length;
    return next;
  }

  let wakeAt = Date.now();

  async function step() {
    for (const env of opts.environments) {
      const groups = new Map<string, { finishedAt: number | null; ttl: number | undefined; names: string[] }[]>();
      for (const name of await listJobNames(env.stateDir)) {
        try {
          const r = await reconcile(env, name);
          if (r) groups.set(r.requestId, [...(groups.get(r.requestId) ?? []), { ...r, names: [name] }]);
        } catch (err) {
          opts.log.warn({ err, job: name, environment: env.name }, "local job runner: reconciling a Job failed; retrying at the next poll");
        }
      }
      // ttlSecondsAfterFinished for a request's Jobs together, from the last one to finish.
      for (const [requestId, jobs] of groups) {
        if (jobs.some((j) => j.finishedAt === null)) continue;
        const ttl = jobs[jobs.length - 1]!.ttl;
        if (ttl === undefined) continue;
        const expires = Math.max(...jobs.map((j) => j.finishedAt!)) + ttl * 1000;
        if (Date.now() < expires) {
          wakeAt = Math.min(wakeAt, expires);
          continue;
        }
        for (const j of jobs) for (const n of j.names) await removeJobDir(env.stateDir, n);
        opts.log.info({ requestId, environment: env.name }, "local Jobs removed after ttlSecondsAfterFinished");
      }
    }
  }

  const loop = (async () => {
    while (!stopped) {
      kicked = false;
      wakeAt = Date.now() + pollMs;
      try {
        await step();
      } catch (err) {
        opts.log.warn({ err }, "local job runner step failed; retrying");
      }
      if (stopped) break;
      const wait = Math.min(wakeAt, Date.now() + pollMs) - Date.now();
      if (wait > 0 && !kicked) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    }
  })();

  return {
    kick,
    async stop() {
      if (stopped) return;
      stopped = true;
      wake?.();
      await loop;
      // The running attempts end as disruptions: a restarted runner retries them without counting.
      const byEnv = opts.environments.map((env) => ({ env, running: [...procs.entries()].filter(([k]) => k.startsWith(`${env.stateDir}\n`)).map(([, p]) => p) }));
      for (const { running } of byEnv) for (const p of running) terminate(p, 10, { reason: "TerminationByKubelet", message: "the local job runner stopped", disruption: true });
      await Promise.all([...procs.values()].map((p) => p.done));
      for (const { env } of byEnv) {
        for (const name of await listJobNames(env.stateDir)) {
          const st = await readStatusFile(env.stateDir, name).catch(() => undefined);
          if (!st) continue;
          let changed = false;
          for (const pod of st.pods.filter(isActive)) {
            const proc = procs.get(key(env.stateDir, pod.metadata.name));
            if (!proc?.exit) continue;
            terminatedPod(pod, proc.exit, proc.killedFor);
            delete st.processes[pod.metadata.name];
            changed = true;
          }
          if (changed) await writeStatusFile(env.stateDir, name, st);
        }
      }
      procs.clear();
      await Promise.all(releases.map((r) => r()));
    },
  };
}
