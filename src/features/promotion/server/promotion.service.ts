import "server-only";
import { randomUUID } from "node:crypto";
import { recordAudit } from "~/features/audit/server/audit.service";
import type { EnvironmentObserver, EnvironmentSnapshot, ImageCell } from "~/features/environments/server/observer";
import { revisionCommit } from "~/lib/flux";
import type { PikselConfig } from "~/server/config";
import type { Db } from "~/server/db";
import { AppError } from "~/server/errors";
import type { Logger } from "~/server/logger";
import type { EnvironmentPorts } from "~/server/ports";
import type { SessionUser } from "~/server/trpc/init";
import { Prisma, type Promotion } from "~/generated/prisma/client";
import type { DecideInput, ListPromotionsInput, PreviewPromotionInput, PromoteImageInput, RecordValidationInput, RollbackInput } from "../promotion.schema";
import { activeFreeze, promotionUnmet } from "../promotion.rules";

export interface PromotionDeps {
  db: Db;
  config: PikselConfig;
  ports: Map<string, EnvironmentPorts>;
  observer: EnvironmentObserver;
  log: Logger;
  /** Posts a Slack-compatible message; failures are logged, never fatal. */
  notify?: (text: string) => Promise<void>;
  now?: () => Date;
}

export const IN_FLIGHT = ["pending", "approved", "committed", "reconciling"] as const;
/** How long a committed promotion may wait for Flux before it is marked failed. */
const RECONCILE_TIMEOUT_MS = 30 * 60_000;

const short = (digest: string) => digest.slice(0, 19);
const person = (u: { name: string; email: string }) => `${u.name} <${u.email}>`;

function environmentConfig(config: PikselConfig, name: string) {
  const index = config.environments.findIndex((e) => e.name === name);
  if (index < 0) throw new AppError("NOT_FOUND", `No environment "${name}". Configured: ${config.environments.map((e) => e.name).join(", ")}.`);
  return { env: config.environments[index]!, previous: index > 0 ? config.environments[index - 1]! : undefined };
}

function cellOf(snapshot: EnvironmentSnapshot, imageName: string): ImageCell {
  const cell = snapshot.images.find((i) => i.imageName === imageName);
  if (!cell) throw new AppError("NOT_FOUND", `The ${snapshot.environment} overlay has no images entry named "${imageName}".`);
  return cell;
}

/** Everything a person needs before confirming: what moves, from where, the unmet conditions and the exact overlay diff. */
export async function previewPromotion(deps: PromotionDeps, input: PreviewPromotionInput) {
  const { env, previous } = environmentConfig(deps.config, input.environment);
  const now = deps.now?.() ?? new Date();
  const target = await deps.observer.refresh(env.name);
  const targetCell = cellOf(target, input.imageName);
  let digest = input.digest;
  let tag: string | null = null;
  let sourceCommit: string | null = null;
  let unmet: string[];
  if (input.kind === "promote") {
    if (!previous) throw new AppError("BAD_REQUEST", `${env.name} is the first environment on the promotion path; CI sets its image, nothing is promoted into it.`);
    const source = await deps.observer.refresh(previous.name);
    const sourceCell = cellOf(source, input.imageName);
    digest ??= sourceCell.desired.digest ?? undefined;
    if (!digest) throw new AppError("PRECONDITION_FAILED", `The ${previous.name} overlay pins no digest for ${input.imageName}; nothing can be promoted from it.`);
    tag = sourceCell.desired.digest === digest ? sourceCell.desired.tag : null;
    sourceCommit = source.head;
    const deployment = await deps.db.deployment.findUnique({ where: { environment_imageName_digest: { environment: previous.name, imageName: input.imageName, digest } } });
    const validations = await latestValidations(deps.db, previous.name, digest);
    unmet = promotionUnmet({
      kind: "promote",
      digest,
      now,
      sourceName: previous.name,
      sourceOverlayHasDigest: sourceCell.desired.digest === digest,
      sourceDeployedUnmet: sourceCell.desired.digest === digest ? sourceCell.unmet : ["the digest is not the one its overlay holds"],
      sourceDeployedSince: deployment?.firstSeenAt ?? null,
      sourcePolicy: previous.policy,
      sourceValidations: validations,
      targetCurrentDigest: targetCell.desired.digest,
    });
  } else {
    if (!digest) throw new AppError("BAD_REQUEST", "A rollback names the digest to go back to.");
    const ran = await deps.db.deployment.findUnique({ where: { environment_imageName_digest: { environment: env.name, imageName: input.imageName, digest } } });
    tag = ran?.tag ?? null;
    unmet = promotionUnmet({ kind: "rollback", digest, now, ranInTargetBefore: !!ran, targetCurrentDigest: targetCell.desired.digest });
  }
  const freeze = activeFreeze(env.policy, now);
  const diff = tag && digest !== targetCell.desired.digest ? await deps.ports.get(env.name)!.gitops.diffImageChange({ name: input.imageName, newTag: tag, digest: digest! }) : "";
  return {
    kind: input.kind,
    environment: env.name,
    sourceEnvironment: input.kind === "promote" ? previous!.name : null,
    imageName: input.imageName,
    tag,
    digest: digest!,
    sourceCommit,
    from: { tag: targetCell.desired.tag, digest: targetCell.desired.digest },
    approvalsRequired: env.policy.approvals,
    freeze: freeze ?? null,
    unmet,
    diff,
  };
}

