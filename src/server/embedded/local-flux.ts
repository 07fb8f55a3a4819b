import "server-only";
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { Condition } from "../drivers/cluster";
import {
  readLocalControl,
  readLocalState,
  updateLocalControl,
  writeLocalState,
  type DesiredImage,
  type LocalControl,
  type LocalFailureReason,
  type LocalFluxStatus,
  type LocalHistorySnapshot,
  type LocalState,
} from "../drivers/cluster/local-state";
import type { PodObject } from "../drivers/cluster/objects";
import type { Logger } from "../logger";

/**
 * The local Flux of the embedded default: for each local environment it does what Flux's
 * kustomize-controller does for a Kustomization with `wait: true` (fluxcd/kustomize-controller
 * internal/controller/kustomization_controller.go), with the cluster replaced by files
 * (drivers/cluster/local-state.ts) and the apply replaced by "pods now run these images":
 *
 *   new revision at the branch head  ->  Ready=Unknown/Progressing, Reconciling=True
 *   after reconcileDelaySeconds       ->  Ready=True/ReconciliationSucceeded, Healthy=True, pods replaced
 *                                     or  Ready=False/ReconciliationFailed|HealthCheckFailed, pods unchanged
 *
 * Limits (docs/adr/0009-cluster-drivers.md): one pod per image, no manifests are rendered or applied,
 * a health check fails only when told to or when an image's digest cannot be resolved, no drift
 * detection or pruning, and no periodic re-apply of an unchanged revision (Flux re-applies every
 * spec.interval).
 *
 * Exactly one process runs the loop (the `piksel start` parent), guarded by a lock file per
 * environment; every other process reads the files through the local cluster driver and changes the
 * control file with setFailure() / suspend(). The loop resumes from the files after a restart.
 */

/** The desired state of an environment: its overlay at the branch head. */
export interface DesiredState {
  /** Flux's revision of the source, e.g. `main@sha1:<40 hex>`. */
  revision: string;
  /** The overlay's kustomization.yaml `images:` entries. */
  images: DesiredImage[];
}
export type { DesiredImage };

export interface LocalFluxEnvironment {
  /** Environment name, for logs. */
  name: string;
  stateDir: string;
  reconcileDelaySeconds: number;
  /** Reads the overlay at the branch head (the lead wires the GitOps port here). */
  desired(): Promise<DesiredState>;
  /** Digest of `name:tag` in the registry, or null when the tag does not exist. */
  resolveDigest(name: string, tag: string): Promise<string | null>;
  /** Kustomization name; default `piksel-<environment>`. */
  kustomization?: string;
  /** Namespace of the pods; default `piksel`. */
  namespace?: string;
}

export interface LocalFluxOptions {
  environments: LocalFluxEnvironment[];
  log: Logger;
  /** How often the desired state is read (Flux: the GitRepository's interval); default 2000 ms. */
  pollIntervalMs?: number;
  /**
   * A failed revision is retried after this long (Flux: spec.retryInterval), or at once when the
   * control file or the revision changes; default 60 s.
   */
  retryIntervalSeconds?: number;
}

export interface LocalFlux {
  /**
   * Looks at the desired state now instead of at the next poll (like `flux reconcile ks --with-source`
   * after a push); resolves once a step that began after the call has run for each environment.
   */
  reconcile(environment?: string): Promise<void>;
  /** Stops the loops after their current step and releases the locks. */
  stop(): Promise<void>;
}

/** Flux's timeout in its progress messages; the local Flux has no real timeout. */
const timeoutText = "5m0s";

// --- pure helpers: Flux-like status objects -----------------------------------------------------

/** kubernetes time format (metav1.Time marshals to RFC 3339 in seconds). */
export const kubeTime = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/** Go's time.Duration.String() for the durations Flux writes into messages ("1.25s", "2m3.5s"). */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const totalSeconds = ms / 1000;
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = Number((totalSeconds - minutes * 60).toFixed(3));
  return minutes ? `${minutes}m${seconds}s` : `${seconds}s`;
}

/**
 * Sets a condition the way fluxcd/pkg/runtime/conditions (setter.go Set) does: lastTransitionTime
 * moves only when the status changes, and the list is ordered Ready first, then by type, which is
 * what `kubectl get` and `flux get` show.
 */
