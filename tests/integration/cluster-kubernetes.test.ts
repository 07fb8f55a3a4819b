import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ClusterEvent, ClusterPort, ClusterWatchError } from "~/server/drivers/cluster";
import { createKubernetesCluster, KubernetesApiError } from "~/server/drivers/cluster/kubernetes";
import { findCondition, revisionCommit } from "~/server/drivers/cluster/objects";
import { contractTarget, realClusterConfigured, startKubeApiServer, waitFor, type ContractTarget } from "../support/kube-api";

/**
 * Contract of the Kubernetes cluster driver. The first block runs against the local Kubernetes API
 * test server, or against the real cluster of $KUBECONFIG when it is set (in a throwaway namespace;
 * Flux's CRDs must be installed). The second block breaks the API server on purpose (dropped
 * connections, compacted history, outages), which only the test server can do: it is skipped on a
 * real cluster.
 */

const sha = "3f2c0a9b8e7d6c5b4a39281706f5e4d3c2b1a098";
const digest = `sha256:${"9c1e".repeat(16)}`;
const backoff = { initialMs: 50, maxMs: 500 };

const readyStatus = (revision: string, generation: number) => ({
  observedGeneration: generation,
  lastAppliedRevision: revision,
  lastAttemptedRevision: revision,
  conditions: [
    { type: "Ready", status: "True", reason: "ReconciliationSucceeded", message: `Applied revision: ${revision}`, lastTransitionTime: "2026-01-01T00:00:00Z", observedGeneration: generation },
    { type: "Healthy", status: "True", reason: "Succeeded", message: "Health check passed in 2.5s", lastTransitionTime: "2026-01-01T00:00:00Z", observedGeneration: generation },
  ],
});

function recorder() {
  const events: ClusterEvent[] = [];
  const errors: ClusterWatchError[] = [];
  return {
    events,
    errors,
    count: (kind: ClusterEvent["kind"]) => events.filter((e) => e.kind === kind).length,
    onEvent: (e: ClusterEvent) => void events.push(e),
    onError: (e: ClusterWatchError) => void errors.push(e),
  };
}

