import "server-only";
import type { Condition, JobRef, JobStatus, TaskState } from "./index";
import { parseIndexes } from "./indexes";
import { annotations, batchKeys, labels, workerContainer } from "./job-manifest";

/**
 * From Kubernetes objects (as JSON) to the port's view of a request: shared by the Kubernetes driver
 * (objects from the API) and the local driver (objects its runner writes), so both report the same
 * states for the same history. A request is its Job plus the follow-up Jobs of retryTasks.
 */

type Time = string | Date | undefined | null;

export interface JobObject {
  metadata?: { name?: string; namespace?: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: Time; deletionTimestamp?: Time };
  spec?: {
    completions?: number | null;
    suspend?: boolean;
    backoffLimitPerIndex?: number;
    podFailurePolicy?: { rules: PodFailurePolicyRule[] };
    template?: { spec?: { containers?: { name: string; image?: string }[] } };
  };
  status?: {
    active?: number;
    ready?: number;
    succeeded?: number;
    failed?: number;
    completedIndexes?: string;
    failedIndexes?: string;
    startTime?: Time;
    completionTime?: Time;
    conditions?: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: Time }[];
  };
}

export interface PodFailurePolicyRule {
  action: string;
  onExitCodes?: { containerName?: string; operator: string; values: number[] };
  onPodConditions?: { type: string; status?: string }[];
}

export interface JobPodObject {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: Time; deletionTimestamp?: Time };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    startTime?: Time;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: {
      name: string;
      state?: { running?: { startedAt?: Time }; waiting?: { reason?: string; message?: string }; terminated?: { exitCode?: number; reason?: string; message?: string; startedAt?: Time; finishedAt?: Time } };
    }[];
  };
}

/** One of the request's Jobs with its pods and, for a follow-up, the request's index of each of its indexes. */
export interface RequestJob {
  job: JobObject;
  pods: JobPodObject[];
  /** null for the request's own Job (identity). */
  indexes: number[] | null;
}

const iso = (t: Time) => (t instanceof Date ? t.toISOString() : (t ?? null));
const retryOf = (j: JobObject) => Number(j.metadata?.labels?.[labels.retry] ?? 0);
const int = (v: string | undefined) => {
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : 0;
};

/** The request's Jobs in order: its own Job, then the follow-ups. */
export const sortRequestJobs = <T extends { job: JobObject }>(jobs: T[]): T[] => [...jobs].sort((a, b) => retryOf(a.job) - retryOf(b.job));

/** Tasks of the whole request: the own Job's completions, or what a follow-up recorded. */
export function requestTaskCount(jobs: { job: JobObject }[]): number {
  const own = jobs.find((j) => retryOf(j.job) === 0);
  if (own?.job.spec?.completions) return own.job.spec.completions;
  return Math.max(0, ...jobs.map((j) => int(j.job.metadata?.annotations?.[annotations.requestTaskCount])));
}

export function conditionTrue(job: JobObject, type: string) {
  return job.status?.conditions?.find((c) => c.type === type && c.status === "True");
}

/**
 * Finished for good: Failed or Complete, or their interim forms (FailureTarget, SuccessCriteriaMet),
 * after which the controller only terminates the remaining pods (job_controller.go newFailureCondition).
 */
export function jobFinished(job: JobObject): "failed" | "succeeded" | null {
  if (conditionTrue(job, "Failed") || conditionTrue(job, "FailureTarget")) return "failed";
  if (conditionTrue(job, "Complete") || conditionTrue(job, "SuccessCriteriaMet")) return "succeeded";
  return null;
}

function terminated(pod: JobPodObject) {
  return pod.status?.containerStatuses?.find((c) => c.name === workerContainer)?.state?.terminated ?? pod.status?.containerStatuses?.find((c) => c.state?.terminated)?.state?.terminated;
}

/**
 * The rule of the pod failure policy a failed pod matches, as the Job controller evaluates it
 * (pkg/controller/job/pod_failure_policy.go matchPodFailurePolicy): rules in order; an exit-code rule
 * looks at terminated containers with a non-zero code, a condition rule at the pod's conditions.
 */
export function matchPodFailurePolicy(job: JobObject, pod: JobPodObject): PodFailurePolicyRule | undefined {
  for (const rule of job.spec?.podFailurePolicy?.rules ?? []) {
    if (rule.onExitCodes) {
      const req = rule.onExitCodes;
      const hit = (pod.status?.containerStatuses ?? []).some((c) => {
        const code = c.state?.terminated?.exitCode;
        if (code === undefined || code === 0) return false;
        if (req.containerName && req.containerName !== c.name) return false;
        return req.operator === "In" ? req.values.includes(code) : req.operator === "NotIn" ? !req.values.includes(code) : false;
      });
      if (hit) return rule;
    } else if (rule.onPodConditions) {
      const hit = (pod.status?.conditions ?? []).some((c) => rule.onPodConditions!.some((p) => p.type === c.type && (p.status ?? "True") === c.status));
      if (hit) return rule;
    }
  }
  return undefined;
}