export function setCondition(conditions: Condition[], next: Omit<Condition, "lastTransitionTime">, now: number): Condition[] {
  const prev = conditions.find((c) => c.type === next.type);
  const lastTransitionTime = prev && prev.status === next.status ? prev.lastTransitionTime : kubeTime(now);
  return [...conditions.filter((c) => c.type !== next.type), { ...next, lastTransitionTime }].sort((a, b) =>
    a.type === "Ready" ? -1 : b.type === "Ready" ? 1 : a.type.localeCompare(b.type),
  );
}

export function removeCondition(conditions: Condition[], type: string): Condition[] {
  return conditions.filter((c) => c.type !== type);
}

/** The start of a reconciliation (kustomization_controller.go reconcile: MarkUnknown + MarkReconciling, then lastAttemptedRevision). */
export function progressingStatus(status: LocalFluxStatus, revision: string, now: number): LocalFluxStatus {
  let conditions = setCondition(status.conditions, { type: "Ready", status: "Unknown", reason: "Progressing", message: "Reconciliation in progress" }, now);
  conditions = setCondition(conditions, { type: "Reconciling", status: "True", reason: "Progressing", message: `Fetching manifests for revision ${revision} with a timeout of ${timeoutText}` }, now);
  return { ...status, lastAttemptedRevision: revision, conditions };
}

/**
 * A successful apply and health check: Ready=True "Applied revision: <rev>", Healthy=True, and
 * (finalizeStatus) Reconciling removed and observedGeneration caught up.
 */
export function succeededStatus(status: LocalFluxStatus, done: { revision: string; generation: number; durationMs: number; digest: string }, now: number): LocalFluxStatus {
  let conditions = setCondition(status.conditions, { type: "Ready", status: "True", reason: "ReconciliationSucceeded", message: `Applied revision: ${done.revision}` }, now);
  conditions = setCondition(conditions, { type: "Healthy", status: "True", reason: "Succeeded", message: `Health check passed in ${goDuration(done.durationMs)}` }, now);
  conditions = removeCondition(conditions, "Reconciling");
  return {
    ...status,
    observedGeneration: done.generation,
    lastAppliedRevision: done.revision,
    lastAttemptedRevision: done.revision,
    conditions,
    history: upsertHistory(status.history, { digest: done.digest, revision: done.revision, status: "ReconciliationSucceeded", durationMs: done.durationMs }, now),
  };
}

/**
 * A failed reconciliation: Ready=False with the reason and message; a failed health check also marks
 * Healthy=False (checkHealth). Reconciling stays, its reason turned to ProgressingWithRetry
 * (finalizeStatus); lastAppliedRevision and observedGeneration keep their values.
 */
export function failedStatus(
  status: LocalFluxStatus,
  failed: { revision: string; reason: LocalFailureReason; message: string; durationMs: number; digest: string },
  now: number,
): LocalFluxStatus {
  let conditions = setCondition(status.conditions, { type: "Ready", status: "False", reason: failed.reason, message: failed.message }, now);
  if (failed.reason === "HealthCheckFailed") conditions = setCondition(conditions, { type: "Healthy", status: "False", reason: "HealthCheckFailed", message: failed.message }, now);
  const reconciling = conditions.find((c) => c.type === "Reconciling");
  if (reconciling) conditions = setCondition(conditions, { ...reconciling, reason: "ProgressingWithRetry" }, now);
  return {
    ...status,
    lastAttemptedRevision: failed.revision,
    conditions,
    history: upsertHistory(status.history, { digest: failed.digest, revision: failed.revision, status: failed.reason, durationMs: failed.durationMs }, now),
  };
}

/** status.history as Flux keeps it (meta.History Upsert): one entry per applied content, newest first, at most 5. */
export function upsertHistory(history: LocalHistorySnapshot[], entry: { digest: string; revision: string; status: string; durationMs: number }, now: number): LocalHistorySnapshot[] {
  const prev = history.find((h) => h.digest === entry.digest);
  const next: LocalHistorySnapshot = {
    digest: entry.digest,
    firstReconciled: prev?.firstReconciled ?? kubeTime(now),
    lastReconciled: kubeTime(now),
    lastReconciledDuration: goDuration(entry.durationMs),
    lastReconciledStatus: entry.status,
    totalReconciliations: (prev?.totalReconciliations ?? 0) + 1,
    metadata: { revision: entry.revision },
  };
  return [next, ...history.filter((h) => h.digest !== entry.digest)].slice(0, 5);
}

