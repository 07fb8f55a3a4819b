import "server-only";
import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { AppError } from "../../errors";
import { annotations, labels, managedBy, type BuiltJob } from "./job-manifest";
import type { JobObject, JobPodObject } from "./job-state";
import { writeFileAtomic } from "./local-state";

/**
 * The embedded default's Jobs on disk, shared by every process of the platform: the console submits
 * and cancels (local driver), the runner in the `piksel start` parent runs them
 * (src/server/embedded/local-jobs.ts), any process reads. One directory per Job under
 * `<stateDir>/jobs/<name>/`:
 *
 * - `job.json`: the Job as submitted (metadata with uid and creationTimestamp, spec). Written once:
 *   the submitter fills a temporary directory and renames it into place, which fails when the name
 *   exists, so two submits of the same request never both win and a reader never sees half a Job.
 * - `volumes/tasks/`: the task-list ConfigMap's keys as files, what the kubelet would mount.
 * - `status.json`: written only by the runner, always whole (temporary file + rename): the Job's
 *   status, its pods (Kubernetes-shaped, so both drivers map them with the same code) and the
 *   process of each running pod.
 * - `control.json`: written by anyone: the deletion request of a cancel (what a DELETE with
 *   foreground propagation does: the Job stays, marked, until its pods are gone).
 * - `logs/<pod>.log`: each pod's output in the CRI log format (`<RFC 3339 time> <stream> F <line>`),
 *   as the kubelet keeps container logs, so sinceTime and tailing work the same.
 */

export const jobsDirName = "jobs";
export const jobsDir = (stateDir: string) => path.join(stateDir, jobsDirName);
export const jobDir = (stateDir: string, name: string) => path.join(jobsDir(stateDir), name);
export const taskVolumeDir = (stateDir: string, name: string) => path.join(jobDir(stateDir, name), "volumes", "tasks");
export const logFile = (stateDir: string, job: string, pod: string) => path.join(jobDir(stateDir, job), "logs", `${pod}.log`);

export interface LocalJobFile {
  job: JobObject & { apiVersion: "batch/v1"; kind: "Job"; metadata: { name: string; namespace: string; uid: string; creationTimestamp: string; labels: Record<string, string>; annotations: Record<string, string> } };
}

export interface LocalJobStatusFile {
  status: NonNullable<JobObject["status"]> & Record<string, unknown>;
  pods: (JobPodObject & { metadata: { name: string } })[];
  /** Process group (= pid) of each pod started and not yet seen ending. */
  processes: Record<string, number>;
}

export interface LocalJobControl {
  deletion?: { requestedAt: string; propagationPolicy: "Foreground" };
}

async function readJson<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message}); delete the Job's directory to drop it`);
  }
}

export const readJobFile = (stateDir: string, name: string) => readJson<LocalJobFile>(path.join(jobDir(stateDir, name), "job.json"));
export const readStatusFile = (stateDir: string, name: string) => readJson<LocalJobStatusFile>(path.join(jobDir(stateDir, name), "status.json"));
export const readControl = async (stateDir: string, name: string) => (await readJson<LocalJobControl>(path.join(jobDir(stateDir, name), "control.json"))) ?? {};

export async function writeStatusFile(stateDir: string, name: string, status: LocalJobStatusFile): Promise<void> {
  await writeFileAtomic(path.join(jobDir(stateDir, name), "status.json"), `${JSON.stringify(status)}\n`);
}

export async function writeControl(stateDir: string, name: string, control: LocalJobControl): Promise<void> {
  await writeFileAtomic(path.join(jobDir(stateDir, name), "control.json"), `${JSON.stringify(control)}\n`);
}

/** Names of the Jobs on disk (directories being created or removed start with a dot). */
export async function listJobNames(stateDir: string): Promise<string[]> {
  try {
    return (await fs.readdir(jobsDir(stateDir), { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith(".")).map((d) => d.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/**
 * Creates a Job's directory in one step, or reads the one already there: the local AlreadyExists.
 * Returns the stored Job and whether this call created it. A name held by another request, or by
 * the same request with another task list, is an AppError CONFLICT.
 */
export async function createJobDir(stateDir: string, built: BuiltJob, requestId: string): Promise<{ file: LocalJobFile; created: boolean }> {
  const root = jobsDir(stateDir);
  await fs.mkdir(root, { recursive: true });
  const tmp = path.join(root, `.create-${built.name}-${randomBytes(4).toString("hex")}`);
  const file: LocalJobFile = {
    job: {
      ...(built.job as LocalJobFile["job"]),
      metadata: { ...built.job.metadata, namespace: built.job.metadata.namespace ?? "piksel", uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z") },
    },
  };
  await fs.mkdir(path.join(tmp, "volumes", "tasks"), { recursive: true });
  await fs.mkdir(path.join(tmp, "logs"));
  for (const [key, value] of Object.entries(built.configMap.data)) await fs.writeFile(path.join(tmp, "volumes", "tasks", key), value);
  await fs.writeFile(path.join(tmp, "job.json"), `${JSON.stringify(file, null, 2)}\n`);
  try {
    await fs.rename(tmp, jobDir(stateDir, built.name));
    return { file, created: true };
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
  }
  const existing = await readJobFile(stateDir, built.name);
  if (!existing) throw new Error(`local Job ${built.name} exists but has no job.json; delete ${jobDir(stateDir, built.name)}`);
  const l = existing.job.metadata.labels;
  if (l[labels.request] !== requestId || l[labels.managedBy] !== managedBy) {
    throw new AppError("CONFLICT", `a local Job named ${built.name} exists and is not request ${requestId}'s; it is left alone`);
  }
  if (existing.job.metadata.annotations[annotations.tasksSha256] !== built.tasksSha256) {
    throw new AppError("CONFLICT", `request ${requestId} was already submitted as Job ${built.name} with a different task list`);
  }
  return { file: existing, created: false };
}

/** Removes a Job's directory at once for every reader: renamed aside first, then deleted. */
export async function removeJobDir(stateDir: string, name: string): Promise<void> {
  const aside = path.join(jobsDir(stateDir), `.deleted-${name}-${randomBytes(4).toString("hex")}`);
  try {
    await fs.rename(jobDir(stateDir, name), aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  await fs.rm(aside, { recursive: true, force: true });
}

/** One line of a CRI container log: `<time> <stdout|stderr> <F|P> <text>`. */
export function parseLogLine(line: string): { time: string; text: string } | undefined {
  const m = /^(\S+) (?:stdout|stderr) [FP] ?(.*)$/.exec(line);
  return m ? { time: m[1]!, text: m[2]! } : undefined;
}

export const formatLogLine = (stream: "stdout" | "stderr", text: string, time = new Date()) => `${time.toISOString()} ${stream} F ${text}\n`;