interface Attempt {
  job: JobObject;
  pod: JobPodObject;
  /** Failures of the index before this pod, counted and ignored (the controller's annotations). */
  failuresBefore: number;
  counted: number;
}

function attemptsByIndex(rj: RequestJob): Map<number, Attempt[]> {
  const completions = rj.job.spec?.completions ?? 0;
  const out = new Map<number, Attempt[]>();
  for (const pod of rj.pods) {
    const raw = pod.metadata?.annotations?.[batchKeys.completionIndex] ?? pod.metadata?.labels?.[batchKeys.completionIndex];
    const local = Number(raw);
    if (raw === undefined || !Number.isInteger(local) || local < 0 || local >= completions) continue;
    const index = rj.indexes ? rj.indexes[local] : local;
    if (index === undefined) continue;
    const counted = int(pod.metadata?.annotations?.[batchKeys.indexFailureCount]);
    const ignored = int(pod.metadata?.annotations?.[batchKeys.indexIgnoredFailureCount]);
    const list = out.get(index) ?? [];
    list.push({ job: rj.job, pod, failuresBefore: counted + ignored, counted });
    out.set(index, list);
  }
  for (const list of out.values()) {
    list.sort((a, b) => a.failuresBefore - b.failuresBefore || String(iso(a.pod.metadata?.creationTimestamp)).localeCompare(String(iso(b.pod.metadata?.creationTimestamp))));
  }
  return out;
}

/** Why an attempt failed, for people. */
function failureText(job: JobObject, pod: JobPodObject): string {
  const t = terminated(pod);
  const rule = matchPodFailurePolicy(job, pod);
  const disruption = pod.status?.conditions?.find((c) => c.type === "DisruptionTarget" && c.status === "True");
  if (disruption) return `interrupted (${disruption.reason ?? "DisruptionTarget"}${disruption.message ? `: ${disruption.message}` : ""}); not counted as a failure`;
  if (rule?.action === "FailIndex") return `exit code ${t?.exitCode}: bad input; not retried`;
  if (t) return `exit code ${t.exitCode}${t.reason && t.reason !== "Error" ? ` (${t.reason})` : ""}${t.message ? `: ${t.message}` : ""}`;
  return pod.status?.reason ? `${pod.status.reason}${pod.status.message ? `: ${pod.status.message}` : ""}` : "failed";
}

/** Whether the controller fails the index for this failed pod (indexed_job_utils.go isIndexFailed). */
function indexFailedBy(job: JobObject, attempt: Attempt): boolean {
  const rule = matchPodFailurePolicy(job, attempt.pod);
  if (rule?.action === "FailIndex") return true;
  if (rule?.action === "Ignore") return false;
  return attempt.counted >= (job.spec?.backoffLimitPerIndex ?? 0);
}

/** The state of every task of a request from its Jobs and their pods (follow-ups override the tasks they re-run). */
export function taskStatesOf(jobs: RequestJob[]): TaskState[] {
  const sorted = sortRequestJobs(jobs);
  const total = requestTaskCount(sorted);
  const states: TaskState[] = Array.from({ length: total }, (_, index) => ({ index, state: "pending", attempts: 0, failures: 0, pod: null, job: null, exitCode: null, reason: null, startedAt: null, finishedAt: null }));
  for (const rj of sorted) {
    const completions = rj.job.spec?.completions ?? 0;
    const completed = new Set(parseIndexes(rj.job.status?.completedIndexes, completions));
    const failed = new Set(parseIndexes(rj.job.status?.failedIndexes, completions));
    const finished = jobFinished(rj.job);
    const failedCondition = conditionTrue(rj.job, "Failed") ?? conditionTrue(rj.job, "FailureTarget");
    const byIndex = attemptsByIndex(rj);
    for (let local = 0; local < completions; local++) {
      const index = rj.indexes ? rj.indexes[local] : local;
      if (index === undefined || index >= total) continue;
      const s = states[index]!;
      const attempts = byIndex.get(index) ?? [];
      const latest = attempts[attempts.length - 1];
      // Pods of failed attempts may have been removed (pod GC); the latest pod's annotations count them.
      const previous = { attempts: s.attempts, failures: s.failures };
      const phase = latest?.pod.status?.phase;
      const latestFailed = phase === "Failed";
      s.attempts = previous.attempts + (latest ? latest.failuresBefore + 1 : 0);
      s.failures = previous.failures + (latest ? latest.failuresBefore + (latestFailed ? 1 : 0) : 0);
      s.job = latest ? (rj.job.metadata?.name ?? null) : s.job;
      s.pod = latest?.pod.metadata?.name ?? s.pod;
      const t = latest ? terminated(latest.pod) : undefined;
      s.exitCode = t?.exitCode ?? (latest ? null : s.exitCode);
      s.startedAt = latest ? iso(latest.pod.status?.startTime) : s.startedAt;
      s.finishedAt = latest ? iso(t?.finishedAt) : s.finishedAt;
      if (completed.has(local) || phase === "Succeeded") {
        s.state = "succeeded";
        s.reason = null;
      } else if (failed.has(local) || (latest && latestFailed && indexFailedBy(rj.job, latest))) {
        s.state = "failed";
        s.reason = latest ? (s.failures > 1 ? `failed ${s.failures} times; last: ${failureText(rj.job, latest.pod)}` : failureText(rj.job, latest.pod)) : "failed";
      } else if (finished === "failed") {
        // The Job stopped (maxFailedIndexes exceeded, deadline, cancel) before this task finished.
        s.state = "failed";
        s.reason = `not finished: the Job failed (${failedCondition?.reason ?? "Failed"}${failedCondition?.message ? `: ${failedCondition.message}` : ""})`;
      } else if (latest && latestFailed) {
        // The controller starts a replacement after its backoff delay.
        s.state = "retrying";
        s.reason = `attempt ${s.attempts}: ${failureText(rj.job, latest.pod)}`;
      } else if (s.failures > 0) {
        s.state = "retrying";
        s.reason = `attempt ${s.attempts} after ${s.failures} failed`;
      } else if (phase === "Running") {
        s.state = "running";
        s.reason = null;
      } else {
        s.state = "pending";
        s.reason = null;
      }
    }
  }
  return states;
}

