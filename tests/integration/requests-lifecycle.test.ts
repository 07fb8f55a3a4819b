import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalUser } from "~/features/auth/server/demo-users";
import { EnvironmentObserver } from "~/features/environments/server/observer";
import { RequestEngine } from "~/features/requests/server/request.engine";
import { cancelRequest, getRequest, REQUEST_VALIDATION, retryFailedTasks, submitJob, submitRequest, type RequestDeps } from "~/features/requests/server/request.service";
import type { Role } from "~/lib/roles";
import { loadConfig, type PikselConfig } from "~/server/config";
import type { ClusterPort } from "~/server/drivers/cluster";
import { createKubernetesCluster } from "~/server/drivers/cluster/kubernetes";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import type { IndexPort } from "~/server/drivers/index";
import { bootstrapLocalDrivers } from "~/server/embedded/bootstrap";
import { startEmbeddedFlux } from "~/server/embedded/flux-wiring";
import type { LocalFlux } from "~/server/embedded/local-flux";
import { AppError } from "~/server/errors";
import { createLogger } from "~/server/logger";
import { createEnvironmentPorts, type EnvironmentPorts } from "~/server/ports";
import type { SessionUser } from "~/server/trpc/init";
import { createAppDatabase, createTestDatabase } from "../support/databases";
import { indexPlanningFixture } from "../support/plan-index";
import { startKubeApiServer, waitFor, type KubeApiServer } from "../support/kube-api";

/**
 * Product requests end to end in the console's workflow: planning on a real ODC index, the digest
 * deployed in staging (seeded GitOps repository, OCI layout registry, local Flux), the Job on the
 * Kubernetes driver against the local Kubernetes API test server with its Job controller (whose
 * kubelet the tests script: how each attempt logs and ends), and the app database. The request
 * engine is driven pass by pass.
 */

const NS = "piksel";
const square = (w: number, s: number, e: number, n: number) => ({ type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] });
/** Inside the fixture scene's footprint: tiles with two scenes each. */
const AOI = square(5.0, 19.3, 5.08, 19.36);
const progressLine = (percent: number) => JSON.stringify({ level: 30, msg: "progress", stage: "reduce", chunk: 1, of: 2, percent });
const log = createLogger({ level: "silent" });

let app: Awaited<ReturnType<typeof createAppDatabase>>;
let indexDb: Awaited<ReturnType<typeof createTestDatabase>>;
let index: IndexPort;
let config: PikselConfig;
let ports: Map<string, EnvironmentPorts>;
let flux: LocalFlux | undefined;
let kube: KubeApiServer;
let jobs: ClusterPort;
let deps: RequestDeps;
let engine: RequestEngine;
const users: Record<string, SessionUser> = {};
let keySeq = 0;
const key = () => `00000000-0000-4000-8000-${String(++keySeq).padStart(12, "0")}`;

const requestPods = (requestId: string) => kube.list("Pod", NS).filter((p) => p.metadata.labels?.["piksel.dev/request"] === requestId);
const runningPods = (requestId: string) => requestPods(requestId).filter((p) => (p.status as { phase?: string } | undefined)?.phase === "Running");
const indexOf = (pod: { metadata: { annotations?: Record<string, string> } }) => Number(pod.metadata.annotations?.["batch.kubernetes.io/job-completion-index"]);
const view = (id: string) => getRequest(deps, users.requester!, id);
/** Runs engine passes until `check` holds. */
const settle = (what: string, check: () => Promise<boolean>) =>
  waitFor(what, async () => {
    await engine.pass();
    return check();
  }, { timeoutMs: 30_000, intervalMs: 50 });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "OK";
  } catch (err) {
    if (err instanceof AppError) return `${err.code}: ${err.message}`;
    throw err;
  }
}

