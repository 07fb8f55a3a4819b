import "server-only";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import type { PodObject } from "./objects";

/**
 * The files of the embedded default's cluster, one directory per environment (`stateDir`), shared by
 * every process of the platform: the local Flux loop writes the state (one process), the console and
 * the CLI read it, and anyone may write the control file.
 *
 * - `flux-state.json`: the Kustomization status, the reconciliation in progress and the pods. Written
 *   only by the local Flux, always whole (temporary file + rename), so a reader sees the state before
 *   or after an apply, never half of one: an apply is one write, which is what makes it exactly-once
 *   across crashes.
 * - `flux-control.json`: what people set (spec.suspend, and "fail the next reconciliation"), with the
 *   Kustomization's generation. Read-modify-write under a lock file, since several processes write it.
 */

export const stateFileName = "flux-state.json";
export const controlFileName = "flux-control.json";

const condition = z.object({
  type: z.string(),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
});

const desiredImage = z.object({
  name: z.string().min(1),
  newName: z.string().min(1).optional(),
  newTag: z.string().min(1).optional(),
  digest: z.string().min(1).optional(),
});

/** One entry of status.history, as Flux keeps them (fluxcd/pkg/apis/meta history.go Snapshot). */
const snapshot = z.object({
  digest: z.string(),
  firstReconciled: z.string(),
  lastReconciled: z.string(),
  lastReconciledDuration: z.string(),
  lastReconciledStatus: z.string(),
  totalReconciliations: z.number().int(),
  metadata: z.object({ revision: z.string() }),
});

const localStatus = z.object({
  observedGeneration: z.number().int(),
  lastAppliedRevision: z.string().nullable(),
  lastAttemptedRevision: z.string().nullable(),
  conditions: z.array(condition),
  history: z.array(snapshot),
});

const localState = z.object({
  kustomization: z.object({ name: z.string(), namespace: z.string() }),
  /** Namespace of the pods. */
  namespace: z.string(),
  status: localStatus,
  /** The reconciliation in progress: revision and images fixed when it started, so a restart finishes the same one. */
  attempt: z
    .object({ revision: z.string(), images: z.array(desiredImage), generation: z.number().int(), startedAt: z.string() })
    .nullable(),
  /** The last failed attempt, so it is retried after the retry interval or when the control changes, not in a loop. */
  lastFailure: z
    .object({ revision: z.string(), generation: z.number().int(), controlVersion: z.number().int(), at: z.string() })
    .nullable(),
  pods: z.array(z.custom<PodObject>((v) => typeof v === "object" && v !== null && !Array.isArray(v), "a Pod object")),
});

const failureReason = z.enum(["ReconciliationFailed", "HealthCheckFailed"]);

const localControl = z.object({
  /** metadata.generation of the Kustomization: bumped on every spec change (suspend/resume). */
  generation: z.number().int().min(1),
  suspend: z.boolean(),
  /** When set, reconciliations fail with this reason and message until it is cleared. */
  failure: z.object({ reason: failureReason, message: z.string().min(1) }).nullable(),
  /** Bumped on every write. */
  version: z.number().int().min(0),
});

export type DesiredImage = z.infer<typeof desiredImage>;
export type LocalFluxStatus = z.infer<typeof localStatus>;
export type LocalHistorySnapshot = z.infer<typeof snapshot>;
export type LocalState = z.infer<typeof localState>;
export type LocalControl = z.infer<typeof localControl>;
export type LocalFailureReason = z.infer<typeof failureReason>;

export const defaultControl: LocalControl = { generation: 1, suspend: false, failure: null, version: 0 };

async function readJson<T>(file: string, schema: z.ZodType<T>): Promise<T | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message}); delete it to reset the local cluster of this environment`);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${file}: ${issue.path.join(".") || "(root)"}: ${issue.message}; delete it to reset the local cluster of this environment`);
  }
  return parsed.data;
}

/** Writes a whole file or nothing: a temporary file in the same directory, flushed, then renamed over. */
export async function writeFileAtomic(file: string, content: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await fs.open(tmp, "w");
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** The state, or null before the local Flux has initialised this environment (no Kustomization yet). */
export async function readLocalState(stateDir: string): Promise<LocalState | null> {
  return (await readJson(path.join(stateDir, stateFileName), localState)) ?? null;
}

export async function writeLocalState(stateDir: string, state: LocalState): Promise<void> {
  await writeFileAtomic(path.join(stateDir, stateFileName), `${JSON.stringify(localState.parse(state), null, 2)}\n`);
}

export async function readLocalControl(stateDir: string): Promise<LocalControl> {
  return (await readJson(path.join(stateDir, controlFileName), localControl)) ?? defaultControl;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn` holding `<stateDir>/<name>.lock` (created with O_EXCL). A lock older than `staleMs` is
 * taken over: its holder died mid-write (the critical sections here last milliseconds).
 */
export async function withFileLock<T>(stateDir: string, name: string, fn: () => Promise<T>, staleMs = 10_000): Promise<T> {
  const lock = path.join(stateDir, `${name}.lock`);
  const deadline = Date.now() + staleMs * 2;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await fs.open(lock, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const stat = await fs.stat(lock).catch(() => undefined);
      if (stat && Date.now() - stat.mtimeMs > staleMs) await fs.rm(lock, { force: true });
      else if (Date.now() > deadline) throw new Error(`could not take ${lock} within ${staleMs * 2} ms`);
      else await sleep(Math.min(100, 5 * 2 ** Math.min(attempt, 5)));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
  }
}

/** Changes the control file under its lock; every write bumps `version`. */
export async function updateLocalControl(stateDir: string, change: (control: LocalControl) => LocalControl): Promise<LocalControl> {
  await fs.mkdir(stateDir, { recursive: true });
  return withFileLock(stateDir, "flux-control", async () => {
    const current = await readLocalControl(stateDir);
    const next = localControl.parse({ ...change(current), version: current.version + 1 });
    await writeFileAtomic(path.join(stateDir, controlFileName), `${JSON.stringify(next, null, 2)}\n`);
    return next;
  });
}
