import "server-only";
import fs from "node:fs/promises";
import path from "node:path";
import { AppError } from "../../errors";
import type { ClusterPort, ClusterWatchError, JobEvent } from "./index";
import { buildGeomedianJob, jobNameFor, labels, taskIndexesKey, taskListKey, type JobSettings } from "./job-manifest";
import { jobStatusOf, sortRequestJobs, taskStatesOf, type RequestJob } from "./job-state";
import { attemptOf, checkRetryIndexes, followUpSpec, refOf, retriedTaskIds } from "./jobs-common";
import {
  createJobDir,
  jobDir,
  listJobNames,
  logFile,
  parseLogLine,
  readControl,
  readJobFile,
  readStatusFile,
  taskVolumeDir,
  writeControl,
} from "./local-jobs-state";

type JobMethods = Pick<ClusterPort, "submitJob" | "jobStatus" | "watchJobs" | "taskStates" | "streamLogs" | "cancelJob" | "retryTasks">;

export interface LocalJobsOptions {
  stateDir: string;
  /** Namespace the Jobs report (the local Flux's pods use the same); default `piksel`. */
  namespace: string;
  settings: JobSettings;
  /** How often watches and followed logs look at the files. */
  pollIntervalMs: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * The geomedian Job methods of the local cluster driver: submit and cancel write the files of
 * local-jobs-state.ts; the runner of the `piksel start` parent runs what they describe; everything
 * else reads them and maps them with the same code as the Kubernetes driver (job-state.ts).
 */
export function createLocalJobs(opts: LocalJobsOptions): JobMethods {
  const { stateDir, namespace, settings } = opts;

  async function requestJobs(requestId: string): Promise<(RequestJob & { name: string })[]> {
    const base = jobNameFor(requestId);
    const names = (await listJobNames(stateDir)).filter((n) => n === base || n.startsWith(`${base}-r`));
    const out: (RequestJob & { name: string })[] = [];
    for (const name of names) {
      const file = await readJobFile(stateDir, name);
      if (!file || file.job.metadata.labels[labels.request] !== requestId) continue;
      const [status, control] = await Promise.all([readStatusFile(stateDir, name), readControl(stateDir, name)]);
      const retry = Number(file.job.metadata.labels[labels.retry] ?? 0);
      const indexes = retry ? (await fs.readFile(path.join(taskVolumeDir(stateDir, name), taskIndexesKey), "utf8").catch(() => "")).split("\n").filter(Boolean).map(Number) : null;
      out.push({
        name,
        job: { ...file.job, metadata: { ...file.job.metadata, ...(control.deletion ? { deletionTimestamp: control.deletion.requestedAt } : {}) }, status: status?.status ?? {} },
        pods: status?.pods ?? [],
        indexes,
      });
    }
    return sortRequestJobs(out);
  }

  /** The request of each Job directory: a Job's name derives from its request id, so this never changes. */
  const requestOf = new Map<string, string>();

  /** A request's files in a form that changes whenever what the port reports may have changed. */
  async function signatures(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const name of await listJobNames(stateDir)) {
      let requestId = requestOf.get(name);
      if (!requestId) {
        requestId = (await readJobFile(stateDir, name).catch(() => undefined))?.job.metadata.labels[labels.request];
        if (!requestId) continue;
        requestOf.set(name, requestId);
      }
      const stamp = async (f: string) => {
        const s = await fs.stat(path.join(jobDir(stateDir, name), f)).catch(() => undefined);
        return s ? `${s.mtimeMs}:${s.size}` : "-";
      };
      out.set(requestId, `${out.get(requestId) ?? ""}|${name}:${await stamp("status.json")}:${await stamp("control.json")}`);
    }
    return out;
  }

