import "server-only";
import { BatchV1Api, CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Job, type V1Pod } from "@kubernetes/client-node";
import { AppError } from "../../errors";
import { withTimeout } from "../port";
import { KubernetesApiError, toKubernetesApiError } from "./api-error";
import type { ClusterPort, GeomedianJobSpec, JobEvent, JobRef } from "./index";
import {
  annotations,
  appName,
  buildGeomedianJob,
  jobNameFor,
  labels,
  managedBy,
  taskIndexesKey,
  taskListKey,
  taskListName,
  workerContainer,
  type BuiltJob,
  type JobSettings,
} from "./job-manifest";
import { jobStatusOf, sortRequestJobs, taskStatesOf, type JobObject, type JobPodObject, type RequestJob } from "./job-state";
import { startListWatch, type WatchedObject } from "./list-watch";
import { attemptOf, checkRetryIndexes, followUpSpec, refOf, retriedTaskIds } from "./jobs-common";
import { streamLines } from "./stream-request";

type JobMethods = Pick<ClusterPort, "submitJob" | "jobStatus" | "watchJobs" | "taskStates" | "streamLogs" | "cancelJob" | "retryTasks">;

export interface KubernetesJobsOptions {
  kc: KubeConfig;
  namespace: string;
  settings: JobSettings;
  /** Bounded retries of a submit's calls on 5xx, 429 and network errors; tests shorten the delays. */
  submitRetry?: { attempts: number; initialMs: number; maxMs: number };
  watchBackoff?: { initialMs: number; maxMs: number };
  /** How often a followed log waits for its pod to start; default 1 s. */
  logPollMs?: number;
}

/** One call to the API server must not hang a submit: give up and retry (the retry is idempotent). */
const callTimeoutMs = 30_000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/** The seconds of a Retry-After header (what kube-apiserver sends with 429 and some 503s). */
function retryAfterMs(err: unknown): number | undefined {
  const headers = (err as { headers?: Record<string, string> } | undefined)?.headers;
  const value = headers?.["retry-after"] ?? headers?.["Retry-After"];
  const seconds = Number(value);
  return value !== undefined && Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 10) * 1000 : undefined;
}

