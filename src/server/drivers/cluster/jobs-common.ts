import "server-only";
import { AppError } from "../../errors";
import type { GeomedianJobSpec, JobRef, TaskState } from "./index";
import { annotations, batchKeys, labels, workerContainer } from "./job-manifest";
import { sortRequestJobs, type JobObject, type JobPodObject, type RequestJob } from "./job-state";

/** Pieces of the Job methods that both cluster drivers share (pure). */

/** The port's reference to a request's own Job. */
export function refOf(job: JobObject): JobRef {
  const container = job.spec?.template?.spec?.containers?.find((c) => c.name === workerContainer) ?? job.spec?.template?.spec?.containers?.[0];
  return {
    requestId: job.metadata?.labels?.[labels.request] ?? "",
    name: job.metadata?.name ?? "",
    namespace: job.metadata?.namespace ?? "",
    uid: job.metadata?.uid ?? "",
    image: container?.image ?? "",
    tasks: job.spec?.completions ?? 0,
  };
}

/** The indexes a retry asks for, checked and sorted; AppError BAD_REQUEST for nonsense. */
export function checkRetryIndexes(indexes: number[], retry: number, tasks: number): number[] {
  if (!Number.isInteger(retry) || retry < 1 || retry > 99) throw new AppError("BAD_REQUEST", `retry must be a whole number from 1 to 99 (got ${retry})`);
  const wanted = [...new Set(indexes)].sort((a, b) => a - b);
  if (!wanted.length) throw new AppError("BAD_REQUEST", "name at least one failed task to retry");
  const bad = wanted.find((i) => !Number.isInteger(i) || i < 0 || i >= tasks);
  if (bad !== undefined) throw new AppError("BAD_REQUEST", `task index ${bad} is not one of the request's ${tasks} tasks`);
  return wanted;
}

/** The task ids of the retried indexes, each of which must have failed for good. */
export function retriedTaskIds(taskList: string, wanted: number[], states: TaskState[]): string[] {
  const notFailed = wanted.filter((i) => states[i]?.state !== "failed");
  if (notFailed.length) {
    throw new AppError("CONFLICT", `only failed tasks can be retried; task ${notFailed.map((i) => `${i} is ${states[i]?.state ?? "unknown"}`).join(", task ")}`, { indexes: notFailed });
  }
  const ids = taskList.split("\n");
  return wanted.map((i) => {
    const id = ids[i];
    if (!id) throw new Error(`the task list of the request has no task ${i}`);
    return id;
  });
}

/** The spec of a follow-up: the request's own Job's, with the given tasks. */
export function followUpSpec(own: JobObject, tasks: string[]): GeomedianJobSpec {
  const ref = refOf(own);
  const { [annotations.tasksSha256]: _h, [annotations.taskCount]: _c, [annotations.requestTaskCount]: _r, [annotations.requestedBy]: requestedBy, ...rest } = own.metadata?.annotations ?? {};
  return {
    requestId: ref.requestId,
    environment: own.metadata?.labels?.[labels.environment] ?? "",
    image: ref.image,
    tasks,
    requestedBy,
    parallelism: (own.spec as { parallelism?: number } | undefined)?.parallelism,
    annotations: rest,
  };
}

/**
 * A task's attempt: its pods over the request's Jobs in order, numbered from 1. A pod's number comes
 * from the Job controller's failure-count annotations, so pods removed by the pod GC keep their
 * successors' numbers right. AppError NOT_FOUND when there is no such attempt (yet).
 */
export function attemptOf(jobs: RequestJob[], index: number, attempt?: number): { pod: JobPodObject; job: JobObject; number: number } {
  const numbered: { pod: JobPodObject; job: JobObject; number: number }[] = [];
  let before = 0;
  for (const rj of sortRequestJobs(jobs)) {
    const local = rj.indexes ? rj.indexes.indexOf(index) : index;
    if (local < 0) continue;
    let latest = -1;
    for (const pod of rj.pods) {
      if (Number(pod.metadata?.annotations?.[batchKeys.completionIndex] ?? pod.metadata?.labels?.[batchKeys.completionIndex] ?? -1) !== local) continue;
      const n = Number(pod.metadata?.annotations?.[batchKeys.indexFailureCount] ?? 0) + Number(pod.metadata?.annotations?.[batchKeys.indexIgnoredFailureCount] ?? 0);
      numbered.push({ pod, job: rj.job, number: before + n + 1 });
      latest = Math.max(latest, n);
    }
    before += latest + 1;
  }
  numbered.sort((a, b) => a.number - b.number || String(a.pod.metadata?.creationTimestamp ?? "").localeCompare(String(b.pod.metadata?.creationTimestamp ?? "")));
  const found = attempt === undefined ? numbered[numbered.length - 1] : numbered.filter((a) => a.number === attempt).pop();
  if (!found) {
    throw new AppError("NOT_FOUND", attempt === undefined ? `task ${index} has not started yet` : `task ${index} has no attempt ${attempt} (it has ${numbered.length ? numbered[numbered.length - 1]!.number : 0})`);
  }
  return found;
}