  return {
    async submitJob(spec) {
      const built = buildGeomedianJob(spec, settings, namespace);
      const { file, created } = await createJobDir(stateDir, built, spec.requestId);
      if (!created && (await readControl(stateDir, built.name)).deletion) {
        throw new AppError("CONFLICT", `Job ${built.name} of request ${spec.requestId} is being deleted (cancelled); it cannot be submitted again under the same id`);
      }
      return refOf(file.job);
    },

    async jobStatus(ref) {
      const jobs = await requestJobs(ref.requestId);
      return jobs.length ? jobStatusOf(ref, jobs) : null;
    },

    watchJobs(selector, onEvent, onError) {
      let stopped = false;
      let last: Map<string, string> | undefined;
      const report = (err: unknown) => {
        if (stopped || !onError) return;
        const e: ClusterWatchError = err instanceof Error ? err : new Error(String(err));
        e.message = `local jobs ${stateDir}: ${e.message}`;
        onError(e);
      };
      // Polling, not fs.watch: the runner rewrites status.json by rename in many directories, which
      // a directory watch does not see without recursion (not portable on Node 20).
      const loop = async () => {
        while (!stopped) {
          try {
            const now = await signatures();
            if (stopped) return;
            const emit = (e: JobEvent) => (!selector.requestId || e.requestId === null || e.requestId === selector.requestId) && onEvent(e);
            if (!last) {
              emit({ kind: "job", requestId: null });
              emit({ kind: "pod", requestId: null });
            } else {
              for (const id of new Set([...now.keys(), ...last.keys()])) {
                if (now.get(id) === last.get(id)) continue;
                emit({ kind: "job", requestId: id });
                emit({ kind: "pod", requestId: id });
              }
            }
            last = now;
          } catch (err) {
            report(err);
          }
          await sleep(opts.pollIntervalMs);
        }
      };
      void loop();
      return () => {
        stopped = true;
      };
    },

    async taskStates(ref) {
      const jobs = await requestJobs(ref.requestId);
      return jobs.length ? taskStatesOf(jobs) : null;
    },

    streamLogs(ref, index, logOpts = {}) {
      return (async function* () {
        const attempt = attemptOf(await requestJobs(ref.requestId), index, logOpts.attempt);
        const job = attempt.job.metadata!.name!;
        const pod = attempt.pod.metadata!.name!;
        const file = logFile(stateDir, job, pod);
        const since = logOpts.sinceTime ? Date.parse(logOpts.sinceTime) : undefined;
        const keep = (line: string) => {
          const parsed = parseLogLine(line);
          if (!parsed) return undefined;
          return since !== undefined && Date.parse(parsed.time) < since ? undefined : parsed.text;
        };
        let offset = 0;
        let partial = "";
        const readNew = async (): Promise<string[]> => {
          let handle: fs.FileHandle;
          try {
            handle = await fs.open(file, "r");
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
            throw err;
          }
          try {
            const { size } = await handle.stat();
            if (size <= offset) return [];
            const buffer = Buffer.alloc(size - offset);
            await handle.read(buffer, 0, buffer.length, offset);
            offset = size;
            const text = partial + buffer.toString("utf8");
            const lines = text.split("\n");
            partial = lines.pop()!;
            return lines.flatMap((l) => keep(l) ?? []);
          } finally {
            await handle.close();
          }
        };
        const ended = async () => {
          const status = await readStatusFile(stateDir, job);
          const p = status?.pods.find((x) => x.metadata.name === pod);
          return !p || ["Succeeded", "Failed"].includes(p.status?.phase ?? "");
        };
        let lines = await readNew();
        if (logOpts.tailLines !== undefined) lines = logOpts.tailLines > 0 ? lines.slice(-logOpts.tailLines) : [];
        for (const l of lines) yield l;
        if (!logOpts.follow) return;
        while (!logOpts.signal?.aborted) {
          // The status is read before the file: lines written before the pod ended are all in it then.
          const done = await ended();
          for (const l of await readNew()) yield l;
          if (done) return;
          await sleep(Math.min(opts.pollIntervalMs, 250), logOpts.signal);
        }
      })();
    },

    async cancelJob(ref) {
      for (const { name, job } of await requestJobs(ref.requestId)) {
        if (job.metadata?.deletionTimestamp) continue;
        await writeControl(stateDir, name, { deletion: { requestedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"), propagationPolicy: "Foreground" } });
      }
    },

    async retryTasks(ref, indexes, { retry }) {
      const wanted = checkRetryIndexes(indexes, retry, ref.tasks);
      const jobs = await requestJobs(ref.requestId);
      const own = jobs.find((j) => !j.indexes);
      if (!own) throw new AppError("NOT_FOUND", `request ${ref.requestId} has no Job any more (cancelled, or removed after its TTL)`);
      const name = jobNameFor(ref.requestId, retry);
      const existing = jobs.find((j) => j.name === name);
      if (existing) {
        if (JSON.stringify(existing.indexes) !== JSON.stringify(wanted)) {
          throw new AppError("CONFLICT", `retry ${retry} of request ${ref.requestId} already ran tasks ${existing.indexes?.join(", ")}; ask for the next retry number`);
        }
        return { name, retry, indexes: wanted };
      }
      const list = await fs.readFile(path.join(taskVolumeDir(stateDir, own.name), taskListKey), "utf8");
      const taskIds = retriedTaskIds(list, wanted, taskStatesOf(jobs));
      const built = buildGeomedianJob(followUpSpec(own.job, taskIds), settings, namespace, { retry, of: own.name, indexes: wanted, requestTasks: ref.tasks });
      await createJobDir(stateDir, built, ref.requestId);
      return { name, retry, indexes: wanted };
    },
  };
}