/** The content digest of what a revision applies, like Flux's checksum of the built manifests. */
export function contentDigest(revision: string, images: DesiredImage[]): string {
  return `sha256:${createHash("sha256").update(JSON.stringify({ revision, images })).digest("hex")}`;
}

/** The repository an image entry runs (kustomize: newName replaces name). */
export const imageRepository = (image: DesiredImage) => image.newName ?? image.name;

/** What kustomize renders for an entry: `repo:tag@digest`, `repo@digest` or `repo:tag`. */
export function imageReference(image: DesiredImage): string {
  const repo = imageRepository(image);
  return `${repo}${image.newTag ? `:${image.newTag}` : ""}${image.digest ? `@${image.digest}` : ""}`;
}

const shortHash = (text: string, length: number) => createHash("sha256").update(text).digest("hex").slice(0, length);

/**
 * The pods of a Deployment per image after a rollout: one pod each, named like a ReplicaSet's
 * (`<name>-<pod-template-hash>-<suffix>`), running `imageID = <repository>@<digest>`. The hash
 * depends on the image only, so a pod whose image did not change is kept as it was (as a Deployment
 * keeps its ReplicaSet), and names are deterministic, so re-applying after a crash changes nothing.
 */
export function podsFor(images: (DesiredImage & { digest: string })[], previous: PodObject[], namespace: string, now: number): PodObject[] {
  return images.map((image) => {
    const repo = imageRepository(image);
    const app = repo.split("/").pop()!.replace(/[^a-z0-9-]/g, "-");
    const ref = imageReference(image);
    const hash = shortHash(ref, 10);
    const name = `${app}-${hash}-${shortHash(`${ref}#pod`, 5)}`;
    const existing = previous.find((p) => p.metadata?.name === name);
    if (existing) return existing;
    const started = kubeTime(now);
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name,
        namespace,
        labels: { "app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "piksel", "pod-template-hash": hash },
        creationTimestamp: started,
      },
      spec: { containers: [{ name: app, image: ref }] },
      status: {
        phase: "Running",
        startTime: started,
        conditions: [{ type: "Ready", status: "True", lastTransitionTime: started }],
        containerStatuses: [
          { name: app, image: ref, imageID: `${repo}@${image.digest}`, ready: true, started: true, restartCount: 0, state: { running: { startedAt: started } } },
        ],
      },
    } satisfies PodObject;
  });
}

/** Whether a reconciliation should start now, or when a failed one may be retried. */
export function reconcileDecision(
  state: Pick<LocalState, "status" | "lastFailure">,
  control: LocalControl,
  revision: string,
  now: number,
  retryIntervalMs: number,
): { start: true } | { start: false; retryAt?: number } {
  const ready = state.status.conditions.find((c) => c.type === "Ready")?.status === "True";
  if (ready && state.status.lastAppliedRevision === revision && state.status.observedGeneration === control.generation) return { start: false };
  const f = state.lastFailure;
  if (f && f.revision === revision && f.generation === control.generation && f.controlVersion === control.version) {
    const retryAt = Date.parse(f.at) + retryIntervalMs;
    if (now < retryAt) return { start: false, retryAt };
  }
  return { start: true };
}

export function initialState(kustomization: { name: string; namespace: string }, namespace: string): LocalState {
  return {
    kustomization,
    namespace,
    status: { observedGeneration: 0, lastAppliedRevision: null, lastAttemptedRevision: null, conditions: [], history: [] },
    attempt: null,
    lastFailure: null,
    pods: [],
  };
}

// --- control: from any process ------------------------------------------------------------------

/**
 * Makes reconciliations of this environment fail (until cleared with null) with Flux's
 * ReconciliationFailed (an apply error, the default) or HealthCheckFailed. A message alone means
 * ReconciliationFailed. It takes effect at the end of the next or current reconciliation, and a
 * revision that failed before is retried at once.
 */