async function latestValidations(db: Db, environment: string, digest: string) {
  const rows = await db.validation.findMany({ where: { environment, digest }, orderBy: { at: "desc" } });
  const latest = new Map<string, { name: string; passed: boolean }>();
  for (const r of rows) if (!latest.has(r.name)) latest.set(r.name, { name: r.name, passed: r.passed });
  return [...latest.values()];
}

async function refuse(deps: PromotionDeps, actor: SessionUser, environment: string, digest: string, imageName: string, message: string, unmet: string[]): Promise<never> {
  await recordAudit(deps.db, { actor, action: "policy.refusal", environment, subjectType: "image", subjectId: imageName, toDigest: digest, detail: { unmet, message } });
  throw new AppError("PRECONDITION_FAILED", `${message}: ${unmet.join("; ")}.`, { unmet });
}

async function create(deps: PromotionDeps, actor: SessionUser, kind: "promote" | "rollback", input: { environment: string; imageName: string; digest: string; note?: string; overrideFreezeReason?: string }) {
  const preview = await previewPromotion(deps, { environment: input.environment, imageName: input.imageName, digest: input.digest, kind });
  if (preview.unmet.length) {
    await refuse(deps, actor, input.environment, input.digest, input.imageName, kind === "promote" ? `${short(input.digest)} cannot be promoted to ${input.environment}` : `${input.environment} cannot roll back to ${short(input.digest)}`, preview.unmet);
  }
  if (!preview.tag) throw new AppError("PRECONDITION_FAILED", `No tag is known for ${short(input.digest)}; it cannot be written to the overlay.`);
  if (preview.freeze) {
    if (!input.overrideFreezeReason) {
      await refuse(deps, actor, input.environment, input.digest, input.imageName, `${input.environment} is frozen until ${preview.freeze.to}`, [`freeze window: ${preview.freeze.reason}`]);
    }
    if (actor.role !== "admin") throw new AppError("FORBIDDEN", "Only an admin may override a freeze window.");
  }
  const id = `prm_${randomUUID().replace(/-/g, "").slice(0, 20)}`;
  try {
    const promotion = await deps.db.$transaction(async (tx) => {
      const p = await tx.promotion.create({
        data: {
          id,
          kind,
          environment: input.environment,
          sourceEnvironment: preview.sourceEnvironment,
          imageName: input.imageName,
          tag: preview.tag!,
          digest: input.digest,
          fromTag: preview.from.tag,
          fromDigest: preview.from.digest,
          sourceCommit: preview.sourceCommit,
          requestedById: actor.id,
          note: input.overrideFreezeReason ? `${input.note ?? ""}\nFreeze overridden: ${input.overrideFreezeReason}`.trim() : (input.note ?? null),
          freezeOverride: !!(preview.freeze && input.overrideFreezeReason),
          approvalsRequired: preview.approvalsRequired,
          // Nobody needs to approve: it goes straight to the commit step.
          state: preview.approvalsRequired === 0 ? "approved" : "pending",
        },
      });
      await recordAudit(tx, { actor, action: kind === "promote" ? "promotion.request" : "promotion.rollback", environment: input.environment, subjectType: "promotion", subjectId: id, fromDigest: preview.from.digest, toDigest: input.digest, detail: { imageName: input.imageName, tag: preview.tag, source: preview.sourceEnvironment, sourceCommit: preview.sourceCommit, note: input.note ?? null } });
      if (p.freezeOverride) await recordAudit(tx, { actor, action: "policy.override", environment: input.environment, subjectType: "promotion", subjectId: id, toDigest: input.digest, detail: { freeze: preview.freeze, reason: input.overrideFreezeReason ?? null } });
      return p;
    });
    void deps.notify?.(`${person(actor)} requested ${kind === "promote" ? "promotion" : "rollback"} of ${input.imageName}:${preview.tag}@${short(input.digest)} to ${input.environment} (${id}).`);
    return promotion;
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
      const running = await deps.db.promotion.findFirst({ where: { environment: input.environment, state: { in: [...IN_FLIGHT] } } });
      throw new AppError("CONFLICT", `A promotion to ${input.environment} is already in flight${running ? ` (${running.id}, ${running.state})` : ""}; wait for it to finish or be rejected.`, { promotionId: running?.id ?? null });
    }
    throw err;
  }
}

