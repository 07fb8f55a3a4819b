import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalUser } from "~/features/auth/server/demo-users";
import { EnvironmentObserver } from "~/features/environments/server/observer";
import { seedPromotionHistory } from "~/features/promotion/server/seed";
import { advancePromotions, decide, requestPromotion, requestRollback, type PromotionDeps } from "~/features/promotion/server/promotion.service";
import type { Role } from "~/lib/roles";
import { loadConfig, type PikselConfig } from "~/server/config";
import { bootstrapLocalDrivers } from "~/server/embedded/bootstrap";
import { startEmbeddedFlux } from "~/server/embedded/flux-wiring";
import { setFailure, type LocalFlux } from "~/server/embedded/local-flux";
import { AppError } from "~/server/errors";
import { createLogger } from "~/server/logger";
import { createEnvironmentPorts, type EnvironmentPorts } from "~/server/ports";
import type { SessionUser } from "~/server/trpc/init";
import { createAppDatabase } from "../support/databases";

/**
 * The promotion workflow end to end on the embedded default's real drivers: a seeded GitOps bare
 * repository, the OCI layout registry, the local cluster with its local Flux, and PostgreSQL.
 */
let app: Awaited<ReturnType<typeof createAppDatabase>>;
let config: PikselConfig;
let ports: Map<string, EnvironmentPorts>;
let flux: LocalFlux | undefined;
let deps: PromotionDeps;
const users: Record<string, SessionUser> = {};
const log = createLogger({ level: "silent" });
const IMAGE = "piksel-core";

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const stateOf = async (id: string) => (await app.db.promotion.findUniqueOrThrow({ where: { id } })).state;
const remote = () => config.environments[0]!.gitops.remote;
const commitsWith = (promotionId: string) =>
  execFileSync("git", ["--git-dir", remote(), "log", "--format=%H", "-F", `--grep=Promotion-Id: ${promotionId}`, "main"], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
const digestOf = (tag: string) => ports.get("prod")!.registry.resolve(tag);
async function codeOf(p: Promise<unknown>) {
  try {
    await p;
    return "OK";
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
}
/** Runs the engine until the promotion reaches `state`. */
const advanceUntil = (id: string, state: string) =>
  until(`promotion ${id} to be ${state}`, async () => {
    await advancePromotions(deps);
    return (await stateOf(id)) === state;
  });

beforeAll(async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-promotion-"));
  config = loadConfig({ PIKSEL_DATA_DIR: dataDir });
  for (const e of config.environments) if (e.cluster.driver === "local") e.cluster.reconcileDelaySeconds = 0;
  await bootstrapLocalDrivers(config, log);
  ports = new Map(config.environments.map((e) => [e.name, createEnvironmentPorts(config, e)]));
  app = await createAppDatabase("promotion");
  flux = await startEmbeddedFlux(config, ports, log);
  const observer = new EnvironmentObserver({ config, ports, db: app.db, log });
  deps = { db: app.db, config, ports, observer, log };
  for (const [key, role] of [["requester", "requester"], ["approver", "approver"], ["approver2", "approver"], ["admin", "admin"]] as [string, Role][]) {
    const u = await createLocalUser(app.db, { email: `${key}@test.local`, name: key, role, password: "password-1" });
    users[key] = { id: u.id, email: u.email, name: u.name, role };
  }
  await seedPromotionHistory(app.db, config, ports.get("dev")!.registry, IMAGE);
  // Every environment deployed as seeded (dev v1.8.0, staging v1.7.0, prod v1.6.0).
  await until("the seeded state to be deployed everywhere", async () => (await observer.refreshAll()).every((s) => s.images[0]?.deployed));
}, 120_000);

afterAll(async () => {
  await flux?.stop();
  await app?.drop();
});

describe("promotion to prod", () => {
  it("refuses an unvalidated digest with the list of unmet conditions, and audits the refusal", async () => {
    const v180 = await digestOf("v1.8.0");
    const err = await requestPromotion(deps, users.requester!, { environment: "prod", imageName: IMAGE, digest: v180 }).catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe("PRECONDITION_FAILED");
    expect(err.detail.unmet).toEqual([
      "staging's overlay does not hold this digest at its head",
      "not deployed in staging: the digest is not the one its overlay holds",
      'validation "smoke" has not been recorded in staging',
    ]);
    const refusal = await app.db.auditEvent.findFirst({ where: { action: "policy.refusal" }, orderBy: { id: "desc" } });
    expect(refusal).toMatchObject({ environment: "prod", toDigest: v180, actorEmail: "requester@test.local" });
  });

  it("20 concurrent requests make one promotion; two approvals other than the requester's commit it once; Flux deploys it", async () => {
    const v170 = await digestOf("v1.7.0");
    const results = await Promise.all(Array.from({ length: 20 }, () => codeOf(requestPromotion(deps, users.requester!, { environment: "prod", imageName: IMAGE, digest: v170 }))));
    expect(results.filter((r) => r === "OK")).toHaveLength(1);
    expect(results.filter((r) => r === "CONFLICT")).toHaveLength(19);
    const p = await app.db.promotion.findFirstOrThrow({ where: { environment: "prod", state: "pending" } });
    expect(p).toMatchObject({ tag: "v1.7.0", digest: v170, fromTag: "v1.6.0", approvalsRequired: 2, sourceEnvironment: "staging" });

    expect(await codeOf(decide(deps, users.requester!, { id: p.id }, true))).toBe("FORBIDDEN");
    await decide(deps, users.approver!, { id: p.id, note: "release notes read" }, true);
    expect(await stateOf(p.id)).toBe("pending");
    expect(await codeOf(decide(deps, users.approver!, { id: p.id }, true))).toBe("CONFLICT");
    await decide(deps, users.approver2!, { id: p.id }, true);
    expect(await stateOf(p.id)).toBe("approved");

    await advanceUntil(p.id, "deployed");
    const commits = commitsWith(p.id);
    expect(commits).toHaveLength(1);
    const message = execFileSync("git", ["--git-dir", remote(), "show", "-s", "--format=%B", commits[0]!], { encoding: "utf8" });
    expect(message).toContain(`Promotion-Id: ${p.id}\nRequested-By: requester <requester@test.local>\nApproved-By: approver <approver@test.local>\nApproved-By: approver2 <approver2@test.local>`);
    expect(message).toContain(`piksel-core:v1.7.0@${v170}`);
    const prod = await deps.observer.refresh("prod");
    expect(prod.images[0]).toMatchObject({ deployed: true, drift: false, desired: { digest: v170, tag: "v1.7.0", promotionId: p.id } });
    const actions = (await app.db.auditEvent.findMany({ where: { subjectId: p.id }, orderBy: { id: "asc" } })).map((e) => e.action);
    expect(actions).toEqual(["promotion.request", "promotion.approve", "promotion.approve", "promotion.commit", "promotion.deployed"]);
  });

  it("recovers from a crash between the push and the database write without a second commit", async () => {
    const v160 = await digestOf("v1.6.0");
    const p = await requestRollback(deps, users.approver!, { environment: "prod", imageName: IMAGE, digest: v160, note: "roll back to the previous release" });
    await decide(deps, users.approver2!, { id: p.id }, true);
    await decide(deps, users.admin!, { id: p.id }, true);
    expect(await stateOf(p.id)).toBe("approved");
    // The console pushed, then died before recording it.
    await ports.get("prod")!.gitops.commitImageChange({ promotionId: p.id, change: { name: IMAGE, newTag: "v1.6.0", digest: v160 }, expectedDigest: p.fromDigest, subject: "Roll back", body: "crashed", trailers: [] });
    await advanceUntil(p.id, "deployed");
    expect(commitsWith(p.id)).toHaveLength(1);
    const commitEvent = await app.db.auditEvent.findFirstOrThrow({ where: { subjectId: p.id, action: "promotion.commit" } });
    expect(commitEvent.detail).toMatchObject({ recovered: true });
  });

  it("marks a promotion failed with Flux's message when Flux cannot apply it", async () => {
    const prodState = config.environments.find((e) => e.name === "prod")!.cluster;
    if (prodState.driver !== "local") throw new Error("expected the local cluster");
    await setFailure(prodState.stateDir, "kustomize build failed: accumulating resources: missing base");
    try {
      const v170 = await digestOf("v1.7.0");
      const p = await requestRollback(deps, users.approver!, { environment: "prod", imageName: IMAGE, digest: v170, note: "forward again" });
      await decide(deps, users.approver2!, { id: p.id }, true);
      await decide(deps, users.admin!, { id: p.id }, true);
      await advanceUntil(p.id, "failed");
      const failed = await app.db.promotion.findUniqueOrThrow({ where: { id: p.id } });
      expect(failed.failureReason).toContain("kustomize build failed: accumulating resources: missing base");
      expect(await app.db.auditEvent.count({ where: { subjectId: p.id, action: "promotion.failed" } })).toBe(1);
    } finally {
      await setFailure(prodState.stateDir, null);
    }
  });
});
