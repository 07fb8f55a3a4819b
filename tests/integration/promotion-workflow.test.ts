import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
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

describe("policy around promotions", () => {
  it("a freeze window refuses new promotions; an admin may override it with a reason, audited", async () => {
    const prod = config.environments.find((e) => e.name === "prod")!;
    const saved = prod.policy.freezes;
    prod.policy.freezes = [{ from: "2026-01-01T00:00:00Z", to: "2099-01-01T00:00:00Z", reason: "year-end freeze" }];
    try {
      const v160 = await digestOf("v1.6.0");
      const rollback = { environment: "prod", imageName: IMAGE, digest: v160, note: "incident 4711" };
      const refused = await requestRollback(deps, users.approver!, rollback).catch((e) => e);
      expect(refused.code).toBe("PRECONDITION_FAILED");
      expect(refused.detail.unmet).toEqual(["freeze window: year-end freeze"]);
      const reason = "incident 4711: the release corrupts outputs";
      expect(await codeOf(requestRollback(deps, users.approver!, { ...rollback, overrideFreezeReason: reason }))).toBe("FORBIDDEN");
      const p = await requestRollback(deps, users.admin!, { ...rollback, overrideFreezeReason: reason });
      expect(p).toMatchObject({ freezeOverride: true, state: "pending" });
      const override = await app.db.auditEvent.findFirstOrThrow({ where: { subjectId: p.id, action: "policy.override" } });
      expect(override.detail).toMatchObject({ reason });
      await decide(deps, users.approver!, { id: p.id, note: "not during the freeze after all" }, false);
    } finally {
      prod.policy.freezes = saved;
    }
  });

  it("posts Slack-compatible JSON to the configured webhook for promotion events", async () => {
    const received: { text: string }[] = [];
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        received.push(JSON.parse(body));
        res.end("ok");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
    const { notifier } = await import("~/features/promotion/server/notify");
    const withHook = { ...deps, notify: notifier({ ...config, notifications: { webhookUrl: url } }, log) };
    try {
      const v160 = await digestOf("v1.6.0");
      const p = await requestRollback(withHook, users.approver!, { environment: "prod", imageName: IMAGE, digest: v160, note: "webhook check" });
      await decide(withHook, users.approver2!, { id: p.id }, false);
      await until("two webhook posts", async () => received.length >= 2);
      expect(received[0]!.text).toContain(`requested rollback of piksel-core:v1.6.0@sha256:`);
      expect(received[1]!.text).toContain(`rejected ${p.id}`);
      expect(await stateOf(p.id)).toBe("rejected");
    } finally {
      server.close();
    }
  });
});