beforeAll(async () => {
  config = loadConfig({ PIKSEL_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "piksel-requests-")) });
  for (const e of config.environments) if (e.cluster.driver === "local") e.cluster.reconcileDelaySeconds = 0;
  config.geomedian.grid = "global_10:960";
  const staging = config.environments.find((e) => e.name === "staging")!;
  staging.scope.bbox = [4.5, 18.5, 6.0, 20.5];
  staging.scope.datetime = "2020-01-01T00:00:00Z/2020-12-31T23:59:59Z";
  await bootstrapLocalDrivers(config, log);

  indexDb = await createTestDatabase("requests");
  index = createPostgresIndex(indexDb.url);
  expect(await indexPlanningFixture(index)).toEqual([]);

  kube = await startKubeApiServer({ namespaces: ["default", NS], jobController: { replacementDelayMs: 0 } });
  jobs = createKubernetesCluster({
    kubeconfig: kube.kubeconfigPath,
    namespace: NS,
    fluxNamespace: "flux-system",
    kustomization: "piksel",
    watchBackoff: { initialMs: 20, maxMs: 200 },
    submitRetry: { attempts: 2, initialMs: 10, maxMs: 20 },
    logPollMs: 20,
    jobs: { parallelism: 4, backoffLimitPerIndex: 2, maxFailedIndexes: 10 },
  });
  ports = new Map(config.environments.map((e) => [e.name, createEnvironmentPorts(config, e)]));
  flux = await startEmbeddedFlux(config, ports, log);
  // Staging: the local cluster's read side (its Flux and pods say which digest is deployed) and the
  // Kubernetes driver's Jobs; planning reads the test index.
  const local = ports.get("staging")!;
  const cluster: ClusterPort = {
    ...local.cluster,
    submitJob: (s) => jobs.submitJob(s),
    jobStatus: (r) => jobs.jobStatus(r),
    watchJobs: (s, e, o) => jobs.watchJobs(s, e, o),
    taskStates: (r) => jobs.taskStates(r),
    streamLogs: (r, i, o) => jobs.streamLogs(r, i, o),
    cancelJob: (r) => jobs.cancelJob(r),
    retryTasks: (r, i, o) => jobs.retryTasks(r, i, o),
  };
  ports.set("staging", { ...local, index, cluster });

  app = await createAppDatabase("requests");
  for (const role of ["viewer", "requester", "approver"] as Role[]) {
    const u = await createLocalUser(app.db, { email: `${role}@test.local`, name: role, role, password: "password-1" });
    users[role] = { id: u.id, email: u.email, name: u.name, role };
  }
  const observer = new EnvironmentObserver({ config, ports, db: app.db, log });
  deps = { db: app.db, config, ports, observer, log };
  engine = new RequestEngine(deps);
  await waitFor("staging to run its desired digest", async () => (await observer.refresh("staging")).images.some((c) => c.imageName === "piksel-core" && c.deployed), { timeoutMs: 60_000, intervalMs: 200 });
}, 120_000);

afterAll(async () => {
  await flux?.stop();
  for (const p of ports?.values() ?? []) await p.index.close().catch(() => undefined);
  await kube?.close();
  await app?.drop();
  await indexDb?.drop();
});

