import { BatchV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, type V1Job } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { startKubeApiServer, waitFor, type KubeApiServer, type KubeApiServerOptions } from "../support/kube-api";

/**
 * The local Kubernetes API test server itself: what it answers must be what kube-apiserver answers,
 * or the driver contract suites prove nothing. Raw HTTP where the wire format matters, client-node
 * where a client's expectations matter (discovery, typed APIs).
 */

const servers: KubeApiServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(opts: KubeApiServerOptions = {}) {
  const server = await startKubeApiServer({ namespaces: ["default", "piksel"], ...opts });
  servers.push(server);
  const kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  const api = async (path: string, init: { method?: string; body?: unknown; contentType?: string } = {}) => {
    const res = await fetch(server.url + path, {
      method: init.method ?? "GET",
      headers: { authorization: `Bearer ${server.token}`, ...(init.body !== undefined ? { "content-type": init.contentType ?? "application/json" } : {}) },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // text/plain (logs, healthz)
    }
    return { status: res.status, body: body as Record<string, unknown> };
  };
  /** Opens a stream and collects its lines until `until` holds or the stream ends. */
  const stream = async (path: string, until: (lines: string[]) => boolean, onOpen?: () => void) => {
    const controller = new AbortController();
    const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${server.token}` }, signal: controller.signal });
    onOpen?.();
    const lines: string[] = [];
    const decoder = new TextDecoder();
    let buffered = "";
    let ended = false;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        const parts = buffered.split("\n");
        buffered = parts.pop()!;
        lines.push(...parts);
        if (until(lines)) break;
      }
      ended = !until(lines);
    } finally {
      controller.abort();
    }
    return { status: res.status, lines, ended };
  };
  const events = (lines: string[]) => lines.map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string; resourceVersion: string }; code?: number; reason?: string; message?: string } });
  return { server, kc, api, stream, events };
}

const pod = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace: "piksel", ...extra }, spec: { containers: [{ name: "main", image: "busybox:1" }] } });
const running = { phase: "Running", containerStatuses: [{ name: "main", ready: true, state: { running: { startedAt: "2026-01-01T00:00:00Z" } } }] };

describe("Kubernetes API test server", () => {
  it("serves discovery the way client-node's KubernetesObjectApi uses it", async () => {
    const { api, kc } = await start();
    expect((await api("/api")).body).toMatchObject({ kind: "APIVersions", versions: ["v1"] });
    expect((await api("/apis")).body.groups).toEqual(expect.arrayContaining([expect.objectContaining({ name: "batch" }), expect.objectContaining({ name: "kustomize.toolkit.fluxcd.io" })]));
    const batch = await api("/apis/batch/v1");
    expect(batch.body).toMatchObject({ kind: "APIResourceList", groupVersion: "batch/v1" });
    expect(JSON.stringify(batch.body)).toContain('"name":"jobs"');
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const job: V1Job = { apiVersion: "batch/v1", kind: "Job", metadata: { name: "via-discovery", namespace: "piksel" }, spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "w", image: "x" }] } } } };
    await objects.create(job);
    expect((await objects.read({ apiVersion: "batch/v1", kind: "Job", metadata: { name: "via-discovery", namespace: "piksel" } })).metadata?.uid).toBeTruthy();
  });

  it("refuses requests without the bearer token with a 401 Status", async () => {
    const { server } = await start();
    const res = await fetch(`${server.url}/api/v1/namespaces/piksel/pods`);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401 });
  });

  it("answers failures with the Status objects kube-apiserver sends", async () => {
    const { api } = await start();
    expect(await api("/api/v1/namespaces/piksel/pods/nope")).toEqual({
      status: 404,
      body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: 'pods "nope" not found', reason: "NotFound", details: { name: "nope", kind: "pods" }, code: 404 },
    });
    expect((await api("/apis/batch/v1/namespaces/piksel/jobs/nope")).body).toMatchObject({ message: 'jobs.batch "nope" not found', details: { name: "nope", group: "batch", kind: "jobs" } });
    expect((await api("/apis/example.com/v1/namespaces/piksel/things/x")).body).toMatchObject({ code: 404, reason: "NotFound", details: {} });
    expect((await api("/api/v1/namespaces/piksel/pods", { method: "POST", body: pod("a") })).status).toBe(201);
    expect((await api("/api/v1/namespaces/piksel/pods", { method: "POST", body: pod("a") })).body).toMatchObject({ code: 409, reason: "AlreadyExists", message: 'pods "a" already exists' });
    expect((await api("/api/v1/namespaces/piksel/pods", { method: "POST", body: pod("Bad_Name") })).body).toMatchObject({ code: 422, reason: "Invalid" });
    const noNamespace = { ...pod("a"), metadata: { name: "a" } };
    expect((await api("/api/v1/namespaces/nowhere/pods", { method: "POST", body: noNamespace })).body).toMatchObject({ code: 404, message: 'namespaces "nowhere" not found' });
    expect((await api("/api/v1/namespaces/default/pods", { method: "POST", body: pod("a") })).body).toMatchObject({ code: 400, message: "the namespace of the provided object does not match the namespace sent on the request" });
    const stale = (await api("/api/v1/namespaces/piksel/pods/a")).body as { metadata: { resourceVersion: string } };
    await api("/api/v1/namespaces/piksel/pods/a", { method: "PATCH", body: { metadata: { labels: { x: "1" } } }, contentType: "application/merge-patch+json" });
    expect((await api("/api/v1/namespaces/piksel/pods/a", { method: "PUT", body: { ...pod("a"), metadata: { ...pod("a").metadata, resourceVersion: stale.metadata.resourceVersion } } })).body).toMatchObject({ code: 409, reason: "Conflict" });
    expect((await api("/api/v1/namespaces/piksel/pods/a", { method: "PATCH", body: { metadata: {} }, contentType: "application/apply-patch+yaml" })).status).toBe(415);
  });

  it("keeps spec and status apart: generation counts spec changes, /status writes only status", async () => {
    const { api } = await start();
    const base = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/piksel/kustomizations";
    const ks = { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "apps" }, spec: { interval: "10m", prune: true }, status: { observedGeneration: 99 } };
    const created = (await api(base, { method: "POST", body: ks })).body as { metadata: { generation: number }; status?: unknown };
    expect(created.metadata.generation).toBe(1);
    expect(created.status).toBeUndefined();
    const withStatus = (await api(`${base}/apps/status`, { method: "PATCH", body: { status: { observedGeneration: 1 }, spec: { interval: "1m" } }, contentType: "application/merge-patch+json" })).body as { metadata: { generation: number }; spec: { interval: string }; status: unknown };
    expect(withStatus).toMatchObject({ metadata: { generation: 1 }, spec: { interval: "10m" }, status: { observedGeneration: 1 } });
    const suspended = (await api(`${base}/apps`, { method: "PATCH", body: [{ op: "add", path: "/spec/suspend", value: true }], contentType: "application/json-patch+json" })).body;
    expect(suspended).toMatchObject({ metadata: { generation: 2 }, spec: { suspend: true }, status: { observedGeneration: 1 } });
  });

  it("watches: current state without a resourceVersion, only later events with one, objects leaving a selector as DELETED", async () => {
    const { server, api, stream, events } = await start();
    server.put({ ...pod("one", { labels: { app: "core" } }), status: running });
    const list = (await api("/api/v1/namespaces/piksel/pods")).body as unknown as { metadata: { resourceVersion: string }; kind: string; items: { kind?: string }[] };
    expect(list.kind).toBe("PodList");
    expect(list.items[0]!.kind).toBeUndefined();
    const initial = await stream("/api/v1/namespaces/piksel/pods?watch=1", (l) => l.length >= 1);
    expect(events(initial.lines)).toMatchObject([{ type: "ADDED", object: { metadata: { name: "one" } } }]);
    const resumed = await stream(`/api/v1/namespaces/piksel/pods?watch=true&labelSelector=app%3Dcore&resourceVersion=${list.metadata.resourceVersion}`, (l) => l.length >= 2, () => {
      server.put({ ...pod("two", { labels: { app: "core" } }) });
      server.mutate("Pod", "piksel", "one", (p) => void (p.metadata.labels = { app: "other" }));
    });
    expect(events(resumed.lines).map((e) => [e.type, e.object.metadata.name])).toEqual([
      ["ADDED", "two"],
      ["DELETED", "one"],
    ]);
  });

  it("refuses a compacted resourceVersion with 410 Expired: an ERROR event by default, an HTTP status on request", async () => {
    const { server, stream, events } = await start({ historyLimit: 3 });
    const old = server.resourceVersion;
    for (let i = 0; i < 5; i++) server.put(pod(`p${i}`));
    const asEvent = await stream(`/api/v1/namespaces/piksel/pods?watch=1&resourceVersion=${old}`, () => false);
    expect(asEvent.status).toBe(200);
    expect(asEvent.ended).toBe(true);
    expect(events(asEvent.lines)).toEqual([{ type: "ERROR", object: expect.objectContaining({ kind: "Status", code: 410, reason: "Expired", message: expect.stringMatching(/^too old resource version: \d+ \(\d+\)$/) }) }]);
    server.expiredWatch = "http";
    const asStatus = await stream(`/api/v1/namespaces/piksel/pods?watch=1&resourceVersion=${old}`, () => false);
    expect(asStatus.status).toBe(410);
  });

  it("sends bookmarks only to watches that allow them, and ends a watch after timeoutSeconds", async () => {
    const { server, stream, events } = await start();
    const rv = server.resourceVersion;
    const withBookmarks = stream(`/api/v1/namespaces/piksel/pods?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`, (l) => l.length >= 1);
    const without = stream(`/api/v1/namespaces/piksel/pods?watch=1&resourceVersion=${rv}&timeoutSeconds=1`, () => false);
    await waitFor("two watches", () => server.openWatches("pods") === 2);
    expect(server.bookmark()).toBe(1);
    expect(events((await withBookmarks).lines)).toEqual([{ type: "BOOKMARK", object: { kind: "Pod", apiVersion: "v1", metadata: { resourceVersion: String(rv) } } }]);
    const timedOut = await without;
    expect(timedOut).toMatchObject({ ended: true, lines: [] });
  });

  it("creates Jobs with the defaults the API server adds, and deletes them with each propagation policy", async () => {
    const { server, kc, api } = await start();
    const batch = kc.makeApiClient(BatchV1Api);
    const spec = { completions: 2, completionMode: "Indexed", template: { spec: { restartPolicy: "Never", containers: [{ name: "w", image: "piksel-core@sha256:" + "a".repeat(64) }] } } };
    const make = async (name: string) => {
      const job = await batch.createNamespacedJob({ namespace: "piksel", body: { metadata: { name }, spec } as V1Job });
      for (const i of [0, 1]) {
        server.put({ ...pod(`${name}-${i}`), metadata: { name: `${name}-${i}`, namespace: "piksel", labels: { "job-name": name }, ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name, uid: job.metadata!.uid!, controller: true, blockOwnerDeletion: true }] } });
      }
      return job;
    };
    const job = await make("bg");
    expect(job.spec).toMatchObject({ completions: 2, parallelism: 1, backoffLimit: 6, completionMode: "Indexed", selector: { matchLabels: { "batch.kubernetes.io/controller-uid": job.metadata!.uid } } });
    expect(job.spec!.template.metadata!.labels).toMatchObject({ "job-name": "bg", "batch.kubernetes.io/job-name": "bg" });
    await expect(batch.createNamespacedJob({ namespace: "piksel", body: { metadata: { name: "bad" }, spec: { template: { spec: { containers: [{ name: "w", image: "x" }] } } } } })).rejects.toMatchObject({ code: 422 });

    expect(await batch.deleteNamespacedJob({ namespace: "piksel", name: "bg", propagationPolicy: "Background" })).toMatchObject({ status: "Success", details: { name: "bg", group: "batch", kind: "jobs" } });
    await waitFor("the GC to delete the pods", () => server.list("Pod", "piksel").filter((p) => p.metadata.name.startsWith("bg-")).length === 0);

    await make("orphan");
    await batch.deleteNamespacedJob({ namespace: "piksel", name: "orphan" });
    expect(server.get("Job", "piksel", "orphan")).toBeUndefined();
    expect(server.list("Pod", "piksel").filter((p) => p.metadata.name.startsWith("orphan-")).map((p) => p.metadata.ownerReferences)).toEqual([undefined, undefined]);

    await make("fg");
    // Foreground answers with the Job, marked (client-node types every DELETE answer as V1Status, so raw HTTP).
    const marked = (await api("/apis/batch/v1/namespaces/piksel/jobs/fg", { method: "DELETE", body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Foreground" } })).body as unknown as V1Job;
    expect(marked.metadata).toMatchObject({ finalizers: ["foregroundDeletion"], deletionTimestamp: expect.anything() });
    await waitFor("the job and its pods to be gone", () => !server.get("Job", "piksel", "fg") && server.list("Pod", "piksel").every((p) => !p.metadata.name.startsWith("fg-")));
  });

  it("serves pod logs: whole, tailed, per container, and followed until the container terminates", async () => {
    const { server, api, stream, kc } = await start();
    server.put({ ...pod("worker"), status: running });
    server.appendLog("piksel", "worker", "main", "line 1\nline 2\nline 3");
    expect((await kc.makeApiClient(CoreV1Api).readNamespacedPodLog({ namespace: "piksel", name: "worker" }))).toBe("line 1\nline 2\nline 3\n");
    expect((await api("/api/v1/namespaces/piksel/pods/worker/log?tailLines=1")).body).toBe("line 3\n");
    server.put({ ...pod("two"), spec: { containers: [{ name: "a", image: "x" }, { name: "b", image: "y" }] }, status: { phase: "Pending" } });
    expect((await api("/api/v1/namespaces/piksel/pods/two/log")).body).toMatchObject({ code: 400, message: "a container name must be specified for pod two, choose one of: [a b]" });
    expect((await api("/api/v1/namespaces/piksel/pods/two/log?container=a")).body).toMatchObject({ code: 400, message: 'container "a" in pod "two" is waiting to start: ContainerCreating' });
    const followed = await stream("/api/v1/namespaces/piksel/pods/worker/log?follow=true&tailLines=1", () => false, () => {
      server.appendLog("piksel", "worker", "main", "line 4");
      server.mutate("Pod", "piksel", "worker", (p) => void (p.status = { phase: "Succeeded", containerStatuses: [{ name: "main", state: { terminated: { exitCode: 0 } } }] }));
    });
    expect(followed).toMatchObject({ status: 200, ended: true, lines: ["line 3", "line 4"] });
  });

  it("fails the next requests on demand with the outage's Status", async () => {
    const { server, api } = await start();
    server.failNext(2, { code: 503, match: (r) => r.path.endsWith("/pods") });
    expect(await api("/api/v1/namespaces/piksel/pods")).toMatchObject({ status: 503, body: { reason: "ServiceUnavailable", code: 503 } });
    expect((await api("/version")).status).toBe(200);
    expect((await api("/api/v1/namespaces/piksel/pods")).status).toBe(503);
    expect((await api("/api/v1/namespaces/piksel/pods")).status).toBe(200);
  });
});
