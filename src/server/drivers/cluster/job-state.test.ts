import { describe, expect, it } from "vitest";
import type { JobRef } from "./index";
import { jobStatusOf, taskStatesOf, type JobObject, type JobPodObject } from "./job-state";

/** Task states from Job and Pod objects as the Job controller and the kubelet leave them. */

const policy = {
  rules: [
    { action: "FailIndex", onExitCodes: { containerName: "worker", operator: "In", values: [2] } },
    { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
  ],
};

function job(name: string, completions: number, status: JobObject["status"] = {}, extra: { retry?: number; deleting?: boolean } = {}): JobObject {
  return {
    metadata: { name, uid: `${name}-uid`, labels: { "piksel.dev/request": "r1", "piksel.dev/retry": String(extra.retry ?? 0) }, annotations: { "piksel.dev/request-task-count": "4" }, ...(extra.deleting ? { deletionTimestamp: "2026-01-01T00:10:00Z" } : {}) },
    spec: { completions, backoffLimitPerIndex: 2, podFailurePolicy: policy },
    status,
  };
}

function pod(name: string, index: number, phase: string, opts: { failures?: number; ignored?: number; exitCode?: number; disruption?: boolean } = {}): JobPodObject {
  return {
    metadata: {
      name,
      creationTimestamp: "2026-01-01T00:00:00Z",
      annotations: {
        "batch.kubernetes.io/job-completion-index": String(index),
        "batch.kubernetes.io/job-index-failure-count": String(opts.failures ?? 0),
        ...(opts.ignored ? { "batch.kubernetes.io/job-index-ignored-failure-count": String(opts.ignored) } : {}),
      },
    },
    status: {
      phase,
      startTime: "2026-01-01T00:00:01Z",
      conditions: opts.disruption ? [{ type: "DisruptionTarget", status: "True", reason: "EvictionByEvictionAPI", message: "Eviction API: evicting" }] : [],
      containerStatuses: [{ name: "worker", state: opts.exitCode === undefined ? { running: {} } : { terminated: { exitCode: opts.exitCode, finishedAt: "2026-01-01T00:01:00Z" } } }],
    },
  };
}

const ref: JobRef = { requestId: "r1", name: "gm-r1", namespace: "piksel", uid: "gm-r1-uid", image: "x@sha256:0", tasks: 4 };

describe("task states", () => {
  it("counts an evicted attempt as a failure that is not held against the task, and attempts whose pods were collected", () => {
    const states = taskStatesOf([
      {
        job: job("gm-r1", 4, { startTime: "2026-01-01T00:00:00Z", active: 2 }),
        indexes: null,
        pods: [
          pod("gm-r1-0-a", 0, "Failed", { exitCode: 137, disruption: true }),
          pod("gm-r1-0-b", 0, "Running", { ignored: 1 }),
          // The pods of attempts 1 and 2 are gone (pod GC): the annotations still count them.
          pod("gm-r1-1-c", 1, "Running", { failures: 2 }),
          pod("gm-r1-2-d", 2, "Failed", { failures: 1, exitCode: 1 }),
        ],
      },
    ]);
    expect(states.map((s) => [s.index, s.state, s.attempts, s.failures, s.pod])).toEqual([
      [0, "retrying", 2, 1, "gm-r1-0-b"],
      [1, "retrying", 3, 2, "gm-r1-1-c"],
      [2, "retrying", 2, 2, "gm-r1-2-d"],
      [3, "pending", 0, 0, null],
    ]);
    expect(states[0]!.reason).toBe("attempt 2 after 1 failed");
    expect(states[2]!.reason).toBe("attempt 2: exit code 1");
  });

  it("fails what a failed Job left unrun, and lets a follow-up Job take over the tasks it re-runs", () => {
    const own = job("gm-r1", 4, { completedIndexes: "0", failedIndexes: "1", conditions: [{ type: "FailureTarget", status: "True", reason: "MaxFailedIndexesExceeded", message: "Job has exceeded the specified maximal number of failed indexes" }] });
    const ownPods = [pod("gm-r1-0-a", 0, "Succeeded", { exitCode: 0 }), pod("gm-r1-1-a", 1, "Failed", { exitCode: 2 })];
    let states = taskStatesOf([{ job: own, pods: ownPods, indexes: null }]);
    expect(states.map((s) => s.state)).toEqual(["succeeded", "failed", "failed", "failed"]);
    expect(states[1]!.reason).toBe("exit code 2: bad input; not retried");
    expect(states[3]!.reason).toBe("not finished: the Job failed (MaxFailedIndexesExceeded: Job has exceeded the specified maximal number of failed indexes)");

    const followUp = job("gm-r1-r1", 3, { completedIndexes: "0", startTime: "2026-01-01T01:00:00Z" }, { retry: 1 });
    states = taskStatesOf([{ job: followUp, pods: [pod("gm-r1-r1-0-a", 0, "Succeeded", { exitCode: 0 }), pod("gm-r1-r1-2-a", 2, "Running")], indexes: [1, 2, 3] }, { job: own, pods: ownPods, indexes: null }]);
    expect(states.map((s) => [s.state, s.attempts, s.job])).toEqual([
      ["succeeded", 1, "gm-r1"],
      ["succeeded", 2, "gm-r1-r1"],
      ["pending", 0, null],
      // Never run by the failed Job: its first attempt, in the follow-up.
      ["running", 1, "gm-r1-r1"],
    ]);
  });
});

describe("request status", () => {
  it("is pending before the controller starts the Job, running, then succeeded with its follow-ups", () => {
    expect(jobStatusOf(ref, [{ job: job("gm-r1", 4), indexes: null }])).toMatchObject({ phase: "pending", tasks: 4, succeeded: 0, failed: 0 });
    expect(jobStatusOf(ref, [{ job: job("gm-r1", 4, { startTime: "2026-01-01T00:00:00Z", active: 2, completedIndexes: "1" }), indexes: null }])).toMatchObject({ phase: "running", active: 2, succeeded: 1 });
    const failedOwn = job("gm-r1", 4, {
      completedIndexes: "0,2,3",
      failedIndexes: "1",
      conditions: [
        { type: "FailureTarget", status: "True", reason: "FailedIndexes", message: "Job has failed indexes", lastTransitionTime: "2026-01-01T00:05:00Z" },
        { type: "Failed", status: "True", reason: "FailedIndexes", message: "Job has failed indexes", lastTransitionTime: "2026-01-01T00:05:00Z" },
      ],
    });
    expect(jobStatusOf(ref, [{ job: failedOwn, indexes: null }])).toMatchObject({ phase: "failed", succeeded: 3, failed: 1, message: "FailedIndexes: Job has failed indexes", completionTime: "2026-01-01T00:05:00Z" });
    const followUp = job("gm-r1-r1", 1, { completedIndexes: "0", completionTime: "2026-01-01T01:00:00Z", conditions: [{ type: "Complete", status: "True", reason: "CompletionsReached" }] }, { retry: 1 });
    expect(jobStatusOf(ref, [{ job: followUp, indexes: [1] }, { job: failedOwn, indexes: null }])).toMatchObject({ phase: "succeeded", succeeded: 4, failed: 0, retries: 1, completionTime: "2026-01-01T01:00:00Z", message: null });
  });

  it("is cancelling while a deletion waits for the pods", () => {
    expect(jobStatusOf(ref, [{ job: job("gm-r1", 4, { active: 1 }, { deleting: true }), indexes: null }]).phase).toBe("cancelling");
  });
});