/** Requests the promotion of the previous environment's digest into `environment`. */
export function requestPromotion(deps: PromotionDeps, actor: SessionUser, input: PromoteImageInput) {
  return create(deps, actor, "promote", input);
}

/** Requests going back to a digest that ran in `environment` before (approvals apply, upstream validation does not). */
export function requestRollback(deps: PromotionDeps, actor: SessionUser, input: RollbackInput) {
  return create(deps, actor, "rollback", input);
}

/** Records an approver's decision. The requester cannot approve; a rejection ends the promotion. */
export async function decide(deps: PromotionDeps, actor: SessionUser, input: DecideInput, approved: boolean) {
  const result = await deps.db.$transaction(async (tx) => {
    // Row lock: two approvals arriving together must not both miss the threshold.
    await tx.$queryRaw`select id from promotion where id = ${input.id} for update`;
    const p = await tx.promotion.findUnique({ where: { id: input.id }, include: { approvals: true } });
    if (!p) throw new AppError("NOT_FOUND", `No promotion ${input.id}.`);
    if (p.state !== "pending") throw new AppError("CONFLICT", `Promotion ${p.id} is ${p.state}; only a pending promotion takes approvals.`);
    if (p.requestedById === actor.id) throw new AppError("FORBIDDEN", "You requested this promotion; another approver must decide on it.");
    if (p.approvals.some((a) => a.approverId === actor.id)) throw new AppError("CONFLICT", "You have already decided on this promotion.");
    await tx.approval.create({ data: { id: randomUUID(), promotionId: p.id, approverId: actor.id, approved, note: input.note ?? null } });
    const approvals = p.approvals.filter((a) => a.approved).length + (approved ? 1 : 0);
    const state = !approved ? "rejected" : approvals >= p.approvalsRequired ? "approved" : "pending";
    const updated = await tx.promotion.update({ where: { id: p.id }, data: { state, ...(state === "rejected" && { failedAt: new Date(), failureReason: `Rejected by ${actor.email}${input.note ? `: ${input.note}` : ""}` }) } });
    await recordAudit(tx, { actor, action: approved ? "promotion.approve" : "promotion.reject", environment: p.environment, subjectType: "promotion", subjectId: p.id, fromDigest: p.fromDigest, toDigest: p.digest, detail: { note: input.note ?? null, approvals, required: p.approvalsRequired } });
    return updated;
  });
  void deps.notify?.(`${person(actor)} ${approved ? "approved" : "rejected"} ${result.id} (${result.imageName}@${short(result.digest)} to ${result.environment}); now ${result.state}.`);
  return result;
}

