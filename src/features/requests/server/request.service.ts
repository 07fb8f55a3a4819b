import "server-only";
import { randomBytes } from "node:crypto";
import { recordAudit } from "~/features/audit/server/audit.service";
import type { EnvironmentObserver } from "~/features/environments/server/observer";
import { imageRepository } from "~/features/environments/server/observer";
import { listTaskOutputs, pythonSnippet, recomputeCommand } from "~/features/outputs/server/outputs.service";
import { recordValidation } from "~/features/promotion/server/promotion.service";
import type { Prisma, Request, RequestTask } from "~/generated/prisma/client";
import { parseTaskId } from "~/lib/grid";
import { hasRole } from "~/lib/roles";
import type { PikselConfig } from "~/server/config";
import type { Db } from "~/server/db";
import type { JobRef, TaskState as ClusterTaskState } from "~/server/drivers/cluster";
import { jobNameFor } from "~/server/drivers/cluster/job-manifest";
import { AppError } from "~/server/errors";
import { latestProgress } from "~/worker/progress";
import type { Logger } from "~/server/logger";
import type { EnvironmentPorts } from "~/server/ports";
import type { SessionUser } from "~/server/trpc/init";
import type { ListRequestsInput, RetryTasksInput, SubmitRequestInput } from "../requests.schema";
import { planRequest } from "./plan.service";

export interface RequestDeps {
  db: Db;
  config: PikselConfig;
  ports: Map<string, EnvironmentPorts>;
  observer: EnvironmentObserver;
  log: Logger;
  now?: () => Date;
}

/** The validation a succeeded request records for the digest it ran with (promotion evidence). */
export const REQUEST_VALIDATION = "product-request";
/** Errors of the cluster that retrying the same submit cannot fix: the request fails with the message. */
const PERMANENT = new Set(["BAD_REQUEST", "PRECONDITION_FAILED", "CONFLICT", "FORBIDDEN", "UNAUTHORIZED"]);
const LOG_LINES_KEPT = 40;

const now = (deps: RequestDeps) => deps.now?.() ?? new Date();

/** Short lower-case ids: readable in URLs and valid in Job names and labels. */
function newRequestId(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  return [...randomBytes(10)].map((b) => alphabet[b % alphabet.length]).join("");
}

/** Delay before the next submit attempt after `attempts` failed ones: 2 s doubling, at most a minute. */
export function submitBackoffMs(attempts: number): number {
  return Math.min(60_000, 2_000 * 2 ** Math.max(0, attempts - 1));
}

/**
 * The worker image deployed in the environment: the overlay's digest when Flux has applied it and the
 * pods run it; while a rollout is under way, the one digest the pods still run. Requests never run a
 * tag, and never a digest that is only desired.
 */
export async function deployedWorkerImage(deps: Pick<RequestDeps, "config" | "observer">, environment: string): Promise<{ image: string; digest: string; tag: string | null }> {
  const env = deps.config.environments.find((e) => e.name === environment)!;
  const repository = env.registry.repository;
  const snapshot = deps.observer.get(environment) ?? (await deps.observer.refresh(environment));
  const last = (s: string) => s.split("/").pop();
  const cell = snapshot.images.find((c) => c.imageName === repository || last(c.desired.newName ?? c.imageName) === last(repository));
  if (!cell) {
    throw new AppError("PRECONDITION_FAILED", `${environment}'s overlay deploys no ${repository} image, so there is no worker to run. Promote an image to ${environment} first.`);
  }
  const name = cell.desired.newName ?? cell.imageName;
  if (cell.deployed && cell.desired.digest) {
    return { image: `${name}${cell.desired.tag ? `:${cell.desired.tag}` : ""}@${cell.desired.digest}`, digest: cell.desired.digest, tag: cell.desired.tag };
  }
  if (cell.running.digests.length === 1) {
    const digest = cell.running.digests[0]!;
    return { image: `${imageRepository(name)}@${digest}`, digest, tag: cell.desired.digest === digest ? cell.desired.tag : null };
  }
  const why = cell.running.digests.length ? `pods run ${cell.running.digests.length} different digests` : "no pod runs it";
  throw new AppError("PRECONDITION_FAILED", `${repository} is not deployed in ${environment} right now (${why}${cell.unmet.length ? `; ${cell.unmet.join("; ")}` : ""}). Wait for the rollout to finish, then submit again.`);
}

