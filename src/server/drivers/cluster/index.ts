import "server-only";
import type { Port } from "../port";

/** A Kubernetes condition as Flux reports it. */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
}

/** Status of the environment's Flux Kustomization (kustomize.toolkit.fluxcd.io/v1). */
export interface FluxStatus {
  name: string;
  namespace: string;
  generation: number;
  observedGeneration: number;
  suspended: boolean;
  /** `main@sha1:<sha>` (RFC-0005) or the old `main/<sha>`; null before the first apply. */
  lastAppliedRevision: string | null;
  lastAttemptedRevision: string | null;
  conditions: Condition[];
}

/** One container of a running pod and the image it actually runs. */
export interface RunningImage {
  pod: string;
  container: string;
  /** The image reference of the spec, e.g. `registry/piksel-core:v1.2.0@sha256:…`. */
  image: string;
  /** What the kubelet reports (`docker-pullable://…@sha256:…` or `…@sha256:…`). */
  imageID: string;
  /** The `sha256:…` digest from imageID, or null when the runtime reports none. */
  digest: string | null;
  ready: boolean;
  phase: string;
}

/** A change seen by a watch; consumers re-read what they need. */
export type ClusterEvent = { kind: "flux" } | { kind: "pods" };

/** Why a watch is not seeing changes right now (it keeps retrying until stopped). */
export interface ClusterWatchError extends Error {
  /** HTTP status of the failed call, when there was one. */
  status?: number;
}

// --- geomedian Jobs (write side) ---------------------------------------------------------------

/** What one product request runs: its tasks, with the image deployed in its environment. */
export interface GeomedianJobSpec {
  /**
   * The request's id in the app database. The Job's name is derived from it deterministically, so a
   * submit retried after a timeout or an outage finds the Job it already created instead of a second.
   * It is also a label value: at most 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends.
   */
  requestId: string;
  /** The environment the worker runs for (`piksel worker geomedian --env <environment>`). */
  environment: string;
  /** `<repository>@sha256:<64 hex>` (optionally `<repository>:<tag>@sha256:…`): the digest deployed in that environment. */
  image: string;
  /** odc-stats task ids (`2024--P1Y/<x>/<y>`), one per completion index, in index order. */
  tasks: string[];
  /** Who asked, recorded as an annotation for people reading the cluster. */
  requestedBy?: string;
  /** This request's parallelism instead of the configured one (still capped by the number of tasks). */
  parallelism?: number;
  /** More annotations (product, period, ...) under the `piksel.dev/` prefix or any other. */
  annotations?: Record<string, string>;
}

/** A submitted request's Job: what the caller stores to find it again (after a restart too). */
export interface JobRef {
  requestId: string;
  /** The Kubernetes Job of the request (its follow-up Jobs for retries are found through the request label). */
  name: string;
  namespace: string;
  uid: string;
  /** The image the Job runs: the digest of record for the request (a retried submit returns the existing Job's). */
  image: string;
  /** Number of tasks (completions). */
  tasks: number;
}

/** A follow-up Job that re-runs failed tasks of a request (Kubernetes cannot re-run finished indexes). */
export interface RetryRef {
  /** The follow-up Job's name; callers keep using the request's JobRef for everything else. */
  name: string;
  retry: number;
  /** The request's task indexes it runs. */
  indexes: number[];
}

/** State of one task (one completion index of the request). */
export type TaskPhase = "pending" | "running" | "retrying" | "succeeded" | "failed";