export async function setFailure(stateDir: string, failure: string | { reason: LocalFailureReason; message: string } | null): Promise<void> {
  const value = failure === null ? null : typeof failure === "string" ? { reason: "ReconciliationFailed" as const, message: failure } : failure;
  await updateLocalControl(stateDir, (c) => ({ ...c, failure: value }));
}

/**
 * spec.suspend, as `flux suspend|resume kustomization` patches it: a spec change, so generation moves.
 * While suspended nothing new is reconciled and the status keeps what it said (Flux returns early
 * without touching it); FluxStatus.suspended says so. Resuming reconciles at once (new generation).
 */
export async function suspend(stateDir: string, suspended: boolean): Promise<void> {
  await updateLocalControl(stateDir, (c) => (c.suspend === suspended ? c : { ...c, suspend: suspended, generation: c.generation + 1 }));
}

export { readLocalControl };

// --- the loop: one process ----------------------------------------------------------------------

const processAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** Takes `flux.lock` for this process, or says which live process already runs the loop. */
async function acquireLoopLock(stateDir: string, environment: string): Promise<() => Promise<void>> {
  const lock = path.join(stateDir, "flux.lock");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await fs.open(lock, "wx");
      await handle.writeFile(JSON.stringify({ pid: process.pid, since: new Date().toISOString() }));
      await handle.close();
      return () => fs.rm(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = await fs
        .readFile(lock, "utf8")
        .then((t) => JSON.parse(t) as { pid?: number })
        .catch(() => ({ pid: undefined }));
      if (holder.pid && processAlive(holder.pid)) {
        throw new Error(`the local Flux of environment ${environment} already runs in process ${holder.pid} (lock ${lock}); only one \`piksel start\` may run per data directory`);
      }
      // Its holder died without releasing it (a crash, kill -9): take over.
      await fs.rm(lock, { force: true });
    }
  }
  throw new Error(`could not take ${lock}`);
}