/** The request's Jobs as one, from the Jobs alone (no pods) and the follow-ups' index lists. */
export function jobStatusOf(ref: JobRef, jobs: { job: JobObject; indexes: number[] | null }[]): JobStatus {
  const sorted = sortRequestJobs(jobs);
  const total = requestTaskCount(sorted);
  // Each task belongs to the newest Job that runs it; the request's own Job runs all.
  const owner = new Map<number, { job: JobObject; local: number }>();
  for (const { job, indexes } of sorted) {
    const completions = job.spec?.completions ?? 0;
    for (let local = 0; local < completions; local++) owner.set(indexes ? indexes[local]! : local, { job, local });
  }
  let succeeded = 0;
  let failed = 0;
  for (let index = 0; index < total; index++) {
    const o = owner.get(index);
    if (!o) continue;
    const completions = o.job.spec?.completions ?? 0;
    if (parseIndexes(o.job.status?.completedIndexes, completions).includes(o.local)) succeeded++;
    else if (parseIndexes(o.job.status?.failedIndexes, completions).includes(o.local) || jobFinished(o.job) === "failed") failed++;
  }
  const unfinished = sorted.filter(({ job }) => !jobFinished(job));
  const active = unfinished.reduce((n, { job }) => n + (job.status?.active ?? 0), 0);
  const deleting = sorted.some(({ job }) => job.metadata?.deletionTimestamp);
  const conditions: (Condition & { job: string })[] = sorted.flatMap(({ job }) =>
    (job.status?.conditions ?? []).map((c) => ({
      job: job.metadata?.name ?? "",
      type: c.type,
      status: c.status === "True" || c.status === "False" ? c.status : "Unknown",
      reason: c.reason ?? "",
      message: c.message ?? "",
      lastTransitionTime: iso(c.lastTransitionTime) ?? "",
    })),
  );
  const phase: JobStatus["phase"] = deleting
    ? "cancelling"
    : succeeded === total && total > 0
      ? "succeeded"
      : succeeded + failed === total && total > 0 && !unfinished.length
        ? "failed"
        : active > 0 || unfinished.some(({ job }) => job.status?.startTime && !job.spec?.suspend)
          ? "running"
          : "pending";
  const starts = sorted.map(({ job }) => iso(job.status?.startTime)).filter((t): t is string => !!t).sort();
  const ends = sorted.map(({ job }) => iso(job.status?.completionTime) ?? conditions.find((c) => c.job === job.metadata?.name && c.type === "Failed" && c.status === "True")?.lastTransitionTime ?? null);
  const lastFailed = [...sorted].reverse().map(({ job }) => conditionTrue(job, "Failed") ?? conditionTrue(job, "FailureTarget")).find(Boolean);
  return {
    ref,
    phase,
    tasks: total,
    succeeded,
    failed,
    active,
    retries: sorted.length - 1,
    startTime: starts[0] ?? null,
    completionTime: phase === "succeeded" || phase === "failed" ? (ends.filter((t): t is string => !!t).sort().pop() ?? null) : null,
    conditions,
    message: phase === "failed" && lastFailed ? `${lastFailed.reason ?? "Failed"}: ${lastFailed.message ?? ""}`.replace(/: $/, "") : null,
  };
}