describe("product requests", () => {
  it("runs the deployed digest, shows progress, keeps a failed tile's last log lines while the others finish, retries it, and records a validation", async () => {
    kube.kubelet!.setDefault({ hold: true, lines: [progressLine(10), progressLine(55)] });
    const { id } = await submitRequest(deps, users.requester!, { environment: "staging", year: 2020, aoi: AOI, product: "gm_s2_annual", submissionKey: key() });
    const submitted = await app.db.request.findUniqueOrThrow({ where: { id } });
    expect(submitted.state).toBe("running");
    const deployed = deps.observer.get("staging")!.images.find((c) => c.imageName === "piksel-core")!;
    expect(submitted.digest).toBe(deployed.desired.digest);
    // The Job runs exactly that digest.
    const job = kube.list("Job", NS).find((j) => j.metadata.labels?.["piksel.dev/request"] === id)!;
    const container = (job.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]!;
    expect(container.image).toBe(submitted.image);
    expect(container.image.endsWith(`@${deployed.desired.digest}`)).toBe(true);

    const tasks = (await view(id)).tasks;
    expect(tasks.length).toBeGreaterThan(1);
    expect(tasks.every((t) => t.scenes === 2)).toBe(true);
    await settle("every task running at 55 %", async () => (await view(id)).tasks.every((t) => t.state === "running" && t.progress === 0.55));
    expect((await view(id)).progress).toBeCloseTo(0.55);

    // Task 0 fails three times (one attempt and two retries); the others finish.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const pod = await waitFor(`attempt ${attempt} of task 0`, async () => runningPods(id).find((p) => indexOf(p) === 0), { timeoutMs: 10_000, intervalMs: 20 });
      kube.kubelet!.finish(NS, pod.metadata.name, { exitCode: 1, lines: [`reading B04: HTTP 503 (attempt ${attempt})`, "worker failed"] });
      if (attempt < 3) await waitFor(`attempt ${attempt} to be replaced`, async () => runningPods(id).some((p) => indexOf(p) === 0 && p.metadata.name !== pod.metadata.name), { timeoutMs: 10_000, intervalMs: 20 });
    }
    for (const pod of runningPods(id).filter((p) => indexOf(p) !== 0)) kube.kubelet!.finish(NS, pod.metadata.name, { exitCode: 0, lines: [progressLine(100), "geomedian written"] });
    await settle("the request to fail with one failed tile", async () => (await view(id)).state === "failed");
    const failed = await view(id);
    expect(failed.counts).toMatchObject({ failed: 1, succeeded: tasks.length - 1, running: 0, pending: 0 });
    const t0 = failed.tasks[0]!;
    expect(t0).toMatchObject({ state: "failed", attempts: 3, failures: 3, exitCode: 1 });
    expect(t0.lastLog).toContain("reading B04: HTTP 503 (attempt 3)");
    expect(failed.tasks.slice(1).every((t) => t.state === "succeeded" && t.progress === 1)).toBe(true);
    expect(await app.db.validation.count({ where: { name: REQUEST_VALIDATION } })).toBe(0);

    // A viewer cannot retry; the requester retries the failed tile in a follow-up Job.
    expect(await codeOf(retryFailedTasks(deps, users.viewer!, { id }))).toMatch(/^FORBIDDEN/);
    expect(await codeOf(retryFailedTasks(deps, users.requester!, { id, indexes: [1] }))).toMatch(/^CONFLICT: Tile\(s\) 1 .* have not failed/);
    expect(await retryFailedTasks(deps, users.requester!, { id })).toEqual({ retried: 1 });
    const retryPod = await waitFor("the follow-up attempt of task 0", async () => runningPods(id).find((p) => indexOf(p) === 0), { timeoutMs: 10_000, intervalMs: 20 });
    kube.kubelet!.finish(NS, retryPod.metadata.name, { exitCode: 0, lines: [progressLine(100)] });
    await settle("the request to succeed", async () => (await view(id)).state === "succeeded");
    expect((await view(id)).progress).toBe(1);

    // The digest's evidence for promotion: a passed validation in staging, recorded once.
    const validations = await app.db.validation.findMany({ where: { environment: "staging", digest: submitted.digest, name: REQUEST_VALIDATION } });
    expect(validations).toEqual([expect.objectContaining({ passed: true, source: "product-request", note: expect.stringContaining(id) })]);
    const audit = await app.db.auditEvent.findMany({ where: { subjectId: id }, orderBy: { id: "asc" } });
    expect(audit.map((a) => a.action)).toEqual(["request.submit", "request.finished", "request.retry", "request.finished"]);
    expect(audit.map((a) => a.toDigest)).toEqual(Array(4).fill(submitted.digest));
  });

  it("keeps a request through a cluster API outage at submit: retrying, then submitted, never lost or doubled", async () => {
    kube.kubelet!.setDefault({ lines: ["done"] });
    // The driver's own retries are exhausted: the console must carry the request over the outage.
    let down = true;
    kube.failNext(1000, { match: (r) => down && r.method === "POST" && r.path.includes("/jobs") });
    const submissionKey = key();
    const { id } = await submitRequest(deps, users.requester!, { environment: "staging", year: 2020, aoi: AOI, product: "gm_s2_annual", submissionKey });
    const waiting = await app.db.request.findUniqueOrThrow({ where: { id } });
    expect(waiting).toMatchObject({ state: "submitting", submitAttempts: 1, job: null });
    expect(waiting.lastError).toMatch(/503/);
    expect(waiting.nextAttemptAt!.getTime()).toBeGreaterThan(Date.now());
    // The same form submitted again (a double click, a retried call) is the same request.
    expect(await submitRequest(deps, users.requester!, { environment: "staging", year: 2020, aoi: AOI, product: "gm_s2_annual", submissionKey })).toEqual({ id });

    // The API comes back, but the next create's answer is lost after it was carried out.
    down = false;
    kube.failNext(1, { match: (r) => r.method === "POST" && r.path.includes("/jobs"), after: true });
    await app.db.request.update({ where: { id }, data: { nextAttemptAt: new Date() } });
    await settle("the request to be submitted", async () => (await app.db.request.findUniqueOrThrow({ where: { id } })).state !== "submitting");
    await settle("the request to succeed", async () => (await view(id)).state === "succeeded");
    expect(kube.list("Job", NS).filter((j) => j.metadata.labels?.["piksel.dev/request"] === id)).toHaveLength(1);
    expect(await app.db.request.count({ where: { submissionKey } })).toBe(1);
  });

  it("two submit attempts at once (the form's and the engine's) make one running Job, not a cancelled one", async () => {
    kube.kubelet!.setDefault({ hold: true, lines: [progressLine(5)] });
    let down = true;
    kube.failNext(1000, { match: (r) => down && r.method === "POST" && r.path.includes("/jobs") });
    const { id } = await submitRequest(deps, users.requester!, { environment: "staging", year: 2020, aoi: AOI, product: "gm_s2_annual", submissionKey: key() });
    down = false;
    const request = await app.db.request.findUniqueOrThrow({ where: { id } });
    await Promise.all([submitJob(deps, request), submitJob(deps, request)]);
    expect((await app.db.request.findUniqueOrThrow({ where: { id } })).state).toBe("running");
    await settle("tasks running", async () => (await view(id)).counts.running > 0);
    const jobs = kube.list("Job", NS).filter((j) => j.metadata.labels?.["piksel.dev/request"] === id);
    expect(jobs.map((j) => j.metadata.deletionTimestamp ?? null)).toEqual([null]);
    await cancelRequest(deps, users.requester!, id);
  });

  it("cancels a running request: its Job and pods go, finished tiles stay", async () => {
    kube.kubelet!.setDefault({ hold: true, lines: [progressLine(20)] });
    const { id } = await submitRequest(deps, users.requester!, { environment: "staging", year: 2020, aoi: AOI, product: "gm_s2_annual", submissionKey: key() });
    await settle("tasks running", async () => (await view(id)).counts.running > 0);
    expect(await codeOf(cancelRequest(deps, users.viewer!, id))).toMatch(/^FORBIDDEN/);
    await cancelRequest(deps, users.approver!, id);
    await settle("the request to be cancelled", async () => (await view(id)).state === "cancelled");
    expect(requestPods(id)).toEqual([]);
    expect((await view(id)).tasks.every((t) => t.state === "cancelled")).toBe(true);
    expect(await codeOf(cancelRequest(deps, users.requester!, id))).toBe("OK");
  });

  it("refuses what cannot run, saying what to do", async () => {
    const submit = (over: Record<string, unknown>) => codeOf(submitRequest(deps, users.requester!, { environment: "staging", year: 2020, aoi: AOI, product: "gm_s2_annual", submissionKey: key(), ...over }));
    expect(await submit({ aoi: square(4.55, 18.6, 4.6, 18.65) })).toMatch(/^BAD_REQUEST: None of the \d+ tile\(s\) the AOI meets has Sentinel-2 scenes for 2020 in staging's index/);
    expect(await submit({ aoi: { type: "Polygon", coordinates: [[[5, 19], [5.1, 19.1], [5.1, 19], [5, 19.1], [5, 19]]] } })).toMatch(/^BAD_REQUEST: The outer ring crosses itself/);
    expect(await submit({ environment: "qa" })).toBe('NOT_FOUND: No environment "qa".');
  });
});