/**
 * Creates a request from an AOI: plans it again on the server (the same checks as the preview), pins the
 * digest deployed in the environment, stores the request with its tasks (tiles with scenes), and tries to
 * create its Job at once. A cluster that cannot be reached leaves it `submitting`; the request engine
 * retries with backoff. A repeated submission key returns the request it created.
 */
export async function submitRequest(deps: RequestDeps, user: SessionUser, input: SubmitRequestInput): Promise<{ id: string }> {
  const existing = await deps.db.request.findUnique({ where: { submissionKey: input.submissionKey }, select: { id: true } });
  if (existing) return existing;
  const env = deps.config.environments.find((e) => e.name === input.environment);
  if (!env) throw new AppError("NOT_FOUND", `No environment "${input.environment}".`);
  const plan = await planRequest(deps, user.role, input);
  const tiles = plan.tiles.filter((t) => t.scenes > 0);
  if (tiles.length === 0) {
    throw new AppError("BAD_REQUEST", `None of the ${plan.tiles.length} tile(s) the AOI meets has Sentinel-2 scenes for ${input.year} in ${env.name}'s index, so there is nothing to compute. Pick another year or area, or index more data first.`);
  }
  const image = await deployedWorkerImage(deps, env.name);
  const id = newRequestId();
  try {
    await deps.db.$transaction(async (tx) => {
      await tx.request.create({
        data: {
          id,
          environment: env.name,
          product: input.product,
          period: `${input.year}--P1Y`,
          grid: plan.grid,
          aoi: plan.aoi as unknown as Prisma.InputJsonValue,
          areaKm2: plan.areaKm2,
          title: input.title || null,
          submissionKey: input.submissionKey,
          image: image.image,
          digest: image.digest,
          tag: image.tag,
          requestedById: user.id,
          // The first attempt is made right below; the engine takes over if it does not land.
          nextAttemptAt: new Date(now(deps).getTime() + submitBackoffMs(1)),
        },
      });
      await tx.requestTask.createMany({
        data: tiles.map((t, index) => ({ requestId: id, index, taskId: t.taskId, x: t.x, y: t.y, bounds: t.bounds, scenes: t.scenes })),
      });
      await recordAudit(tx, {
        actor: user,
        action: "request.submit",
        environment: env.name,
        subjectType: "request",
        subjectId: id,
        toDigest: image.digest,
        detail: { product: input.product, year: input.year, tiles: tiles.length, skippedEmptyTiles: plan.tiles.length - tiles.length, areaKm2: Math.round(plan.areaKm2) },
      });
    });
  } catch (err) {
    // Two tabs raced with the same key: the other one's request stands.
    if ((err as { code?: string }).code === "P2002") {
      const raced = await deps.db.request.findUnique({ where: { submissionKey: input.submissionKey }, select: { id: true } });
      if (raced) return raced;
    }
    throw err;
  }
  const request = await deps.db.request.findUniqueOrThrow({ where: { id } });
  await submitJob(deps, request);
  return { id };
}

/**
 * One attempt to create the request's Job. Idempotent through the cluster port (the Job's name derives
 * from the request id), so an attempt whose answer was lost is found, not doubled. Transient failures
 * schedule the next attempt; a refusal fails the request with the cluster's reason.
 */
export async function submitJob(deps: RequestDeps, request: Request): Promise<void> {
  const ports = deps.ports.get(request.environment);
  if (!ports) return failRequest(deps, request, `The environment ${request.environment} is no longer configured.`);
  const tasks = await deps.db.requestTask.findMany({ where: { requestId: request.id }, orderBy: { index: "asc" }, select: { taskId: true } });
  const user = await deps.db.user.findUnique({ where: { id: request.requestedById }, select: { email: true } });
  let ref: JobRef;
  try {
    ref = await ports.cluster.submitJob({
      requestId: request.id,
      environment: request.environment,
      image: request.image,
      tasks: tasks.map((t) => t.taskId),
      requestedBy: user?.email,
      annotations: { "piksel.dev/product": request.product, "piksel.dev/period": request.period, ...(request.title ? { "piksel.dev/title": request.title } : {}) },
    });
  } catch (err) {
    if (err instanceof AppError && PERMANENT.has(err.code)) return failRequest(deps, request, `The cluster refused the Job: ${err.message}`);
    const attempts = request.submitAttempts + 1;
    const message = err instanceof Error ? err.message : String(err);
    deps.log.warn({ request: request.id, attempts, err: message }, "submit failed, will retry");
    await deps.db.request.updateMany({
      where: { id: request.id, state: "submitting" },
      data: { submitAttempts: attempts, lastError: message, nextAttemptAt: new Date(now(deps).getTime() + submitBackoffMs(attempts)) },
    });
    return;
  }
  const updated = await deps.db.request.updateMany({
    where: { id: request.id, state: "submitting" },
    data: { state: "running", job: ref as unknown as Prisma.InputJsonValue, submittedAt: now(deps), submitAttempts: request.submitAttempts + 1, lastError: null, nextAttemptAt: null },
  });
  if (updated.count === 0) {
    // Another attempt (the engine's, or a second console) recorded it first, which is fine: the Job is
    // the same one. Only a request cancelled while this submit was in flight must not keep its Job.
    const current = await deps.db.request.findUnique({ where: { id: request.id }, select: { state: true } });
    if (current?.state === "cancelled") await ports.cluster.cancelJob(ref);
  }
}