/** Starts one loop per environment. Throws if another live process already runs one of them. */
export async function startLocalFlux(opts: LocalFluxOptions): Promise<LocalFlux> {
  const pollMs = opts.pollIntervalMs ?? 2000;
  const retryMs = (opts.retryIntervalSeconds ?? 60) * 1000;
  let stopped = false;
  /**
   * Per environment: how to cut its sleep short, whether a reconcile() came while it was busy, and
   * who waits for the next step (`pending`) or the running one (`current`).
   */
  const sleepers = new Map<string, { wake?: () => void; kicked: boolean; pending: (() => void)[] }>();
  const releases: (() => Promise<void>)[] = [];
  const initialFor = (env: LocalFluxEnvironment) => initialState({ name: env.kustomization ?? `piksel-${env.name}`, namespace: "flux-system" }, env.namespace ?? "piksel");

  try {
    for (const env of opts.environments) {
      await fs.mkdir(env.stateDir, { recursive: true });
      releases.push(await acquireLoopLock(env.stateDir, env.name));
      if (!(await readLocalState(env.stateDir))) await writeLocalState(env.stateDir, initialFor(env));
    }
  } catch (err) {
    await Promise.all(releases.map((r) => r()));
    throw err;
  }

  /** One step of one environment; returns when it wants to run again (epoch ms), if sooner than the poll. */
  async function step(env: LocalFluxEnvironment, log: Logger): Promise<number | undefined> {
    const control = await readLocalControl(env.stateDir);
    const state = (await readLocalState(env.stateDir)) ?? initialFor(env);
    const now = Date.now();
    if (state.attempt) {
      const started = Date.parse(state.attempt.startedAt);
      const due = started + env.reconcileDelaySeconds * 1000;
      if (now < due) return due;
      const next = await finish(env, state, control, now, started);
      await writeLocalState(env.stateDir, next);
      const ready = next.status.conditions.find((c) => c.type === "Ready")!;
      log.info({ revision: state.attempt.revision, ready: ready.status, reason: ready.reason }, ready.message);
      return now;
    }
    // Flux returns before touching anything when spec.suspend is set.
    if (control.suspend) return undefined;
    const desired = await env.desired();
    const decision = reconcileDecision(state, control, desired.revision, now, retryMs);
    if (!decision.start) return decision.retryAt;
    const attempt = { revision: desired.revision, images: desired.images, generation: control.generation, startedAt: new Date(now).toISOString() };
    await writeLocalState(env.stateDir, { ...state, attempt, status: progressingStatus(state.status, desired.revision, now) });
    log.info({ revision: desired.revision, delaySeconds: env.reconcileDelaySeconds }, "reconciliation started");
    return now + env.reconcileDelaySeconds * 1000;
  }

  async function finish(env: LocalFluxEnvironment, state: LocalState, control: LocalControl, now: number, started: number): Promise<LocalState> {
    const attempt = state.attempt!;
    const durationMs = now - started;
    const digest = contentDigest(attempt.revision, attempt.images);
    const fail = (reason: LocalFailureReason, message: string): LocalState => ({
      ...state,
      attempt: null,
      lastFailure: { revision: attempt.revision, generation: attempt.generation, controlVersion: control.version, at: new Date(now).toISOString() },
      status: failedStatus(state.status, { revision: attempt.revision, reason, message, durationMs, digest }, now),
    });
    if (control.failure) return fail(control.failure.reason, control.failure.message);
    const resolved: (DesiredImage & { digest: string })[] = [];
    for (const image of attempt.images) {
      if (image.digest) {
        resolved.push({ ...image, digest: image.digest });
        continue;
      }
      // A tag without a digest is what the kubelet would pull; one that does not resolve never becomes
      // ready, and Flux's health check (wait: true) times out on the Deployment.
      const tag = image.newTag ?? "latest";
      const repo = imageRepository(image);
      let found: string | null;
      let why = "not found in the registry";
      try {
        found = await env.resolveDigest(repo, tag);
      } catch (err) {
        found = null;
        why = (err as Error).message;
      }
      if (!found) {
        const app = repo.split("/").pop();
        return fail("HealthCheckFailed", `timeout waiting for: [Deployment/${state.namespace}/${app} status: 'InProgress']: image ${repo}:${tag} cannot be pulled: ${why}`);
      }
      resolved.push({ ...image, digest: found });
    }
    return {
      ...state,
      attempt: null,
      lastFailure: null,
      pods: podsFor(resolved, state.pods, state.namespace, now),
      status: succeededStatus(state.status, { revision: attempt.revision, generation: attempt.generation, durationMs, digest }, now),
    };
  }

  async function loop(env: LocalFluxEnvironment) {
    const log = opts.log.child({ component: "local-flux", environment: env.name });
    const sleeper = sleepers.get(env.name)!;
    while (!stopped) {
      sleeper.kicked = false;
      const current = sleeper.pending.splice(0);
      let wakeAt = Date.now() + pollMs;
      try {
        const next = await step(env, log);
        if (next !== undefined) wakeAt = Math.min(wakeAt, next);
      } catch (err) {
        // Reading git or the files failed: keep the status as it is (Flux keeps the last artifact) and retry.
        log.warn({ err }, "local Flux step failed; retrying at the next poll");
      }
      current.forEach((done) => done());
      if (stopped) break;
      const wait = wakeAt - Date.now();
      if (wait > 0 && !sleeper.kicked) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          sleeper.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        sleeper.wake = undefined;
      }
    }
    sleeper.pending.splice(0).forEach((done) => done());
  }

  for (const env of opts.environments) sleepers.set(env.name, { kicked: false, pending: [] });
  const loops = opts.environments.map((env) => loop(env));
  const kick = (name: string) => {
    const s = sleepers.get(name)!;
    s.kicked = true;
    s.wake?.();
  };

  return {
    async reconcile(environment) {
      const names = [...sleepers.keys()].filter((name) => !environment || name === environment);
      if (environment && !names.length) throw new Error(`the local Flux runs no environment named ${environment}`);
      if (stopped) return;
      await Promise.all(
        names.map(
          (name) =>
            new Promise<void>((resolve) => {
              sleepers.get(name)!.pending.push(resolve);
              kick(name);
            }),
        ),
      );
    },
    async stop() {
      stopped = true;
      for (const name of sleepers.keys()) kick(name);
      await Promise.all(loops);
      await Promise.all(releases.map((r) => r()));
    },
  };
}
