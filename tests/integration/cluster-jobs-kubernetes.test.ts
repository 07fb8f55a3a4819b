import { BatchV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { Job } from "kubernetes-models/batch/v1";
import { ConfigMap } from "kubernetes-models/v1";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ClusterPort, ClusterWatchError, GeomedianJobSpec, JobEvent, JobRef } from "~/server/drivers/cluster";
import { createKubernetesCluster } from "~/server/drivers/cluster/kubernetes";
import { AppError } from "~/server/errors";
import { contractTarget, realClusterConfigured, waitFor, type ContractTarget } from "../support/kube-api";

/**
 * Contract of the Kubernetes driver's geomedian Jobs (the cluster port's write side). The first
 * block runs against the local Kubernetes API test server with its Job controller and kubelet, or
 * against the real cluster of $KUBECONFIG when it is set (in a throwaway namespace; its pods will
 * not find the test image, which those tests do not need). The second block scripts how pods end
 * and breaks the API server on purpose, which only the test server can do: skipped on a real cluster.
 */

const digest = `sha256:${"5d2a".repeat(16)}`;
const image = `registry.local/piksel-core@${digest}`;
let seq = 0;
const requestId = () => `req${Date.now().toString(36)}${seq++}`;
const tasks = (n: number) => Array.from({ length: n }, (_, i) => `2024--P1Y/${40 + i}/-7`);
const spec = (n: number, extra: Partial<GeomedianJobSpec> = {}): GeomedianJobSpec => ({ requestId: requestId(), environment: "staging", image, tasks: tasks(n), requestedBy: "ana@piksel.dev", ...extra });

function recorder() {
  const events: JobEvent[] = [];
  const errors: ClusterWatchError[] = [];
  return { events, errors, onEvent: (e: JobEvent) => void events.push(e), onError: (e: ClusterWatchError) => void errors.push(e) };
}

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of lines) out.push(l);
  return out;
}