export interface TaskState {
  /** The task's index in the request's task list (the original Job's completion index). */
  index: number;
  state: TaskPhase;
  /** Attempts started (pods created) so far, over the request's Job and its follow-ups. */
  attempts: number;
  /** Attempts that failed, including those the pod failure policy ignored (disruptions). */
  failures: number;
  /** The latest attempt's pod (its logs are the default of streamLogs), null before the first. */
  pod: string | null;
  /** The Kubernetes Job that ran the latest attempt. */
  job: string | null;
  /** Exit code of the latest finished attempt. */
  exitCode: number | null;
  /** Why the task failed or is being retried, for people (e.g. "exit code 2: bad input, not retried"). */
  reason: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** The request's Jobs as one: counts over its tasks and the conditions the Job controller set. */
export interface JobStatus {
  ref: JobRef;
  /** `cancelling` while a deletion waits for the pods to go (foreground propagation). */
  phase: "pending" | "running" | "succeeded" | "failed" | "cancelling";
  tasks: number;
  succeeded: number;
  /** Tasks failed for good (their retries exhausted, a FailIndex rule, or left unrun by a failed Job). */
  failed: number;
  /** Pods running or starting now. */
  active: number;
  /** Follow-up Jobs created by retryTasks. */
  retries: number;
  startTime: string | null;
  completionTime: string | null;
  /** Conditions of each of the request's Jobs (FailureTarget, Failed, SuccessCriteriaMet, Complete, Suspended). */
  conditions: (Condition & { job: string })[];
  /** Why the request failed, from the Failed condition of its latest Job. */
  message: string | null;
}

/** Which Jobs a watch follows: one request's, or every geomedian Job of the environment. */
export interface JobSelector {
  requestId?: string;
}

/** A change of a request's Jobs or pods; `requestId` null means "any" (after a relist). Consumers re-read. */
export type JobEvent = { kind: "job" | "pod"; requestId: string | null };

export interface JobLogOptions {
  /** Keep streaming until the attempt ends (or the iteration is stopped). */
  follow?: boolean;
  /** Only the last lines. */
  tailLines?: number;
  /** Only lines logged at or after this RFC 3339 time. */
  sinceTime?: string;
  /** 1-based attempt of the task; default the latest. */
  attempt?: number;
  /** Ends the stream. Breaking out of the iteration also does. */
  signal?: AbortSignal;
}

/** One environment's cluster: Flux status and pods (read side), and the geomedian Jobs of product requests. */
export interface ClusterPort extends Port {
  /** The configured Kustomization's status, or null when it does not exist. */
  fluxStatus(): Promise<FluxStatus | null>;
  /** Containers of the pods in the environment's namespace (optionally a label selector). */
  runningImages(labelSelector?: string): Promise<RunningImage[]>;
  /**
   * Calls `onEvent` on every change of the Kustomization or the pods until the returned stop is
   * called, and once per kind when the watch (re)starts from a fresh read (at start, after a relist),
   * since changes may have happened unseen. Disconnects are resumed and retried with backoff; each
   * failure is passed to `onError` (the watch keeps going). Handlers must not throw.
   */
  watch(onEvent: (event: ClusterEvent) => void, onError?: (error: ClusterWatchError) => void): () => void;

  /**
   * Creates the request's Indexed Job (one index per task) and the ConfigMap with its task list.
   * Idempotent: the Job's name derives from the request id, so a retry after a timeout or an outage
   * returns the Job created before (checked to be this request's by its labels and task list hash).
   * Refuses a tag-only image, an empty plan or one too large for a ConfigMap (AppError BAD_REQUEST /
   * PRECONDITION_FAILED), and a name taken by a foreign object (AppError CONFLICT).
   */
  submitJob(spec: GeomedianJobSpec): Promise<JobRef>;
  /** The request's Jobs as one; null once they are gone (cancelled, or removed after their TTL). */
  jobStatus(ref: JobRef): Promise<JobStatus | null>;
  /**
   * Calls `onEvent` on every change of the selected Jobs or their pods until the returned stop is
   * called, and with `requestId: null` when a (re)list may hide changes. Resumes and retries like watch().
   */
  watchJobs(selector: JobSelector, onEvent: (event: JobEvent) => void, onError?: (error: ClusterWatchError) => void): () => void;
  /** One entry per task, in index order; null once the request's Jobs are gone. */
  taskStates(ref: JobRef): Promise<TaskState[] | null>;
  /**
   * The log lines of a task's latest attempt (or `attempt`). Without `follow` it ends with the lines
   * logged so far; with it, when the attempt's container ends. Empty while the attempt has not started
   * (follow waits for it). AppError NOT_FOUND when the task has no such attempt.
   */
  streamLogs(ref: JobRef, index: number, opts?: JobLogOptions): AsyncIterable<string>;
  /**
   * Deletes the request's Jobs with their pods and task lists; resolves once the deletion is accepted.
   * Finds them by `ref.requestId`, so it also reaches a Job whose submit answer was lost; none is no error.
   */
  cancelJob(ref: JobRef): Promise<void>;
  /**
   * Runs the given failed tasks again in a follow-up Indexed Job (Kubernetes cannot re-run the finished
   * indexes of a Job). `retry` is the caller's 1-based count of retries of this request: the same
   * number again returns the same follow-up, so a retried call never doubles it. Task states, logs,
   * cancel and status keep working on the request's JobRef, with the follow-up's attempts counted in.
   * AppError CONFLICT when a task is not failed.
   */
  retryTasks(ref: JobRef, indexes: number[], opts: { retry: number }): Promise<RetryRef>;
}
