import { readFile } from "node:fs/promises";
import { WorkerError } from "./errors";

/**
 * The task of one completion index of a geomedian Job (docs/adr/0013-geomedian-jobs.md): the Job's
 * ConfigMap is mounted as a file with one task id per line, and line N is the task of completion
 * index N (`--task-index $(JOB_COMPLETION_INDEX)`). A follow-up Job that retries some tasks has a
 * list of just those, so the same rule holds for it; its `indexes` key only maps lines back to the
 * request's indexes for the console, the worker does not need it.
 *
 * Every way this can go wrong is a Job spec that no retry will fix, hence BAD_TASK (exit code 2).
 */

/** Parses `--task-index`: a whole number, as the Job controller writes JOB_COMPLETION_INDEX. */
export function parseTaskIndex(text: string): number {
  if (!/^\d{1,9}$/.test(text)) {
    const unexpanded = /^\$\(.+\)$/.test(text) ? " (a $(VAR) the runner did not expand: is JOB_COMPLETION_INDEX set on the container?)" : "";
    throw new WorkerError("BAD_TASK", `--task-index ${text}: expected a whole number from 0, the Job's completion index${unexpanded}`);
  }
  return Number(text);
}

/** The task id on line `index` (0-based) of a task list's text. */
export function taskFromList(text: string, index: number, file: string): string {
  // The ConfigMap ends the list with a newline; a trailing empty line is not a task.
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  if (lines.at(-1) === "") lines.pop();
  if (index >= lines.length) {
    throw new WorkerError("BAD_TASK", `--task-index ${index}: ${file} lists ${lines.length} task${lines.length === 1 ? "" : "s"} (indexes 0 to ${lines.length - 1}); the Job's completions and its task list disagree`);
  }
  const line = lines[index]!;
  if (!/^\S+$/.test(line)) {
    throw new WorkerError("BAD_TASK", `line ${index + 1} of ${file} (task index ${index}) is ${line.trim() === "" ? "empty" : `"${line.slice(0, 80)}"`}: expected one task id such as 2024--P1Y/304/68`);
  }
  return line;
}

/** Reads the task of `index` from the list file; a missing or unreadable file is BAD_TASK. */
export async function readTaskFromList(file: string, index: number): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : code === "EACCES" ? "permission denied" : String((err as Error).message);
    throw new WorkerError("BAD_TASK", `--task-list ${file}: ${why}; it should be the task list the Job mounts (one task id per line)`, { cause: err });
  }
  return taskFromList(text, index, file);
}