describe(`Kubernetes cluster driver contract (${realClusterConfigured ? "real cluster from KUBECONFIG" : "local Kubernetes API test server"})`, () => {
  let target: ContractTarget;
  let cluster: ClusterPort;
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    target = await contractTarget();
    cluster = createKubernetesCluster({ kubeconfig: target.kubeconfigPath, namespace: target.namespace, fluxNamespace: target.namespace, kustomization: "piksel-contract", watchBackoff: backoff });
  });
  afterEach(() => stops.splice(0).forEach((stop) => stop()));
  afterAll(async () => target?.close());

  it("checks reachability through /version", async () => {
    expect(await cluster.check()).toMatch(/^Kubernetes v\d+\.\d+/);
  });

  it("returns null for a Kustomization that does not exist (404 naming the object)", async () => {
    const missing = createKubernetesCluster({ kubeconfig: target.kubeconfigPath, namespace: target.namespace, fluxNamespace: target.namespace, kustomization: "piksel-missing" });
    expect(await missing.fluxStatus()).toBeNull();
  });

  it("maps an RFC-0005 revision (main@sha1:<sha>), the generations and the conditions", async () => {
    await target.putKustomization("piksel-contract", { interval: "10m" });
    // A spec change makes generation 2 on the API server; Flux has observed generation 1 only.
    await target.putKustomization("piksel-contract", { interval: "5m", status: readyStatus(`main@sha1:${sha}`, 1) });
    const status = await cluster.fluxStatus();
    expect(status).toMatchObject({
      name: "piksel-contract",
      namespace: target.namespace,
      generation: 2,
      observedGeneration: 1,
      lastAppliedRevision: `main@sha1:${sha}`,
      lastAttemptedRevision: `main@sha1:${sha}`,
    });
    expect(findCondition(status!, "Ready")).toEqual({ type: "Ready", status: "True", reason: "ReconciliationSucceeded", message: `Applied revision: main@sha1:${sha}`, lastTransitionTime: expect.stringMatching(/^2026-01-01T00:00:00/) });
    expect(findCondition(status!, "Healthy")).toMatchObject({ status: "True", reason: "Succeeded" });
    expect(revisionCommit(status!.lastAppliedRevision)).toBe(sha);
  });

  it("maps the pre-2.0 revision format (main/<sha>) and a failed attempt", async () => {
    await target.putKustomization("piksel-contract", {
      interval: "5m",
      status: {
        ...readyStatus(`main/${sha}`, 2),
        lastAttemptedRevision: "main/0000000000000000000000000000000000000001",
        conditions: [{ type: "Ready", status: "False", reason: "HealthCheckFailed", message: "timeout waiting for: [Deployment/piksel/core status: 'InProgress']", lastTransitionTime: "2026-01-02T00:00:00Z" }],
      },
    });
    const status = (await cluster.fluxStatus())!;
    expect(status.lastAppliedRevision).toBe(`main/${sha}`);
    expect(status.lastAttemptedRevision).toBe("main/0000000000000000000000000000000000000001");
    expect(revisionCommit(status.lastAppliedRevision)).toBe(sha);
    expect(findCondition(status, "Ready")).toMatchObject({ status: "False", reason: "HealthCheckFailed", message: expect.stringContaining("timeout waiting for") });
  });

  it("maps spec.suspend both ways", async () => {
    await target.putKustomization("piksel-contract", { interval: "5m", suspend: true });
    expect((await cluster.fluxStatus())!.suspended).toBe(true);
    await target.putKustomization("piksel-contract", { interval: "5m", suspend: false });
    expect((await cluster.fluxStatus())!.suspended).toBe(false);
    await target.putKustomization("piksel-contract", { interval: "5m", suspend: true });
  });

  it.skipIf(realClusterConfigured)("reads the digest from both imageID forms, and pods still pulling", async () => {
    // The kubelet writes container statuses; on the test server the suite plays it.
    await target.putPod("core-a", {
      labels: { app: "piksel-core" },
      containers: [{ name: "core", image: `registry.local/piksel-core:v1@${digest}` }],
      status: { phase: "Running", containerStatuses: [{ name: "core", image: "registry.local/piksel-core:v1", imageID: `docker-pullable://registry.local/piksel-core@${digest}`, ready: true }] },
    });
    await target.putPod("core-b", {
      labels: { app: "piksel-core" },
      containers: [{ name: "core", image: `registry.local/piksel-core:v1@${digest}` }],
      status: { phase: "Running", containerStatuses: [{ name: "core", image: "registry.local/piksel-core:v1", imageID: `registry.local/piksel-core@${digest}`, ready: true }] },
    });
    await target.putPod("worker-c", { labels: { app: "worker" }, containers: [{ name: "w", image: "worker:v2" }], status: { phase: "Pending" } });
    const images = await cluster.runningImages();
    expect(images.map((i) => [i.pod, i.digest, i.ready, i.phase])).toEqual([
      ["core-a", digest, true, "Running"],
      ["core-b", digest, true, "Running"],
      ["worker-c", null, false, "Pending"],
    ]);
    expect((await cluster.runningImages("app=piksel-core")).map((i) => i.pod)).toEqual(["core-a", "core-b"]);
    expect(await cluster.runningImages("app in (nothing)")).toEqual([]);
  });

  it.skipIf(!realClusterConfigured)("reads the digest a real runtime reports for a running pod", { timeout: 180_000 }, async () => {
    await target.putPod("pause", { labels: { app: "pause" }, containers: [{ name: "pause", image: "registry.k8s.io/pause:3.10" }] });
    const [image] = await waitFor("the pause pod to run", async () => (await cluster.runningImages("app=pause")).filter((i) => i.imageID), { timeoutMs: 170_000, intervalMs: 1000 });
    expect(image!.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(image!.imageID.endsWith(image!.digest!)).toBe(true);
  });

  it("watch reports a change of the Kustomization and of the pods", async () => {
    const rec = recorder();
    stops.push(cluster.watch(rec.onEvent, rec.onError));
    // One event per kind once the watch has listed: changes before it are not lost.
    await waitFor("the initial events", () => rec.count("flux") >= 1 && rec.count("pods") >= 1);
    const flux = rec.count("flux");
    const pods = rec.count("pods");
    await target.putKustomization("piksel-contract", { interval: "5m", status: readyStatus(`main@sha1:${"1".repeat(40)}`, 3) });
    await waitFor("a flux event", () => rec.count("flux") > flux);
    await target.putPod("watched", { containers: [{ name: "c", image: "registry.k8s.io/pause:3.10" }] });
    await waitFor("a pods event", () => rec.count("pods") > pods);
    expect(rec.errors).toEqual([]);
  });

  it("stops cleanly: the streams are closed and no more events arrive", async () => {
    const rec = recorder();
    const stop = cluster.watch(rec.onEvent, rec.onError);
    await waitFor("the initial events", () => rec.count("flux") >= 1 && rec.count("pods") >= 1);
    if (target.server) await waitFor("two open watches", () => target.server!.openWatches() === 2);
    stop();
    stop();
    if (target.server) await waitFor("the watches to close", () => target.server!.openWatches() === 0);
    const seen = rec.events.length;
    await target.deletePod("watched");
    // A second watch proves the change has been delivered to watchers; the stopped one saw nothing.
    const probe = recorder();
    stops.push(cluster.watch(probe.onEvent));
    await waitFor("the probe's initial events", () => probe.count("pods") >= 1);
    expect(rec.events.length).toBe(seen);
    expect(rec.errors).toEqual([]);
  });
});