/** Records a check result or an approver's sign-off for a digest in an environment. */
export async function recordValidation(deps: PromotionDeps, actor: SessionUser, input: RecordValidationInput, source: "check" | "sign-off" | "product-request" = "sign-off") {
  environmentConfig(deps.config, input.environment);
  const v = await deps.db.validation.create({ data: { id: randomUUID(), environment: input.environment, digest: input.digest, name: input.name, passed: input.passed, source, note: input.note, recordedBy: actor.email } });
  await recordAudit(deps.db, { actor, action: "validation.record", environment: input.environment, subjectType: "validation", subjectId: input.name, toDigest: input.digest, detail: { passed: input.passed, source, note: input.note } });
  return v;
}

export function listPromotions(db: Db, input: ListPromotionsInput) {
  return db.promotion.findMany({
    where: { ...(input.environment && { environment: input.environment }), ...(input.state && { state: input.state }) },
    orderBy: { requestedAt: "desc" },
    take: input.limit,
    include: { requestedBy: { select: { email: true, name: true } }, approvals: { include: { approver: { select: { email: true, name: true } } }, orderBy: { at: "asc" } } },
  });
}

export async function getPromotion(db: Db, id: string) {
  const p = await db.promotion.findUnique({
    where: { id },
    include: { requestedBy: { select: { email: true, name: true } }, approvals: { include: { approver: { select: { email: true, name: true } } }, orderBy: { at: "asc" } } },
  });
  if (!p) throw new AppError("NOT_FOUND", `No promotion ${id}.`);
  return p;
}

/** Digests that ran in an environment before, newest first: the rollback candidates. */
export function rollbackCandidates(db: Db, environment: string, imageName: string) {
  return db.deployment.findMany({ where: { environment, imageName }, orderBy: { lastSeenAt: "desc" }, take: 20 });
}

// --- the engine: moves approved promotions through commit and reconciliation ---------------------

async function transition(deps: PromotionDeps, p: Promotion, from: Promotion["state"], data: Prisma.PromotionUpdateManyMutationInput, audit?: Parameters<typeof recordAudit>[1]) {
  // Conditional on the state we read, so two engines (replicas) never apply the same step twice.
  const done = await deps.db.$transaction(async (tx) => {
    const { count } = await tx.promotion.updateMany({ where: { id: p.id, state: from }, data });
    if (count && audit) await recordAudit(tx, audit);
    return count > 0;
  });
  return done;
}

const system = { id: null, email: "console@piksel.local" };

async function commit(deps: PromotionDeps, p: Promotion & { approvals: { approved: boolean; approver: { name: string; email: string } }[]; requestedBy: { name: string; email: string } }) {
  const gitops = deps.ports.get(p.environment)!.gitops;
  try {
    const r = await gitops.commitImageChange({
      promotionId: p.id,
      change: { name: p.imageName, newTag: p.tag, digest: p.digest },
      expectedDigest: p.fromDigest,
      subject: `${p.kind === "rollback" ? "Roll back" : "Promote"} ${p.imageName}:${p.tag} to ${p.environment}`,
      body: [
        `${p.kind === "rollback" ? "Rollback" : `From ${p.sourceEnvironment} (verified at ${p.sourceCommit?.slice(0, 12) ?? "?"})`}: ${p.imageName}:${p.tag}@${p.digest}`,
        `Replaces: ${p.fromTag ?? "?"}@${p.fromDigest ?? "none"}`,
      ].join("\n"),
      trailers: [["Requested-By", person(p.requestedBy)], ...p.approvals.filter((a) => a.approved).map((a) => ["Approved-By", person(a.approver)] as [string, string])],
    });
    const moved = await transition(deps, p, "approved", { state: "committed", gitCommit: r.commit, committedAt: new Date() }, { actor: system, action: "promotion.commit", environment: p.environment, subjectType: "promotion", subjectId: p.id, fromDigest: p.fromDigest, toDigest: p.digest, gitCommit: r.commit, detail: { attempts: r.attempts, recovered: r.alreadyPushed } });
    if (moved) void deps.notify?.(`${p.id}: committed ${r.commit.slice(0, 7)} to the ${p.environment} overlay; waiting for Flux.`);
  } catch (err) {
    if (err instanceof AppError && err.code === "CONFLICT") {
      await fail(deps, p, "approved", err.message);
      return;
    }
    deps.log.warn({ err, promotion: p.id }, "promotion commit failed; will retry");
  }
}