/** The Geomedian Job methods of the Kubernetes cluster driver (kubernetes.ts), through BatchV1Api and CoreV1Api. */
export function createKubernetesJobs(opts: KubernetesJobsOptions): JobMethods {
  const { kc, namespace, settings } = opts;
  const server = kc.getCurrentCluster()?.server ?? "(in-cluster)";
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const retry = opts.submitRetry ?? { attempts: 5, initialMs: 500, maxMs: 8000 };
  const requestSelector = (requestId: string) => `${labels.request}=${requestId},${labels.managedBy}=${managedBy}`;
  /** Follow-up Jobs' index lists, by Job uid: a ConfigMap is immutable, so it is read once. */
  const indexCache = new Map<string, number[]>();

  /** Retries a call that may be retried safely (every step of a submit is idempotent). */
  async function retried<T>(what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await withTimeout(call(), callTimeoutMs, what);
      } catch (err) {
        if (err instanceof AppError) throw err;
        const e = toKubernetesApiError(err, server, what);
        const transient = e.status === undefined || e.status === 429 || e.status >= 500;
        if (!transient || attempt >= retry.attempts) {
          if (!transient) throw e;
          throw new KubernetesApiError(`${e.message} (gave up after ${attempt} attempts)`, e.status, e.reason, e.details, { cause: e });
        }
        const backoff = Math.min(retry.maxMs, retry.initialMs * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
        await sleep(retryAfterMs(err) ?? backoff);
      }
    }
  }

  const isStatus = (err: unknown, status: number) => toKubernetesApiError(err, server, "").status === status;

  async function listJobs(requestId: string): Promise<V1Job[]> {
    try {
      return (await batch.listNamespacedJob({ namespace, labelSelector: requestSelector(requestId) })).items;
    } catch (err) {
      throw toKubernetesApiError(err, server, `list the Jobs of request ${requestId}`);
    }
  }

  async function listPods(requestId: string): Promise<V1Pod[]> {
    const pods: V1Pod[] = [];
    let next: string | undefined;
    try {
      // Paged like kubectl: a request of 1 000 tasks with retries has thousands of pods.
      do {
        const page = await core.listNamespacedPod({ namespace, labelSelector: requestSelector(requestId), limit: 500, _continue: next });
        pods.push(...page.items);
        next = page.metadata?._continue || undefined;
      } while (next);
    } catch (err) {
      throw toKubernetesApiError(err, server, `list the pods of request ${requestId}`);
    }
    return pods;
  }

  async function readTaskList(jobName: string): Promise<V1ConfigMap> {
    try {
      return await core.readNamespacedConfigMap({ namespace, name: taskListName(jobName) });
    } catch (err) {
      throw toKubernetesApiError(err, server, `read the task list of Job ${namespace}/${jobName}`);
    }
  }

  /** The request's index of each of a follow-up's indexes (null for the request's own Job). */
  async function indexesOf(job: V1Job): Promise<number[] | null> {
    if (!Number(job.metadata?.labels?.[labels.retry] ?? 0)) return null;
    const uid = job.metadata!.uid!;
    let cached = indexCache.get(uid);
    if (!cached) {
      const cm = await readTaskList(job.metadata!.name!);
      cached = (cm.data?.[taskIndexesKey] ?? "").split("\n").filter(Boolean).map(Number);
      indexCache.set(uid, cached);
    }
    return cached;
  }

  async function requestJobs(requestId: string, withPods: boolean): Promise<RequestJob[]> {
    const [jobs, pods] = await Promise.all([listJobs(requestId), withPods ? listPods(requestId) : Promise.resolve([])]);
    const out: RequestJob[] = [];
    for (const job of jobs) {
      const uid = job.metadata?.uid;
      out.push({
        job: job as JobObject,
        indexes: await indexesOf(job),
        // The controller's own label (batch.kubernetes.io/controller-uid) and owner reference both name the Job.
        pods: pods.filter((p) => p.metadata?.ownerReferences?.some((o) => o.uid === uid)) as JobPodObject[],
      });
    }
    return sortRequestJobs(out);
  }

  /**
   * Creates the task list and the Job, each idempotently (409 AlreadyExists: read it back and check it
   * is the same request's same plan), then makes the Job own the task list so the garbage collector
   * removes it with the Job. The list comes first so that no pod ever waits for a missing volume; a
   * crash between the steps is repaired by the next submit of the same request.
   */
  async function createObjects(built: BuiltJob, requestId: string): Promise<V1Job> {
    const cmName = built.configMap.metadata.name;
    await retried(`create ConfigMap ${namespace}/${cmName}`, async () => {
      try {
        await core.createNamespacedConfigMap({ namespace, body: built.configMap, fieldValidation: "Strict" });
      } catch (err) {
        if (!isStatus(err, 409)) throw err;
        const existing = await core.readNamespacedConfigMap({ namespace, name: cmName });
        if (existing.metadata?.labels?.[labels.request] !== requestId || existing.metadata?.labels?.[labels.managedBy] !== managedBy) {
          throw new AppError("CONFLICT", `a ConfigMap named ${namespace}/${cmName} exists and is not request ${requestId}'s; it is left alone`);
        }
        if (existing.metadata?.annotations?.[annotations.tasksSha256] !== built.tasksSha256) {
          throw new AppError("CONFLICT", `request ${requestId} was already submitted as Job ${namespace}/${built.name} with a different task list`);
        }
      }
    });
    const job = await retried(`create Job ${namespace}/${built.name}`, async () => {
      try {
        return await batch.createNamespacedJob({ namespace, body: built.job, fieldValidation: "Strict" });
      } catch (err) {
        if (!isStatus(err, 409)) throw err;
        const existing = await batch.readNamespacedJob({ namespace, name: built.name });
        const l = existing.metadata?.labels ?? {};
        if (l[labels.request] !== requestId || l[labels.managedBy] !== managedBy) {
          throw new AppError("CONFLICT", `a Job named ${namespace}/${built.name} exists and is not request ${requestId}'s; it is left alone`);
        }
        if (existing.metadata?.annotations?.[annotations.tasksSha256] !== built.tasksSha256) {
          throw new AppError("CONFLICT", `request ${requestId} was already submitted as Job ${namespace}/${built.name} with a different task list`);
        }
        if (existing.metadata?.deletionTimestamp) {
          throw new AppError("CONFLICT", `Job ${namespace}/${built.name} of request ${requestId} is being deleted (cancelled); it cannot be submitted again under the same id`);
        }
        return existing;
      }
    });
    await retried(`set the owner of ConfigMap ${namespace}/${cmName}`, async () => {
      const cm = await core.readNamespacedConfigMap({ namespace, name: cmName });
      if (cm.metadata?.ownerReferences?.some((o) => o.uid === job.metadata?.uid)) return;
      const owner = { apiVersion: "batch/v1", kind: "Job", name: built.name, uid: job.metadata!.uid! };
      const body = cm.metadata?.ownerReferences?.length ? [{ op: "add", path: "/metadata/ownerReferences/-", value: owner }] : [{ op: "add", path: "/metadata/ownerReferences", value: [owner] }];
      await core.patchNamespacedConfigMap({ namespace, name: cmName, body });
    });
    return job;
  }

  /**
   * Keeps a request's earlier Jobs as long as its newest: the TTL controller would otherwise remove the
   * request's own Job (and with it the record of its tasks) while a follow-up still runs. Their TTL is
   * removed and the newest Job becomes an owner, so deleting it (TTL, cancel) takes them along.
   */
  async function chainToNewest(jobs: V1Job[], newest: V1Job) {
    for (const job of jobs) {
      if (job.metadata?.uid === newest.metadata?.uid) continue;
      const name = job.metadata!.name!;
      const ops: unknown[] = [];
      if (job.spec?.ttlSecondsAfterFinished !== undefined && job.spec?.ttlSecondsAfterFinished !== null) ops.push({ op: "remove", path: "/spec/ttlSecondsAfterFinished" });
      if (!job.metadata?.ownerReferences?.some((o) => o.uid === newest.metadata?.uid)) {
        const owner = { apiVersion: "batch/v1", kind: "Job", name: newest.metadata!.name!, uid: newest.metadata!.uid! };
        ops.push(job.metadata?.ownerReferences?.length ? { op: "add", path: "/metadata/ownerReferences/-", value: owner } : { op: "add", path: "/metadata/ownerReferences", value: [owner] });
      }
      if (ops.length) await retried(`chain Job ${namespace}/${name} to ${newest.metadata!.name}`, () => batch.patchNamespacedJob({ namespace, name, body: ops }));
    }
  }

  const newestOf = (jobs: V1Job[]) => sortRequestJobs(jobs.map((job) => ({ job: job as JobObject }))).pop()!.job as V1Job;
  const emit = (onEvent: (e: JobEvent) => void, kind: JobEvent["kind"]) => (object?: WatchedObject) => onEvent({ kind, requestId: object?.metadata?.labels?.[labels.request] ?? null });

  return {
    async submitJob(spec: GeomedianJobSpec) {
      const built = buildGeomedianJob(spec, settings, namespace);
      return refOf(await createObjects(built, spec.requestId));
    },

    async jobStatus(ref) {
      const jobs = await requestJobs(ref.requestId, false);
      if (!jobs.length) return null;
      return jobStatusOf(ref, jobs);
    },

    watchJobs(selector, onEvent, onError) {
      const labelSelector = `${labels.name}=${appName},${labels.managedBy}=${managedBy}${selector.requestId ? `,${labels.request}=${selector.requestId}` : ""}`;
      const report = (error: KubernetesApiError) => onError?.(error);
      const stops = [
        startListWatch({
          kc,
          what: `geomedian Jobs in namespace ${namespace}`,
          path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
          labelSelector,
          async list() {
            return (await batch.listNamespacedJob({ namespace, labelSelector, limit: 1 })).metadata?.resourceVersion ?? "";
          },
          onChange: emit(onEvent, "job"),
          onError: report,
          backoff: opts.watchBackoff,
        }),
        startListWatch({
          kc,
          what: `geomedian pods in namespace ${namespace}`,
          path: `/api/v1/namespaces/${namespace}/pods`,
          labelSelector,
          async list() {
            return (await core.listNamespacedPod({ namespace, labelSelector, limit: 1 })).metadata?.resourceVersion ?? "";
          },
          onChange: emit(onEvent, "pod"),
          onError: report,
          backoff: opts.watchBackoff,
        }),
      ];
      return () => stops.forEach((stop) => stop());
    },

    async taskStates(ref) {
      const jobs = await requestJobs(ref.requestId, true);
      return jobs.length ? taskStatesOf(jobs) : null;
    },

    streamLogs(ref, index, logOpts = {}) {
      return (async function* () {
        const jobs = await requestJobs(ref.requestId, true);
        const attempt = attemptOf(jobs, index, logOpts.attempt);
        let pod = attempt.pod as V1Pod;
        const name = pod.metadata!.name!;
        const started = (p: V1Pod) => p.status?.containerStatuses?.some((c) => c.name === workerContainer && (c.state?.running || c.state?.terminated));
        // The kubelet has no log before the container starts (the API answers 400 "waiting to start").
        while (!started(pod)) {
          if (!logOpts.follow || logOpts.signal?.aborted) return;
          await sleep(opts.logPollMs ?? 1000, logOpts.signal);
          try {
            pod = await core.readNamespacedPod({ namespace, name });
          } catch (err) {
            if (isStatus(err, 404)) return;
            throw toKubernetesApiError(err, server, `read pod ${namespace}/${name}`);
          }
          if (pod.metadata?.deletionTimestamp && !started(pod)) return;
        }
        const query: Record<string, string> = { container: workerContainer, follow: String(!!logOpts.follow) };
        if (logOpts.tailLines !== undefined) query.tailLines = String(logOpts.tailLines);
        if (logOpts.sinceTime) query.sinceTime = logOpts.sinceTime;
        yield* streamLines(kc, `/api/v1/namespaces/${namespace}/pods/${name}/log`, query, `logs of pod ${namespace}/${name}`, logOpts.signal);
      })();
    },

    async cancelJob(ref) {
      const jobs = await listJobs(ref.requestId);
      // Foreground: each Job stays (with a deletionTimestamp, so the console shows "cancelling") until
      // the garbage collector has deleted its pods and task list, then goes. batch/v1 Jobs orphan their
      // pods when no policy is given (registry/batch/job strategy DefaultGarbageCollectionPolicy).
      for (const job of jobs) {
        const name = job.metadata!.name!;
        if (job.metadata?.deletionTimestamp) continue;
        await retried(`delete Job ${namespace}/${name}`, async () => {
          try {
            await batch.deleteNamespacedJob({ namespace, name, propagationPolicy: "Foreground" });
          } catch (err) {
            if (!isStatus(err, 404)) throw err;
          }
        });
      }
      // A task list created by a submit that crashed before its Job has no owner to go with.
      let lists: V1ConfigMap[] = [];
      try {
        lists = (await core.listNamespacedConfigMap({ namespace, labelSelector: requestSelector(ref.requestId) })).items;
      } catch (err) {
        throw toKubernetesApiError(err, server, `list the task lists of request ${ref.requestId}`);
      }
      for (const cm of lists.filter((c) => !c.metadata?.ownerReferences?.length)) {
        await core.deleteNamespacedConfigMap({ namespace, name: cm.metadata!.name! }).catch((err: unknown) => {
          if (!isStatus(err, 404)) throw toKubernetesApiError(err, server, `delete ConfigMap ${namespace}/${cm.metadata!.name}`);
        });
      }
    },

    async retryTasks(ref: JobRef, indexes, { retry: number }) {
      const name = jobNameFor(ref.requestId, number);
      const wanted = checkRetryIndexes(indexes, number, ref.tasks);
      const jobs = await requestJobs(ref.requestId, true);
      const own = jobs.find((j) => !j.indexes);
      if (!own) throw new AppError("NOT_FOUND", `request ${ref.requestId} has no Job any more (cancelled, or removed after its TTL)`);
      const existing = jobs.find((j) => j.job.metadata?.name === name);
      if (!existing) {
        const states = taskStatesOf(jobs);
        const taskIds = retriedTaskIds((await readTaskList(own.job.metadata!.name!)).data?.[taskListKey] ?? "", wanted, states);
        const built = buildGeomedianJob(followUpSpec(own.job, taskIds), settings, namespace, { retry: number, of: own.job.metadata!.name!, indexes: wanted, requestTasks: ref.tasks });
        const created = await createObjects(built, ref.requestId);
        const all = [...jobs.map((j) => j.job as V1Job), created];
        await chainToNewest(all, newestOf(all));
        return { name, retry: number, indexes: wanted };
      }
      if (JSON.stringify(existing.indexes) !== JSON.stringify(wanted)) {
        throw new AppError("CONFLICT", `retry ${number} of request ${ref.requestId} already ran tasks ${existing.indexes?.join(", ")}; ask for the next retry number`);
      }
      const all = jobs.map((j) => j.job as V1Job);
      await chainToNewest(all, newestOf(all));
      return { name, retry: number, indexes: wanted };
    },
  };
}