/**
 * Protocol failures only a test server can produce on demand. Each test gets its own server so the
 * failures it injects cannot leak into another test.
 */
describe.skipIf(realClusterConfigured)("Kubernetes cluster driver against a misbehaving API server (test server only)", () => {
  const ns = "piksel";
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup() {
    const server = await startKubeApiServer({ namespaces: ["default", "flux-system", ns] });
    cleanups.push(() => server.close());
    const putKs = (revision: string) =>
      server.put({ apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "apps", namespace: "flux-system" }, spec: { interval: "10m", prune: true, sourceRef: { kind: "GitRepository", name: "flux-system" } }, status: readyStatus(revision, 1) });
    putKs(`main@sha1:${"a".repeat(40)}`);
    const cluster = createKubernetesCluster({ kubeconfig: server.kubeconfigPath, namespace: ns, fluxNamespace: "flux-system", kustomization: "apps", watchBackoff: backoff });
    const rec = recorder();
    const stop = cluster.watch(rec.onEvent, rec.onError);
    cleanups.push(stop);
    await waitFor("the initial events", () => rec.count("flux") >= 1 && rec.count("pods") >= 1);
    await waitFor("both watches open", () => server.openWatches() === 2);
    const since = (n: number) => server.requests.slice(n);
    const isKsList = (r: { path: string; watch: boolean; method: string }) => r.method === "GET" && !r.watch && r.path === "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations";
    const isKsWatch = (r: { path: string; watch: boolean }) => r.watch && r.path === "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations";
    return { server, cluster, rec, stop, putKs, since, isKsList, isKsWatch };
  }

  it("asks for bookmarks and watches the one Kustomization by field selector", async () => {
    const { server, isKsWatch } = await setup();
    const w = server.requests.find(isKsWatch)!;
    expect(w.query).toMatchObject({ allowWatchBookmarks: "true", fieldSelector: "metadata.name=apps" });
    expect(Number(w.query.timeoutSeconds)).toBeGreaterThanOrEqual(300);
  });

  it("resumes from its last resourceVersion after the server drops the connections, without relisting", async () => {
    const { server, rec, putKs, since, isKsList, isKsWatch } = await setup();
    const flux = rec.count("flux");
    const changed = putKs(`main@sha1:${"b".repeat(40)}`);
    await waitFor("the change", () => rec.count("flux") > flux);
    const mark = server.requests.length;
    expect(server.dropWatches()).toBe(2);
    await waitFor("both watches to reconnect", () => server.openWatches() === 2);
    expect(since(mark).filter(isKsList)).toEqual([]);
    expect(since(mark).find(isKsWatch)!.query.resourceVersion).toBe(changed.metadata.resourceVersion);
    // A change made after the reconnect arrives as usual.
    const before = rec.count("flux");
    putKs(`main@sha1:${"c".repeat(40)}`);
    await waitFor("the next change", () => rec.count("flux") > before);
  });

  it("resumes after an abrupt connection reset as well", async () => {
    const { server, rec, putKs } = await setup();
    server.dropWatches({ abrupt: true });
    await waitFor("both watches to reconnect", () => server.openWatches() === 2);
    const before = rec.count("flux");
    putKs(`main@sha1:${"d".repeat(40)}`);
    await waitFor("the change", () => rec.count("flux") > before);
  });

  it("moves its resourceVersion forward on BOOKMARK events without reporting a change", async () => {
    const { server, rec, since, isKsWatch } = await setup();
    // Writes elsewhere advance the server's resourceVersion; only a bookmark tells the watcher.
    server.put({ apiVersion: "v1", kind: "Pod", metadata: { name: "elsewhere", namespace: "default" }, spec: { containers: [{ name: "c", image: "x" }] } });
    const rv = String(server.resourceVersion);
    const events = rec.events.length;
    expect(server.bookmark()).toBe(2);
    const mark = server.requests.length;
    server.dropWatches();
    await waitFor("both watches to reconnect", () => server.openWatches() === 2);
    expect(since(mark).find(isKsWatch)!.query.resourceVersion).toBe(rv);
    expect(rec.events.length).toBe(events);
  });

  for (const mode of ["event", "http"] as const) {
    it(`relists after 410 Expired (${mode === "event" ? "ERROR event in the stream" : "HTTP status"}) and reports the change it missed`, async () => {
      const { server, rec, putKs, since, isKsList, isKsWatch } = await setup();
      server.expiredWatch = mode;
      const before = rec.count("flux");
      const mark = server.requests.length;
      // Disconnected (the first reconnect fails) while the object changes and the history is compacted:
      // resuming is impossible, only a relist sees the change.
      server.failNext(1, { code: 503, match: isKsWatch });
      server.dropWatches();
      putKs(`main@sha1:${"e".repeat(40)}`);
      server.compact();
      await waitFor("the missed change", () => rec.count("flux") > before);
      const after = since(mark);
      const expiredAt = after.findIndex((r) => isKsWatch(r) && (mode === "http" ? r.status === 410 : r.status === 200 && r.query.resourceVersion !== undefined));
      expect(expiredAt).toBeGreaterThanOrEqual(0);
      expect(after.slice(expiredAt).some(isKsList)).toBe(true);
      await waitFor("the watch to be open again", () => server.openWatches("kustomizations") === 1);
    });
  }

  it("relists when an open stream ends with an ERROR 410 event", async () => {
    const { server, rec, since, isKsList } = await setup();
    const before = { flux: rec.count("flux"), pods: rec.count("pods") };
    const mark = server.requests.length;
    expect(server.expireWatches()).toBe(2);
    await waitFor("events after the relists", () => rec.count("flux") > before.flux && rec.count("pods") > before.pods);
    expect(since(mark).some(isKsList)).toBe(true);
    expect(rec.errors).toEqual([]);
  });

  it("surfaces an API outage as a clear error from reads", async () => {
    const { server, cluster } = await setup();
    server.failNext(1, { code: 503 });
    const err = await cluster.fluxStatus().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubernetesApiError);
    expect((err as KubernetesApiError).status).toBe(503);
    expect((err as Error).message).toBe(`Kubernetes API ${server.url}: read Kustomization flux-system/apps: HTTP 503 ServiceUnavailable: the server is currently unable to handle the request`);
    server.failNext(1, { code: 500 });
    await expect(cluster.runningImages()).rejects.toThrow(`Kubernetes API ${server.url}: list pods in namespace piksel: HTTP 500 InternalError: Internal error occurred`);
    expect(await cluster.fluxStatus()).not.toBeNull();
  });

  it("surfaces an unreachable API server as a clear error", async () => {
    const server = await startKubeApiServer();
    const cluster = createKubernetesCluster({ kubeconfig: server.kubeconfigPath, namespace: ns, fluxNamespace: "flux-system", kustomization: "apps" });
    await server.close();
    await expect(cluster.fluxStatus()).rejects.toThrow(new RegExp(`^Kubernetes API ${server.url}: read Kustomization flux-system/apps: unreachable \\(ECONNREFUSED`));
    await expect(cluster.check()).rejects.toThrow();
  });

  it("keeps watching through an outage: reports the errors, backs off, then sees changes again", async () => {
    const { server, rec, putKs, isKsWatch } = await setup();
    server.failNext(3, { code: 503, match: isKsWatch });
    server.dropWatches();
    await waitFor("three reported errors", () => rec.errors.filter((e) => e.status === 503).length >= 3);
    expect(rec.errors[0]!.message).toMatch(/watch Kustomization flux-system\/apps: HTTP 503/);
    await waitFor("the watch to be open again", () => server.openWatches("kustomizations") === 1);
    const before = rec.count("flux");
    putKs(`main@sha1:${"f".repeat(40)}`);
    await waitFor("the change after the outage", () => rec.count("flux") > before);
  });

  it("stops while backing off without opening another stream", async () => {
    const { server, rec, stop, isKsWatch } = await setup();
    server.failNext(1000, { code: 503, match: isKsWatch });
    server.dropWatches();
    await waitFor("an error", () => rec.errors.length >= 1);
    stop();
    const attempts = server.requests.filter(isKsWatch).length;
    await waitFor("the pods watch to close", () => server.openWatches() === 0);
    // Let a full backoff period pass by waiting on something that takes that long: a second
    // watcher's own failure and retry on the same broken path.
    const probe = recorder();
    const cluster = createKubernetesCluster({ kubeconfig: server.kubeconfigPath, namespace: ns, fluxNamespace: "flux-system", kustomization: "apps", watchBackoff: { initialMs: 600, maxMs: 600 } });
    cleanups.push(cluster.watch(probe.onEvent, probe.onError));
    await waitFor("the probe to retry once", () => probe.errors.length >= 2, { timeoutMs: 5000 });
    expect(server.requests.filter(isKsWatch).length).toBe(attempts + probe.errors.length);
  });
});
