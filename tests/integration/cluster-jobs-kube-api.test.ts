import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { startKubeApiServer, waitFor, type KubeApiServer } from "../support/kube-api";

/**
 * The test API server's Job controller and kubelet (tests/support/kube-api/jobs.ts): what the
 * driver contract suites rely on must be what kube-apiserver and the Job controller do for Indexed
 * Jobs with per-index backoff (KEP-3850, GA in 1.33) and pod failure policies.
 */

const servers: KubeApiServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start() {
  const server = await startKubeApiServer({ namespaces: ["default", "piksel"], jobController: { stepMs: 2 } });
  servers.push(server);
  const kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  return { server, batch: kc.makeApiClient(BatchV1Api), core: kc.makeApiClient(CoreV1Api) };
}

const image = `registry.local/piksel-core@sha256:${"3".repeat(64)}`;
const indexedJob = (name: string, spec: Partial<NonNullable<V1Job["spec"]>> = {}): V1Job => ({
  metadata: { name },
  spec: {
    completionMode: "Indexed",
    completions: 4,
    parallelism: 2,
    backoffLimitPerIndex: 1,
    podFailurePolicy: {
      rules: [
        { action: "FailIndex", onExitCodes: { containerName: "main", operator: "In", values: [42] } },
        { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
      ],
    },
    template: { spec: { restartPolicy: "Never", containers: [{ name: "main", image }] } },
    ...spec,
  },
});

describe("test API server: Job controller and kubelet for Indexed Jobs", () => {
  it("runs indexes within parallelism, retries per index, fails an index on a FailIndex exit code, ignores disruptions", async () => {
    const { server, batch } = await start();
    server.kubelet!.script("piksel", "ix", 0, [{ exitCode: 1 }, { exitCode: 1 }]);
    server.kubelet!.script("piksel", "ix", 1, [{ exitCode: 42 }]);
    server.kubelet!.script("piksel", "ix", 2, [{ disruption: true }, { exitCode: 0 }]);
    const created = await batch.createNamespacedJob({ namespace: "piksel", body: indexedJob("ix") });
    expect(created.spec).toMatchObject({ backoffLimit: 2147483647, podReplacementPolicy: "Failed" });
    let most = 0;
    const job = await waitFor("the Job to fail", async () => {
      most = Math.max(most, server.list("Pod", "piksel").filter((p) => ["Pending", "Running"].includes((p.status as { phase: string }).phase)).length);
      const j = await batch.readNamespacedJob({ namespace: "piksel", name: "ix" });
      return j.status?.conditions?.some((c) => c.type === "Failed") && j;
    });
    expect(most).toBeLessThanOrEqual(2);
    expect(job.status).toMatchObject({ active: 0, succeeded: 2, failed: 3, completedIndexes: "2,3", failedIndexes: "0,1" });
    expect(job.status!.conditions!.map((c) => [c.type, c.status, c.reason, c.message])).toEqual([
      ["FailureTarget", "True", "FailedIndexes", "Job has failed indexes"],
      ["Failed", "True", "FailedIndexes", "Job has failed indexes"],
    ]);
    expect(job.status!.completionTime).toBeUndefined();

    // In attempt order: the controller's per-index counts of the failures before each pod.
    const attempt = (p: { metadata: { annotations?: Record<string, string> } }) => Number(p.metadata.annotations!["batch.kubernetes.io/job-index-failure-count"]) + Number(p.metadata.annotations!["batch.kubernetes.io/job-index-ignored-failure-count"] ?? 0);
    const pods = server.list("Pod", "piksel").sort((a, b) => attempt(a) - attempt(b));
    const ofIndex = (i: number) => pods.filter((p) => p.metadata.annotations!["batch.kubernetes.io/job-completion-index"] === String(i));
    expect(ofIndex(0).map((p) => p.metadata.annotations!["batch.kubernetes.io/job-index-failure-count"])).toEqual(["0", "1"]);
    expect(ofIndex(1)).toHaveLength(1);
    expect(ofIndex(2).map((p) => [p.metadata.annotations!["batch.kubernetes.io/job-index-failure-count"], p.metadata.annotations!["batch.kubernetes.io/job-index-ignored-failure-count"]])).toEqual([
      ["0", undefined],
      ["0", "1"],
    ]);
    const first = ofIndex(0)[0]!;
    expect(first.metadata.name).toMatch(/^ix-0-[0-9a-f]{5}$/);
    expect(first.metadata.labels).toMatchObject({ "batch.kubernetes.io/job-completion-index": "0", "batch.kubernetes.io/job-name": "ix", "batch.kubernetes.io/controller-uid": created.metadata!.uid });
    expect(first.metadata.ownerReferences).toEqual([{ apiVersion: "batch/v1", kind: "Job", name: "ix", uid: created.metadata!.uid, controller: true, blockOwnerDeletion: true }]);
    expect(first.spec).toMatchObject({ hostname: "ix-0", containers: [{ env: [{ name: "JOB_COMPLETION_INDEX", valueFrom: { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/job-completion-index']" } } }] }] });
  });

  it("stops at maxFailedIndexes, and completes with SuccessCriteriaMet then Complete", async () => {
    const { server, batch } = await start();
    server.kubelet!.script("piksel", "few", 0, [{ exitCode: 42 }]);
    server.kubelet!.script("piksel", "few", 1, [{ hold: true }]);
    await batch.createNamespacedJob({ namespace: "piksel", body: indexedJob("few", { maxFailedIndexes: 0 }) });
    const failed = await waitFor("MaxFailedIndexesExceeded", async () => {
      const j = await batch.readNamespacedJob({ namespace: "piksel", name: "few" });
      return j.status?.conditions?.find((c) => c.type === "Failed")?.reason === "MaxFailedIndexesExceeded" && j;
    });
    expect(failed.status).toMatchObject({ failedIndexes: "0", active: 0 });
    expect(server.list("Pod", "piksel").filter((p) => p.metadata.labels?.["batch.kubernetes.io/job-name"] === "few")).toHaveLength(1);

    await batch.createNamespacedJob({ namespace: "piksel", body: indexedJob("ok", { completions: 3, parallelism: 3 }) });
    const ok = await waitFor("Complete", async () => {
      const j = await batch.readNamespacedJob({ namespace: "piksel", name: "ok" });
      return j.status?.conditions?.some((c) => c.type === "Complete") && j;
    });
    expect(ok.status).toMatchObject({ succeeded: 3, completedIndexes: "0-2", failedIndexes: "", completionTime: expect.anything() });
    expect(ok.status!.conditions!.map((c) => [c.type, c.reason])).toEqual([
      ["SuccessCriteriaMet", "CompletionsReached"],
      ["Complete", "CompletionsReached"],
    ]);
  });

  it("refuses Jobs that batch validation refuses, and keeps an immutable ConfigMap's data", async () => {
    const { batch, core } = await start();
    const bad = (spec: Partial<NonNullable<V1Job["spec"]>>) => batch.createNamespacedJob({ namespace: "piksel", body: indexedJob(`bad-${Math.random().toString(36).slice(2, 8)}`, spec) });
    await expect(bad({ backoffLimitPerIndex: undefined })).rejects.toMatchObject({ code: 422, body: expect.stringContaining('\\"FailIndex\\" is not supported') });
    await expect(bad({ maxFailedIndexes: 5 })).rejects.toMatchObject({ code: 422, body: expect.stringContaining("must be less than or equal to completions") });
    await expect(bad({ podReplacementPolicy: "TerminatingOrFailed" })).rejects.toMatchObject({ code: 422, body: expect.stringContaining("spec.podReplacementPolicy") });
    await expect(batch.createNamespacedJob({ namespace: "piksel", body: indexedJob("x".repeat(64)) })).rejects.toMatchObject({ code: 422, body: expect.stringContaining("must be no more than 63 characters") });

    await core.createNamespacedConfigMap({ namespace: "piksel", body: { metadata: { name: "tasks" }, immutable: true, data: { tasks: "a\n" } } });
    await expect(core.patchNamespacedConfigMap({ namespace: "piksel", name: "tasks", body: [{ op: "replace", path: "/data/tasks", value: "b\n" }] })).rejects.toMatchObject({ code: 422 });
    const owned = await core.patchNamespacedConfigMap({ namespace: "piksel", name: "tasks", body: [{ op: "add", path: "/metadata/labels", value: { a: "b" } }] });
    expect(owned.metadata!.labels).toEqual({ a: "b" });
  });

  it("can carry a create out and lose its answer (failNext after)", async () => {
    const { server, core } = await start();
    server.failNext(1, { code: 504, after: true, match: (r) => r.method === "POST" });
    await expect(core.createNamespacedConfigMap({ namespace: "piksel", body: { metadata: { name: "lost" }, data: {} } })).rejects.toMatchObject({ code: 504 });
    expect(server.get("ConfigMap", "piksel", "lost")).toBeDefined();
    await expect(core.createNamespacedConfigMap({ namespace: "piksel", body: { metadata: { name: "lost" }, data: {} } })).rejects.toMatchObject({ code: 409 });
  });
});