describe(`Kubernetes driver, geomedian Jobs (${realClusterConfigured ? "real cluster from KUBECONFIG" : "local Kubernetes API test server"})`, () => {
  let target: ContractTarget;
  let cluster: ClusterPort;
  let batch: BatchV1Api;
  let core: CoreV1Api;
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    target = await contractTarget({ jobController: true });
    cluster = createKubernetesCluster({
      kubeconfig: target.kubeconfigPath,
      namespace: target.namespace,
      fluxNamespace: target.namespace,
      kustomization: "piksel-contract",
      watchBackoff: { initialMs: 20, maxMs: 200 },
      submitRetry: { attempts: 4, initialMs: 10, maxMs: 40 },
      logPollMs: 20,
      // A throwaway namespace has no worker service account or platform ConfigMap.
      jobs: { serviceAccountName: "default", configMap: null, parallelism: 2, backoffLimitPerIndex: 2, maxFailedIndexes: 2, resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } } },
    });
    const kc = new KubeConfig();
    if (target.kubeconfigPath) kc.loadFromFile(target.kubeconfigPath);
    else kc.loadFromDefault();
    batch = kc.makeApiClient(BatchV1Api);
    core = kc.makeApiClient(CoreV1Api);
  });
  afterEach(() => stops.splice(0).forEach((stop) => stop()));
  afterAll(async () => target?.close());

  it("creates one Indexed Job that carries the deployed digest and validates against the OpenAPI schema, with its task list owned by it", async () => {
    const s = spec(3);
    const ref = await cluster.submitJob(s);
    expect(ref).toEqual({ requestId: s.requestId, name: `gm-${s.requestId}`, namespace: target.namespace, uid: expect.any(String), image, tasks: 3 });
    const job = await batch.readNamespacedJob({ namespace: target.namespace, name: ref.name });
    expect(job.spec!.template.spec!.containers[0]!.image).toBe(image);
    expect(job.spec).toMatchObject({ completionMode: "Indexed", completions: 3, parallelism: 2, backoffLimitPerIndex: 2, maxFailedIndexes: 2 });
    expect(job.metadata!.labels).toMatchObject({ "piksel.dev/request": s.requestId, "piksel.dev/environment": "staging", "app.kubernetes.io/name": "piksel-geomedian" });
    // What the API server stored (its defaults included) is still a valid Job of the current release.
    expect(() => new Job(JSON.parse(JSON.stringify(job)) as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();
    const list = await core.readNamespacedConfigMap({ namespace: target.namespace, name: `${ref.name}-tasks` });
    expect(() => new ConfigMap(JSON.parse(JSON.stringify(list)) as ConstructorParameters<typeof ConfigMap>[0]).validate()).not.toThrow();
    expect(list.data).toEqual({ tasks: `${tasks(3).join("\n")}\n` });
    expect(list.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: "Job", name: ref.name, uid: ref.uid })]);

    // Submitting the same request again (a retry after a timeout) finds the same Job.
    expect(await cluster.submitJob(s)).toEqual(ref);
    expect((await batch.listNamespacedJob({ namespace: target.namespace, labelSelector: `piksel.dev/request=${s.requestId}` })).items).toHaveLength(1);
    expect(await cluster.jobStatus(ref)).toMatchObject({ ref, tasks: 3, retries: 0 });
  });

  it("refuses a second plan under the same request, a foreign Job of that name and a tag-only image", async () => {
    const s = spec(2);
    await cluster.submitJob(s);
    await expect(cluster.submitJob({ ...s, tasks: tasks(3) })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("with a different task list") });
    const foreign = requestId();
    await batch.createNamespacedJob({
      namespace: target.namespace,
      body: { metadata: { name: `gm-${foreign}` }, spec: { suspend: true, template: { spec: { restartPolicy: "Never", containers: [{ name: "x", image }] } } } },
    });
    await expect(cluster.submitJob({ ...spec(1), requestId: foreign })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("is not request") });
    await expect(cluster.submitJob(spec(1, { image: "registry.local/piksel-core:v1.3.0" }))).rejects.toBeInstanceOf(AppError);
  });

  it("cancels with foreground propagation: the Jobs, their pods and task lists go", async () => {
    const ref = await cluster.submitJob(spec(2));
    await cluster.cancelJob(ref);
    await waitFor("the Job to be gone", async () => (await cluster.jobStatus(ref)) === null, { timeoutMs: 60_000, intervalMs: 100 });
    await waitFor("the pods to be gone", async () => (await core.listNamespacedPod({ namespace: target.namespace, labelSelector: `piksel.dev/request=${ref.requestId}` })).items.length === 0, { timeoutMs: 60_000, intervalMs: 100 });
    await waitFor("the task list to be gone", async () => (await core.listNamespacedConfigMap({ namespace: target.namespace, labelSelector: `piksel.dev/request=${ref.requestId}` })).items.length === 0, { timeoutMs: 60_000, intervalMs: 100 });
    expect(await cluster.taskStates(ref)).toBeNull();
    // Cancelling again is a no-op.
    await cluster.cancelJob(ref);
  });

  it("watches a request's Jobs and pods, telling which request changed", async () => {
    const s = spec(1);
    const rec = recorder();
    stops.push(cluster.watchJobs({ requestId: s.requestId }, rec.onEvent, rec.onError));
    await waitFor("the initial relist events", () => rec.events.filter((e) => e.requestId === null).length >= 2);
    const ref = await cluster.submitJob(s);
    await waitFor("a Job event of the request", () => rec.events.some((e) => e.kind === "job" && e.requestId === ref.requestId));
    await cluster.cancelJob(ref);
    expect(rec.errors).toEqual([]);
  });
});

