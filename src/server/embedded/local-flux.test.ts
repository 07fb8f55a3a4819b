import { describe, expect, it } from "vitest";
import type { LocalControl, LocalState } from "../drivers/cluster/local-state";
import {
  failedStatus,
  goDuration,
  imageReference,
  initialState,
  podsFor,
  progressingStatus,
  reconcileDecision,
  setCondition,
  succeededStatus,
  upsertHistory,
} from "./local-flux";

const rev = (n: number) => `main@sha1:${String(n).repeat(40).slice(0, 40)}`;
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const t0 = Date.parse("2026-01-01T00:00:00Z");
const control: LocalControl = { generation: 1, suspend: false, failure: null, version: 0 };
const fresh = () => initialState({ name: "piksel-dev", namespace: "flux-system" }, "piksel");
const cond = (status: LocalState["status"], type: string) => status.conditions.find((c) => c.type === type);

describe("setCondition", () => {
  it("keeps lastTransitionTime while the status stays the same", () => {
    const first = setCondition([], { type: "Ready", status: "False", reason: "A", message: "a" }, t0);
    const second = setCondition(first, { type: "Ready", status: "False", reason: "B", message: "b" }, t0 + 5000);
    expect(second).toEqual([{ type: "Ready", status: "False", reason: "B", message: "b", lastTransitionTime: "2026-01-01T00:00:00Z" }]);
    const third = setCondition(second, { type: "Ready", status: "True", reason: "C", message: "c" }, t0 + 9000);
    expect(third[0]!.lastTransitionTime).toBe("2026-01-01T00:00:09Z");
  });
  it("orders Ready first, then by type, as kubectl and flux show them", () => {
    let c = setCondition([], { type: "Reconciling", status: "True", reason: "Progressing", message: "" }, t0);
    c = setCondition(c, { type: "Healthy", status: "True", reason: "Succeeded", message: "" }, t0);
    c = setCondition(c, { type: "Ready", status: "True", reason: "ReconciliationSucceeded", message: "" }, t0);
    expect(c.map((x) => x.type)).toEqual(["Ready", "Healthy", "Reconciling"]);
  });
});

describe("a reconciliation's status", () => {
  it("progresses: Ready=Unknown, Reconciling=True, lastAttemptedRevision set", () => {
    const s = progressingStatus(fresh().status, rev(1), t0);
    expect(cond(s, "Ready")).toMatchObject({ status: "Unknown", reason: "Progressing", message: "Reconciliation in progress" });
    expect(cond(s, "Reconciling")).toMatchObject({ status: "True", reason: "Progressing" });
    expect(s.lastAttemptedRevision).toBe(rev(1));
    expect(s.lastAppliedRevision).toBeNull();
  });
  it("succeeds: Ready=True with the revision, Healthy=True, Reconciling gone, generation observed", () => {
    const s = succeededStatus(progressingStatus(fresh().status, rev(1), t0), { revision: rev(1), generation: 4, durationMs: 1500, digest: "d1" }, t0 + 1500);
    expect(cond(s, "Ready")).toMatchObject({ status: "True", reason: "ReconciliationSucceeded", message: `Applied revision: ${rev(1)}` });
    expect(cond(s, "Healthy")).toMatchObject({ status: "True", reason: "Succeeded", message: "Health check passed in 1.5s" });
    expect(cond(s, "Reconciling")).toBeUndefined();
    expect(s).toMatchObject({ observedGeneration: 4, lastAppliedRevision: rev(1), lastAttemptedRevision: rev(1) });
    expect(s.history).toHaveLength(1);
  });
  it("fails a health check: Ready=False and Healthy=False, applied revision and generation kept, retry pending", () => {
    const applied = succeededStatus(fresh().status, { revision: rev(1), generation: 1, durationMs: 10, digest: "d1" }, t0);
    const s = failedStatus(progressingStatus(applied, rev(2), t0 + 1000), { revision: rev(2), reason: "HealthCheckFailed", message: "timeout waiting for: [x]", durationMs: 3000, digest: "d2" }, t0 + 4000);
    expect(cond(s, "Ready")).toMatchObject({ status: "False", reason: "HealthCheckFailed", message: "timeout waiting for: [x]" });
    expect(cond(s, "Healthy")).toMatchObject({ status: "False", reason: "HealthCheckFailed" });
    expect(cond(s, "Reconciling")).toMatchObject({ status: "True", reason: "ProgressingWithRetry" });
    expect(s).toMatchObject({ observedGeneration: 1, lastAppliedRevision: rev(1), lastAttemptedRevision: rev(2) });
  });
  it("fails an apply: Ready=False ReconciliationFailed, Healthy left as it was", () => {
    const applied = succeededStatus(fresh().status, { revision: rev(1), generation: 1, durationMs: 10, digest: "d1" }, t0);
    const s = failedStatus(progressingStatus(applied, rev(2), t0), { revision: rev(2), reason: "ReconciliationFailed", message: "dry-run failed", durationMs: 5, digest: "d2" }, t0);
    expect(cond(s, "Ready")).toMatchObject({ status: "False", reason: "ReconciliationFailed", message: "dry-run failed" });
    expect(cond(s, "Healthy")).toMatchObject({ status: "True" });
  });
});