async function failRequest(deps: RequestDeps, request: Request, message: string) {
  const at = now(deps);
  await deps.db.$transaction([
    deps.db.request.updateMany({ where: { id: request.id, state: { in: ["submitting", "running"] } }, data: { state: "failed", message, finishedAt: at, nextAttemptAt: null } }),
    deps.db.requestTask.updateMany({ where: { requestId: request.id, state: { in: ["pending", "running", "retrying"] } }, data: { state: "failed", reason: message, finishedAt: at } }),
  ]);
  await recordAudit(deps.db, { actor: { email: "system:request-engine" }, action: "request.finished", environment: request.environment, subjectType: "request", subjectId: request.id, toDigest: request.digest, detail: { state: "failed", message } });
}

const jobRef = (request: Request) => request.job as unknown as JobRef | null;

function taskChanges(row: RequestTask, s: ClusterTaskState): Prisma.RequestTaskUpdateInput | null {
  const next = {
    state: s.state,
    attempts: s.attempts,
    failures: s.failures,
    exitCode: s.exitCode,
    reason: s.reason,
    pod: s.pod,
    startedAt: s.startedAt ? new Date(s.startedAt) : null,
    finishedAt: s.finishedAt ? new Date(s.finishedAt) : null,
  };
  const same =
    row.state === next.state &&
    row.attempts === next.attempts &&
    row.failures === next.failures &&
    row.exitCode === next.exitCode &&
    row.reason === next.reason &&
    row.pod === next.pod &&
    row.startedAt?.getTime() === next.startedAt?.getTime() &&
    row.finishedAt?.getTime() === next.finishedAt?.getTime();
  return same ? null : next;
}

