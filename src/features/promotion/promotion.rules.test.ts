import { describe, expect, it } from "vitest";
import { activeFreeze, deployedUnmet, fluxState, promotionUnmet, type FluxLike } from "./promotion.rules";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const ready = (over: Partial<FluxLike> = {}): FluxLike => ({
  generation: 3,
  observedGeneration: 3,
  suspended: false,
  lastAppliedRevision: "main@sha1:abc",
  lastAttemptedRevision: "main@sha1:abc",
  conditions: [
    { type: "Ready", status: "True", reason: "ReconciliationSucceeded", message: "Applied revision: main@sha1:abc" },
    { type: "Healthy", status: "True", reason: "Succeeded", message: "" },
  ],
  ...over,
});

describe("fluxState", () => {
  it("reads ready, reconciling, failed and suspended", () => {
    expect(fluxState(ready()).state).toBe("ready");
    expect(fluxState(ready({ conditions: [{ type: "Ready", status: "Unknown", reason: "Progressing", message: "Reconciliation in progress" }] })).state).toBe("reconciling");
    expect(fluxState(ready({ observedGeneration: 2 })).state).toBe("reconciling");
    expect(fluxState(ready({ conditions: [{ type: "Ready", status: "False", reason: "ReconciliationFailed", message: "kustomize build failed" }] }))).toEqual({ state: "failed", message: "kustomize build failed" });
    expect(fluxState(ready({ suspended: true })).state).toBe("suspended");
    expect(fluxState(null).state).toBe("unknown");
  });
});

describe("deployedUnmet", () => {
  it("is empty when Flux applied the commit and every pod runs the digest", () => {
    expect(deployedUnmet({ flux: ready(), appliedContainsCommit: true, digest: D1, runningDigests: [D1, D1] })).toEqual([]);
  });
  it("healthy must mean the right image runs: a pod on another digest is unmet", () => {
    expect(deployedUnmet({ flux: ready(), appliedContainsCommit: true, digest: D1, runningDigests: [D1, D2] })).toEqual([`not every pod runs ${D1.slice(0, 19)}`]);
  });
  it("lists every failing Flux condition and a revision without the commit", () => {
    const unmet = deployedUnmet({
      flux: ready({ observedGeneration: 2, conditions: [{ type: "Ready", status: "False", reason: "HealthCheckFailed", message: "timeout" }, { type: "Healthy", status: "False", reason: "HealthCheckFailed", message: "" }] }),
      appliedContainsCommit: false,
      digest: D1,
      runningDigests: [],
    });
    expect(unmet).toEqual([
      "Flux is not Ready (HealthCheckFailed: timeout)",
      "Flux has not observed the latest generation",
      "Flux health checks have not passed (HealthCheckFailed)",
      "the applied revision does not contain the commit yet",
      "no pod runs the image",
    ]);
  });
});

describe("promotionUnmet", () => {
  const policy = { approvals: 0, soakMinutes: 60, requiredValidations: ["smoke"], freezes: [] };
  const now = new Date("2026-11-25T12:00:00Z");
  it("accepts a digest deployed, soaked and validated in the source environment", () => {
    expect(
      promotionUnmet({ kind: "promote", digest: D2, now, sourceOverlayHasDigest: true, sourceDeployedUnmet: [], sourceDeployedSince: new Date("2026-11-25T10:00:00Z"), sourcePolicy: policy, sourceName: "staging", sourceValidations: [{ name: "smoke", passed: true }], targetCurrentDigest: D1 }),
    ).toEqual([]);
  });
  it("says which conditions are unmet for an unvalidated digest", () => {
    expect(
      promotionUnmet({ kind: "promote", digest: D2, now, sourceOverlayHasDigest: false, sourceDeployedUnmet: ["no pod runs the image"], sourceDeployedSince: new Date("2026-11-25T11:30:00Z"), sourcePolicy: policy, sourceName: "staging", sourceValidations: [], targetCurrentDigest: D1 }),
    ).toEqual([
      "staging's overlay does not hold this digest at its head",
      "not deployed in staging: no pod runs the image",
      "soak time in staging: 30 of 60 minutes",
      'validation "smoke" has not been recorded in staging',
    ]);
  });
  it("a rollback needs a digest that ran in the target before, not staging validation", () => {
    expect(promotionUnmet({ kind: "rollback", digest: D1, now, ranInTargetBefore: true, targetCurrentDigest: D2 })).toEqual([]);
    expect(promotionUnmet({ kind: "rollback", digest: D1, now, ranInTargetBefore: false, targetCurrentDigest: D2 })).toEqual(["a rollback must name a digest that was deployed in this environment before"]);
  });
  it("refuses a digest the target already runs", () => {
    expect(promotionUnmet({ kind: "rollback", digest: D1, now, ranInTargetBefore: true, targetCurrentDigest: D1 })).toEqual(["the target environment already runs this digest"]);
  });
});

describe("activeFreeze", () => {
  it("finds the window in force", () => {
    const freezes = [{ from: "2026-12-20T00:00:00Z", to: "2027-01-05T00:00:00Z", reason: "year-end freeze" }];
    expect(activeFreeze({ freezes }, new Date("2026-12-24T00:00:00Z"))?.reason).toBe("year-end freeze");
    expect(activeFreeze({ freezes }, new Date("2027-01-05T00:00:00Z"))).toBeUndefined();
  });
});