describe("upsertHistory", () => {
  it("counts reconciliations of the same content and keeps the newest five", () => {
    let h = upsertHistory([], { digest: "a", revision: rev(1), status: "ReconciliationSucceeded", durationMs: 1 }, t0);
    h = upsertHistory(h, { digest: "a", revision: rev(1), status: "ReconciliationSucceeded", durationMs: 1 }, t0 + 1000);
    expect(h).toEqual([expect.objectContaining({ digest: "a", totalReconciliations: 2, firstReconciled: "2026-01-01T00:00:00Z", lastReconciled: "2026-01-01T00:00:01Z" })]);
    for (const d of ["b", "c", "d", "e", "f"]) h = upsertHistory(h, { digest: d, revision: rev(2), status: "HealthCheckFailed", durationMs: 1 }, t0);
    expect(h.map((x) => x.digest)).toEqual(["f", "e", "d", "c", "b"]);
  });
});

describe("podsFor", () => {
  const core = { name: "piksel-core", newName: "registry.local/piksel-core", newTag: "v1.2.0", digest: digest("a") };
  it("runs each image in a pod whose imageID is <repository>@<digest>", () => {
    const [pod] = podsFor([core], [], "piksel", t0);
    expect(pod!.metadata).toMatchObject({ namespace: "piksel", labels: { "app.kubernetes.io/name": "piksel-core" } });
    expect(pod!.metadata!.name).toMatch(/^piksel-core-[0-9a-f]{10}-[0-9a-f]{5}$/);
    expect(pod!.spec!.containers![0]!.image).toBe(`registry.local/piksel-core:v1.2.0@${digest("a")}`);
    expect(pod!.status!.containerStatuses![0]).toMatchObject({ imageID: `registry.local/piksel-core@${digest("a")}`, ready: true });
  });
  it("keeps the pod of an unchanged image and replaces the one of a changed image", () => {
    const worker = { name: "piksel-worker", digest: digest("b") };
    const before = podsFor([core, worker], [], "piksel", t0);
    const after = podsFor([core, { ...worker, digest: digest("c") }], before, "piksel", t0 + 1000);
    expect(after[0]).toBe(before[0]);
    expect(after[1]!.metadata!.name).not.toBe(before[1]!.metadata!.name);
  });
});

describe("imageReference and goDuration", () => {
  it("renders images as kustomize does", () => {
    expect(imageReference({ name: "a", newTag: "v1", digest: digest("a") })).toBe(`a:v1@${digest("a")}`);
    expect(imageReference({ name: "a", newName: "r/b", digest: digest("a") })).toBe(`r/b@${digest("a")}`);
    expect(imageReference({ name: "a", newTag: "v1" })).toBe("a:v1");
  });
  it("prints durations like Go", () => {
    expect(goDuration(250)).toBe("250ms");
    expect(goDuration(1500)).toBe("1.5s");
    expect(goDuration(123_500)).toBe("2m3.5s");
  });
});

describe("reconcileDecision", () => {
  const applied = (): LocalState => ({ ...fresh(), status: succeededStatus(fresh().status, { revision: rev(1), generation: 1, durationMs: 1, digest: "d" }, t0) });
  it("starts on a new revision and stays idle on the applied one", () => {
    expect(reconcileDecision(fresh(), control, rev(1), t0, 60_000)).toEqual({ start: true });
    expect(reconcileDecision(applied(), control, rev(1), t0, 60_000)).toEqual({ start: false });
    expect(reconcileDecision(applied(), control, rev(2), t0, 60_000)).toEqual({ start: true });
  });
  it("starts when the spec changed (a new generation), even at the same revision", () => {
    expect(reconcileDecision(applied(), { ...control, generation: 2 }, rev(1), t0, 60_000)).toEqual({ start: true });
  });
  it("retries a failed revision after the retry interval, or at once when the control changed", () => {
    const failed: LocalState = { ...applied(), lastFailure: { revision: rev(2), generation: 1, controlVersion: 3, at: new Date(t0).toISOString() } };
    const c = { ...control, version: 3 };
    expect(reconcileDecision(failed, c, rev(2), t0 + 1000, 60_000)).toEqual({ start: false, retryAt: t0 + 60_000 });
    expect(reconcileDecision(failed, c, rev(2), t0 + 60_000, 60_000)).toEqual({ start: true });
    expect(reconcileDecision(failed, { ...c, version: 4 }, rev(2), t0 + 1000, 60_000)).toEqual({ start: true });
    expect(reconcileDecision(failed, c, rev(3), t0 + 1000, 60_000)).toEqual({ start: true });
  });
});