async function collectLines(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

/**
 * Brings a submitted request's tasks and state up to date from its Jobs: task states, progress of the
 * running ones (from the worker's progress lines), the last log lines of failed ones (kept after the
 * cluster removes the pods), and the request's end: on success in any environment a validation for the
 * digest it ran with.
 */
export async function syncRequest(deps: RequestDeps, request: Request): Promise<void> {
  const ref = jobRef(request);
  const cluster = deps.ports.get(request.environment)?.cluster;
  if (!ref || !cluster) return;
  const [status, states] = await Promise.all([cluster.jobStatus(ref), cluster.taskStates(ref)]);
  const at = now(deps);
  if (!status || !states) {
    // The Jobs are gone: deleted by our cancel, or by someone else.
    const state = request.state === "cancelling" ? "cancelled" : "failed";
    const message = state === "cancelled" ? null : "The request's Job was deleted from the cluster before it finished (not by the console).";
    await deps.db.$transaction([
      deps.db.request.updateMany({ where: { id: request.id, state: request.state }, data: { state, finishedAt: at, message, syncedAt: at } }),
      deps.db.requestTask.updateMany({ where: { requestId: request.id, state: { in: ["pending", "running", "retrying"] } }, data: { state: state === "cancelled" ? "cancelled" : "failed", finishedAt: at, ...(message && { reason: message }) } }),
    ]);
    await recordAudit(deps.db, { actor: { email: "system:request-engine" }, action: "request.finished", environment: request.environment, subjectType: "request", subjectId: request.id, toDigest: request.digest, detail: { state, ...(message && { message }) } });
    return;
  }
  const rows = await deps.db.requestTask.findMany({ where: { requestId: request.id }, orderBy: { index: "asc" } });
  const writes: Prisma.PrismaPromise<unknown>[] = [];
  for (const s of states) {
    const row = rows[s.index];
    if (!row) continue;
    const change: Prisma.RequestTaskUpdateInput = taskChanges(row, s) ?? {};
    if (s.state === "running" && s.pod) {
      const lines = await collectLines(cluster.streamLogs(ref, s.index, { tailLines: 30 })).catch(() => []);
      const p = latestProgress(lines);
      if (p && (p.percent / 100 !== row.progress || p.stage !== row.stage)) Object.assign(change, { progress: p.percent / 100, stage: p.stage });
    } else if (s.state === "succeeded" && row.progress !== 1) {
      Object.assign(change, { progress: 1, stage: "done" });
    } else if ((s.state === "failed" || s.state === "retrying") && (row.state !== s.state || row.failures !== s.failures) && s.pod) {
      const attempt = s.state === "retrying" ? s.failures : undefined;
      const lines = await collectLines(cluster.streamLogs(ref, s.index, { tailLines: LOG_LINES_KEPT, attempt })).catch(() => null);
      if (lines) Object.assign(change, { lastLog: lines.join("\n") });
      if (s.state === "retrying") Object.assign(change, { progress: 0, stage: null });
    }
    if (Object.keys(change).length) writes.push(deps.db.requestTask.update({ where: { requestId_index: { requestId: request.id, index: s.index } }, data: change }));
  }
  const state = status.phase === "succeeded" ? "succeeded" : status.phase === "failed" ? "failed" : status.phase === "cancelling" ? "cancelling" : request.state === "cancelling" ? "cancelling" : "running";
  const finished = state === "succeeded" || state === "failed";
  writes.push(
    deps.db.request.updateMany({
      where: { id: request.id, state: request.state },
      data: { state, syncedAt: at, message: status.message, ...(finished && !request.finishedAt ? { finishedAt: status.completionTime ? new Date(status.completionTime) : at } : {}) },
    }),
  );
  await deps.db.$transaction(writes);
  if (finished && request.state !== state) await onFinished(deps, request, state);
}

async function onFinished(deps: RequestDeps, request: Request, state: "succeeded" | "failed") {
  const tasks = await deps.db.requestTask.groupBy({ by: ["state"], where: { requestId: request.id }, _count: true });
  const counts = Object.fromEntries(tasks.map((t) => [t.state, t._count]));
  await recordAudit(deps.db, { actor: { email: "system:request-engine" }, action: "request.finished", environment: request.environment, subjectType: "request", subjectId: request.id, toDigest: request.digest, detail: { state, tasks: counts } });
  if (state !== "succeeded") return;
  const user = await deps.db.user.findUnique({ where: { id: request.requestedById } });
  if (!user) return;
  // A product computed end to end with this digest is evidence for promoting it (DESIGN.md 3.2).
  await recordValidation(deps, { id: user.id, email: user.email, name: user.name, role: user.role }, {
    environment: request.environment,
    digest: request.digest,
    name: REQUEST_VALIDATION,
    passed: true,
    note: `Request ${request.id} computed ${counts.succeeded ?? 0} ${request.product} tile(s) for ${request.period} with this digest.`,
  }, "product-request");
}

function mayManage(user: SessionUser, request: Pick<Request, "requestedById">) {
  return request.requestedById === user.id || hasRole(user.role, "approver");
}

async function requestFor(deps: RequestDeps, user: SessionUser, id: string, verb: string): Promise<Request> {
  const request = await deps.db.request.findUnique({ where: { id } });
  if (!request) throw new AppError("NOT_FOUND", `No request ${id}.`);
  if (!mayManage(user, request)) throw new AppError("FORBIDDEN", `Only the requester or an approver may ${verb} request ${id}.`);
  return request;
}

/** Cancels a request: its Jobs are deleted with their pods; finished tiles and their outputs stay. */
export async function cancelRequest(deps: RequestDeps, user: SessionUser, id: string): Promise<void> {
  const request = await requestFor(deps, user, id, "cancel");
  if (request.state === "cancelled" || request.state === "cancelling") return;
  if (request.state === "succeeded" || request.state === "failed") throw new AppError("CONFLICT", `Request ${id} has already ${request.state}; there is nothing to cancel.`);
  const at = now(deps);
  if (request.state === "submitting") {
    // No Job yet, or one whose creation is in flight: submitJob cancels it when it lands.
    await deps.db.$transaction([
      deps.db.request.updateMany({ where: { id, state: "submitting" }, data: { state: "cancelled", cancelledBy: user.email, finishedAt: at, nextAttemptAt: null } }),
      deps.db.requestTask.updateMany({ where: { requestId: id }, data: { state: "cancelled", finishedAt: at } }),
    ]);
    // A Job created by an attempt whose answer was lost would otherwise run unattended: the port finds
    // a request's Jobs by its request id.
    if (request.submitAttempts > 0) {
      const ref: JobRef = { requestId: id, name: jobNameFor(id), namespace: "", uid: "", image: request.image, tasks: 0 };
      await deps.ports.get(request.environment)?.cluster.cancelJob(ref).catch((err: Error) => deps.log.warn({ request: id, err: err.message }, "could not delete a Job of a request cancelled while submitting"));
    }
  } else {
    await deps.ports.get(request.environment)!.cluster.cancelJob(jobRef(request)!);
    await deps.db.request.updateMany({ where: { id, state: "running" }, data: { state: "cancelling", cancelledBy: user.email } });
  }
  await recordAudit(deps.db, { actor: user, action: "request.cancel", environment: request.environment, subjectType: "request", subjectId: id, toDigest: request.digest });
}

/** Runs failed tasks again in a follow-up Job (every failed task when `indexes` is absent). */
export async function retryFailedTasks(deps: RequestDeps, user: SessionUser, input: RetryTasksInput): Promise<{ retried: number }> {
  const request = await requestFor(deps, user, input.id, "retry tiles of");
  const ref = jobRef(request);
  if (!ref || request.state === "cancelled" || request.state === "cancelling") throw new AppError("CONFLICT", `Request ${input.id} is ${request.state}; only tiles of a submitted request can be retried.`);
  const failed = await deps.db.requestTask.findMany({ where: { requestId: input.id, state: "failed" }, select: { index: true } });
  const failedSet = new Set(failed.map((t) => t.index));
  const indexes = input.indexes ?? [...failedSet];
  const notFailed = indexes.filter((i) => !failedSet.has(i));
  if (notFailed.length) throw new AppError("CONFLICT", `Tile(s) ${notFailed.join(", ")} of request ${input.id} have not failed; only failed tiles can be retried.`);
  if (indexes.length === 0) throw new AppError("CONFLICT", `Request ${input.id} has no failed tiles to retry.`);
  const retry = request.retries + 1;
  // The same retry number returns the same follow-up Job: a repeated click never doubles it.
  await deps.ports.get(request.environment)!.cluster.retryTasks(ref, indexes, { retry });
  await deps.db.$transaction([
    deps.db.request.updateMany({ where: { id: input.id, retries: request.retries }, data: { retries: retry, state: "running", finishedAt: null, message: null } }),
    deps.db.requestTask.updateMany({ where: { requestId: input.id, index: { in: indexes } }, data: { state: "pending", progress: 0, stage: null, finishedAt: null } }),
  ]);
  await recordAudit(deps.db, { actor: user, action: "request.retry", environment: request.environment, subjectType: "request", subjectId: input.id, toDigest: request.digest, detail: { tasks: indexes.length, retry } });
  return { retried: indexes.length };
}

/** One request as the request page shows it: its tasks, counts and overall progress. */
export async function getRequest(deps: Pick<RequestDeps, "db">, user: SessionUser, id: string) {
  const request = await deps.db.request.findUnique({ where: { id }, include: { tasks: { orderBy: { index: "asc" } }, requestedBy: { select: { name: true, email: true } } } });
  if (!request) throw new AppError("NOT_FOUND", `No request ${id}.`);
  const { tasks, job: _job, submissionKey: _key, ...rest } = request;
  const counts = Object.fromEntries(["pending", "running", "retrying", "succeeded", "failed", "cancelled"].map((s) => [s, 0])) as Record<RequestTask["state"], number>;
  for (const t of tasks) counts[t.state]++;
  const progress = tasks.length ? tasks.reduce((a, t) => a + (t.state === "succeeded" ? 1 : t.progress), 0) / tasks.length : 0;
  return {
    ...rest,
    canManage: mayManage(user, request),
    counts,
    progress,
    tasks: tasks.map(({ requestId: _r, ...t }) => ({ ...t, bounds: t.bounds as [number, number, number, number] })),
  };
}

/** Requests newest first, with their task counts (one grouped query for the page). */
export async function listRequests(deps: Pick<RequestDeps, "db">, user: SessionUser, input: ListRequestsInput) {
  const where: Prisma.RequestWhereInput = {
    ...(input.scope === "mine" && { requestedById: user.id }),
    ...(input.environment && { environment: input.environment }),
    ...(input.state && { state: input.state }),
  };
  const cursor = input.cursor ? await deps.db.request.findUnique({ where: { id: input.cursor }, select: { requestedAt: true, id: true } }) : null;
  const rows = await deps.db.request.findMany({
    where: cursor ? { AND: [where, { OR: [{ requestedAt: { lt: cursor.requestedAt } }, { requestedAt: cursor.requestedAt, id: { lt: cursor.id } }] }] } : where,
    orderBy: [{ requestedAt: "desc" }, { id: "desc" }],
    take: input.limit + 1,
    select: { id: true, environment: true, product: true, period: true, title: true, state: true, digest: true, tag: true, areaKm2: true, requestedAt: true, finishedAt: true, lastError: true, requestedBy: { select: { name: true, email: true } } },
  });
  const page = rows.slice(0, input.limit);
  const grouped = page.length ? await deps.db.requestTask.groupBy({ by: ["requestId", "state"], where: { requestId: { in: page.map((r) => r.id) } }, _count: true }) : [];
  return {
    requests: page.map((r) => {
      const mine = grouped.filter((g) => g.requestId === r.id);
      const total = mine.reduce((a, g) => a + g._count, 0);
      const succeeded = mine.find((g) => g.state === "succeeded")?._count ?? 0;
      const failed = mine.find((g) => g.state === "failed")?._count ?? 0;
      return { ...r, tasks: total, succeeded, failed };
    }),
    nextCursor: rows.length > input.limit ? page[page.length - 1]!.id : null,
  };
}

/**
 * A task's log lines: from the cluster while its pod exists (followed until the attempt ends when
 * `follow`), else the last lines kept when it failed. Viewers may read every request's logs.
 */
export async function* taskLogs(deps: Pick<RequestDeps, "db" | "ports">, id: string, index: number, opts: { follow?: boolean; attempt?: number; signal?: AbortSignal } = {}): AsyncGenerator<string> {
  const task = await deps.db.requestTask.findUnique({ where: { requestId_index: { requestId: id, index } }, include: { request: true } });
  if (!task) throw new AppError("NOT_FOUND", `Request ${id} has no tile ${index}.`);
  const ref = jobRef(task.request);
  const cluster = deps.ports.get(task.request.environment)?.cluster;
  if (ref && cluster && task.attempts > 0 && (await cluster.jobStatus(ref).catch(() => null))) {
    try {
      yield* cluster.streamLogs(ref, index, { follow: opts.follow, attempt: opts.attempt, signal: opts.signal, tailLines: opts.follow ? 500 : 2000 });
      return;
    } catch (err) {
      // The pod went between the two calls (TTL, cancel): fall back to what was kept.
      if (!(err instanceof AppError && err.code === "NOT_FOUND")) throw err;
    }
  }
  if (task.lastLog) yield* task.lastLog.split("\n");
}

/**
 * The outputs of a request's finished tiles: files with download URLs, STAC items, a Python snippet
 * loading them and the command recomputing a tile. Viewers and above.
 */
export async function requestOutputs(deps: Pick<RequestDeps, "db" | "ports">, id: string) {
  const request = await deps.db.request.findUnique({ where: { id }, select: { environment: true, tasks: { where: { state: "succeeded" }, orderBy: { index: "asc" }, select: { taskId: true } } } });
  if (!request) throw new AppError("NOT_FOUND", `No request ${id}.`);
  const objects = deps.ports.get(request.environment)?.objects;
  if (!objects || request.tasks.length === 0) return { tasks: [], snippet: null, commands: [] };
  const tasks = await listTaskOutputs(objects, { environment: request.environment, tasks: request.tasks.map((t) => parseTaskId(t.taskId)) });
  const uris = tasks.flatMap((t) => (t.stacItem ? [t.stacItem.uri] : []));
  return {
    tasks,
    snippet: uris.length ? pythonSnippet({ stacItemUris: uris }) : null,
    commands: tasks.map((t) => ({ task: t.task, command: recomputeCommand({ environment: request.environment, task: t.task }) })),
  };
}