async function fail(deps: PromotionDeps, p: Promotion, from: Promotion["state"], reason: string) {
  const moved = await transition(deps, p, from, { state: "failed", failedAt: new Date(), failureReason: reason }, { actor: system, action: "promotion.failed", environment: p.environment, subjectType: "promotion", subjectId: p.id, fromDigest: p.fromDigest, toDigest: p.digest, gitCommit: p.gitCommit, detail: { reason } });
  if (moved) void deps.notify?.(`${p.id} failed in ${p.environment}: ${reason}`);
}

async function follow(deps: PromotionDeps, p: Promotion) {
  const snapshot = await deps.observer.refresh(p.environment);
  const cell = snapshot.images.find((i) => i.imageName === p.imageName);
  const gitops = deps.ports.get(p.environment)!.gitops;
  const applied = revisionCommit(snapshot.flux.lastAppliedRevision);
  const includes = !!(applied && p.gitCommit && (await gitops.contains(applied, p.gitCommit)));
  if (includes && cell?.deployed && cell.desired.digest === p.digest) {
    const moved = await transition(deps, p, p.state, { state: "deployed", deployedAt: new Date() }, { actor: system, action: "promotion.deployed", environment: p.environment, subjectType: "promotion", subjectId: p.id, fromDigest: p.fromDigest, toDigest: p.digest, gitCommit: p.gitCommit });
    if (moved) void deps.notify?.(`${p.id}: ${p.environment} runs ${p.imageName}:${p.tag}@${short(p.digest)}.`);
    return;
  }
  if (snapshot.flux.state === "failed") {
    const cluster = deps.ports.get(p.environment)!.cluster;
    const flux = await cluster.fluxStatus();
    const attempted = revisionCommit(flux?.lastAttemptedRevision);
    // Only a failure of a revision that contains our commit is ours.
    if (attempted && p.gitCommit && (await gitops.contains(attempted, p.gitCommit))) {
      await fail(deps, p, p.state, `Flux failed to apply ${p.gitCommit.slice(0, 7)}: ${snapshot.flux.message}`);
      return;
    }
  }
  if (p.committedAt && Date.now() - p.committedAt.getTime() > RECONCILE_TIMEOUT_MS) {
    await fail(deps, p, p.state, `not deployed ${RECONCILE_TIMEOUT_MS / 60_000} minutes after the commit: ${cell?.unmet.join("; ") ?? "the image is gone from the overlay"}`);
    return;
  }
  if (p.state === "committed") await transition(deps, p, "committed", { state: "reconciling" });
}

/**
 * One pass of the engine: commit what is approved (idempotent per Promotion-Id, so a crash between the
 * push and the database write recovers without a second commit) and follow what is committed.
 */
export async function advancePromotions(deps: PromotionDeps): Promise<void> {
  const open = await deps.db.promotion.findMany({
    where: { state: { in: ["approved", "committed", "reconciling"] } },
    include: { requestedBy: { select: { name: true, email: true } }, approvals: { include: { approver: { select: { name: true, email: true } } } } },
    orderBy: { requestedAt: "asc" },
  });
  for (const p of open) {
    try {
      if (p.state === "approved") await commit(deps, p);
      else await follow(deps, p);
    } catch (err) {
      deps.log.error({ err, promotion: p.id }, "promotion step failed; will retry");
    }
  }
}