describe.skipIf(realClusterConfigured)("Kubernetes driver, geomedian Jobs: scripted pods and API failures (test server only)", () => {
  let target: ContractTarget;
  let cluster: ClusterPort;
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    target = await contractTarget({ jobController: { stepMs: 2 } });
    cluster = createKubernetesCluster({
      kubeconfig: target.kubeconfigPath,
      namespace: target.namespace,
      fluxNamespace: target.namespace,
      kustomization: "piksel-contract",
      watchBackoff: { initialMs: 20, maxMs: 200 },
      submitRetry: { attempts: 4, initialMs: 10, maxMs: 40 },
      logPollMs: 20,
      jobs: { serviceAccountName: "default", configMap: null, parallelism: 2, backoffLimitPerIndex: 2, maxFailedIndexes: 2 },
    });
  });
  afterEach(() => stops.splice(0).forEach((stop) => stop()));
  afterAll(async () => target?.close());

  const kubelet = () => target.kubelet!;
  const server = () => target.server!;
  const finished = (ref: JobRef) =>
    waitFor("the request to finish", async () => {
      const s = await cluster.jobStatus(ref);
      return s && ["succeeded", "failed"].includes(s.phase) ? s : undefined;
    });

  it("a task that fails three times is failed with its last log lines while the others finish; bad input is not retried", async () => {
    const s = spec(4);
    const job = `gm-${s.requestId}`;
    kubelet().script(target.namespace, job, 1, [1, 2, 3].map((n) => ({ exitCode: 1, lines: [`tile 41/-7: reading 12 scenes`, `attempt ${n}: S3 GetObject timed out`] })));
    kubelet().script(target.namespace, job, 2, [{ exitCode: 2, lines: ["tile 42/-7: no datasets in the index for 2024"] }]);
    const ref = await cluster.submitJob(s);
    const status = await finished(ref);
    expect(status).toMatchObject({ phase: "failed", tasks: 4, succeeded: 2, failed: 2, message: "FailedIndexes: Job has failed indexes" });
    expect(status.conditions.filter((c) => c.status === "True").map((c) => c.type)).toEqual(["FailureTarget", "Failed"]);

    const states = (await cluster.taskStates(ref))!;
    expect(states.map((t) => [t.index, t.state, t.attempts, t.failures, t.exitCode])).toEqual([
      [0, "succeeded", 1, 0, 0],
      [1, "failed", 3, 3, 1],
      [2, "failed", 1, 1, 2],
      [3, "succeeded", 1, 0, 0],
    ]);
    expect(states[1]!.reason).toBe("failed 3 times; last: exit code 1");
    expect(states[2]!.reason).toBe("exit code 2: bad input; not retried");
    expect(states[1]!.pod).toMatch(new RegExp(`^${job}-1-`));

    expect(await collect(cluster.streamLogs(ref, 1, { tailLines: 1 }))).toEqual(["attempt 3: S3 GetObject timed out"]);
    expect(await collect(cluster.streamLogs(ref, 1, { attempt: 1 }))).toEqual(["tile 41/-7: reading 12 scenes", "attempt 1: S3 GetObject timed out"]);
    await expect(collect(cluster.streamLogs(ref, 1, { attempt: 4 }))).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("retries failed tasks in a follow-up Job: counted in, idempotent by retry number, and kept together with the request's Job", async () => {
    const s = spec(3);
    const job = `gm-${s.requestId}`;
    kubelet().script(target.namespace, job, 0, [{ exitCode: 2, lines: ["bad tile"] }]);
    const ref = await cluster.submitJob(s);
    await finished(ref);
    await expect(cluster.retryTasks(ref, [1], { retry: 1 })).rejects.toMatchObject({ code: "CONFLICT", message: "only failed tasks can be retried; task 1 is succeeded" });

    // The follow-up's index 0 is the request's task 0; the kubelet scripts it by the follow-up's name.
    kubelet().script(target.namespace, `${job}-r1`, 0, [{ exitCode: 1, lines: ["still flaky"] }, { exitCode: 0, lines: ["tile 40/-7 written"] }]);
    const retry = await cluster.retryTasks(ref, [0], { retry: 1 });
    expect(retry).toEqual({ name: `${job}-r1`, retry: 1, indexes: [0] });
    expect(await cluster.retryTasks(ref, [0], { retry: 1 })).toEqual(retry);
    const status = await waitFor("the retried task to succeed", async () => (await cluster.jobStatus(ref))?.phase === "succeeded" && (await cluster.jobStatus(ref)));
    expect(status).toMatchObject({ tasks: 3, succeeded: 3, failed: 0, retries: 1 });
    const states = (await cluster.taskStates(ref))!;
    expect(states[0]).toMatchObject({ state: "succeeded", attempts: 3, failures: 2, job: `${job}-r1`, exitCode: 0 });
    expect(await collect(cluster.streamLogs(ref, 0))).toEqual(["tile 40/-7 written"]);
    expect(await collect(cluster.streamLogs(ref, 0, { attempt: 1 }))).toEqual(["bad tile"]);

    const own = server().get("Job", target.namespace, job)!;
    const followUp = server().get("Job", target.namespace, `${job}-r1`)!;
    expect((own.spec as { ttlSecondsAfterFinished?: number }).ttlSecondsAfterFinished).toBeUndefined();
    expect(own.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: "Job", name: `${job}-r1`, uid: followUp.metadata.uid })]);
    // Cancelling takes every Job of the request.
    await cluster.cancelJob(ref);
    await waitFor("both Jobs gone", () => !server().get("Job", target.namespace, job) && !server().get("Job", target.namespace, `${job}-r1`));
  });

  it("a submit during an API outage retries and creates exactly one Job, also when the first create's answer was lost", async () => {
    const creates = () => server().requests.filter((r) => r.method === "POST" && r.path.endsWith("/jobs"));
    const before = creates().length;
    server().failNext(2, { code: 503, match: (r) => r.method === "POST" && r.path.endsWith("/jobs") });
    const first = spec(2);
    const ref = await cluster.submitJob(first);
    expect(creates().slice(before).map((r) => r.status)).toEqual([503, 503, 201]);
    expect(server().list("Job", target.namespace).filter((j) => j.metadata.labels?.["piksel.dev/request"] === first.requestId)).toHaveLength(1);

    // The API server writes the Job, but the answer never arrives: the retry meets 409 and adopts it.
    const second = spec(2);
    server().failNext(1, { code: 504, after: true, match: (r) => r.method === "POST" && r.path.endsWith("/jobs") });
    const adopted = await cluster.submitJob(second);
    expect(server().requests.filter((r) => r.method === "POST" && r.path.endsWith("/jobs")).slice(-2).map((r) => r.status)).toEqual([504, 409]);
    expect(adopted.uid).toBe(server().get("Job", target.namespace, adopted.name)!.metadata.uid);
    expect(server().list("Job", target.namespace).filter((j) => j.metadata.labels?.["piksel.dev/request"] === second.requestId)).toHaveLength(1);

    // A longer outage: the submit gives up (the caller keeps the request "submitting" and tries later)...
    const third = spec(1);
    server().failNext(4, { code: 429, match: (r) => r.path.endsWith("/jobs") || r.path.endsWith("/configmaps") });
    await expect(cluster.submitJob(third)).rejects.toThrow(/HTTP 429 TooManyRequests.*gave up after 4 attempts/);
    // ...and the next attempt completes the same request, still once.
    const later = await cluster.submitJob(third);
    expect(server().list("Job", target.namespace).filter((j) => j.metadata.labels?.["piksel.dev/request"] === third.requestId).map((j) => j.metadata.uid)).toEqual([later.uid]);
    expect(ref.uid).not.toBe(later.uid);
  });

  it("follows a running task's log until its container ends", async () => {
    const s = spec(1);
    kubelet().script(target.namespace, `gm-${s.requestId}`, 0, [{ hold: true, lines: ["progress 10%"] }]);
    const ref = await cluster.submitJob(s);
    const state = await waitFor("the task to run", async () => (await cluster.taskStates(ref))?.[0]?.state === "running" && (await cluster.taskStates(ref))![0]!);
    const lines: string[] = [];
    const following = (async () => {
      for await (const l of cluster.streamLogs(ref, 0, { follow: true })) lines.push(l);
    })();
    await waitFor("the first line", () => lines.length === 1);
    kubelet().finish(target.namespace, state.pod!, { exitCode: 0, lines: ["progress 100%", "wrote 13 bands"] });
    await following;
    expect(lines).toEqual(["progress 10%", "progress 100%", "wrote 13 bands"]);

    // Stopping a follow early ends the iteration.
    const s2 = spec(1);
    kubelet().script(target.namespace, `gm-${s2.requestId}`, 0, [{ hold: true, lines: ["waiting"] }]);
    const ref2 = await cluster.submitJob(s2);
    const controller = new AbortController();
    const got: string[] = [];
    for await (const l of cluster.streamLogs(ref2, 0, { follow: true, signal: controller.signal })) {
      got.push(l);
      controller.abort();
    }
    expect(got).toEqual(["waiting"]);
    await cluster.cancelJob(ref2);
  });

  it("watch reconnects from its resourceVersion and relists on 410 while a Job runs", async () => {
    const s = spec(2);
    kubelet().script(target.namespace, `gm-${s.requestId}`, 0, [{ hold: true }]);
    kubelet().script(target.namespace, `gm-${s.requestId}`, 1, [{ hold: true }]);
    const rec = recorder();
    stops.push(cluster.watchJobs({ requestId: s.requestId }, rec.onEvent, rec.onError));
    await waitFor("both watches open", () => server().openWatches("jobs") >= 1 && server().openWatches("pods") >= 1);
    const ref = await cluster.submitJob(s);
    const running = await waitFor("both tasks running", async () => {
      const states = await cluster.taskStates(ref);
      return states?.every((t) => t.state === "running") && states;
    });

    // A connection ended by the server (or a proxy): the watch resumes from the last resourceVersion, no relist.
    const lists = () => server().requests.filter((r) => !r.watch && r.method === "GET" && /\/(jobs|pods)$/.test(r.path) && r.query.labelSelector?.includes(s.requestId)).length;
    const listsBefore = lists();
    const relists = rec.events.filter((e) => e.requestId === null).length;
    server().dropWatches();
    await waitFor("the watches to reopen", () => server().openWatches("jobs") >= 1 && server().openWatches("pods") >= 1);
    kubelet().finish(target.namespace, running[0]!.pod!, { exitCode: 0 });
    await waitFor("the pod event after the reconnect", () => rec.events.slice(relists).some((e) => e.kind === "pod" && e.requestId === s.requestId));
    expect(lists()).toBe(listsBefore);
    const resumed = server().requests.filter((r) => r.watch && r.query.labelSelector?.includes(s.requestId)).slice(-2);
    expect(resumed.every((r) => Number(r.query.resourceVersion) > 0)).toBe(true);

    // Expired history (410 in the stream): relist, report "anything may have changed", keep watching.
    server().expireWatches();
    await waitFor("a relist", () => rec.events.filter((e) => e.requestId === null).length > relists && lists() > listsBefore);
    const seen = rec.events.length;
    kubelet().finish(target.namespace, running[1]!.pod!, { exitCode: 0 });
    await waitFor("events after the relist", () => rec.events.slice(seen).some((e) => e.kind === "job" && e.requestId === s.requestId));
    await waitFor("the request to succeed", async () => (await cluster.jobStatus(ref))?.phase === "succeeded");
    expect(rec.errors).toEqual([]);
  });

  it("cancel deletes running pods through foreground propagation", async () => {
    const s = spec(2);
    kubelet().script(target.namespace, `gm-${s.requestId}`, 0, [{ hold: true }]);
    kubelet().script(target.namespace, `gm-${s.requestId}`, 1, [{ hold: true }]);
    const ref = await cluster.submitJob(s);
    await waitFor("both tasks running", async () => (await cluster.taskStates(ref))?.every((t) => t.state === "running"));
    await cluster.cancelJob(ref);
    const deletes = server().requests.filter((r) => r.method === "DELETE" && r.path.endsWith(`/jobs/${ref.name}`));
    expect(deletes.map((r) => [r.query.propagationPolicy, r.status])).toEqual([["Foreground", 200]]);
    await waitFor("the pods to go", () => server().list("Pod", target.namespace).every((p) => p.metadata.labels?.["piksel.dev/request"] !== s.requestId));
    await waitFor("the Job to go", async () => (await cluster.jobStatus(ref)) === null);
  });
});
