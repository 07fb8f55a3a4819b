/** Why a geomedian task could not run; the CLI prints the message as its one-line reason. */
export type WorkerErrorCode =
  /** The task, grid, task list or an option is malformed. */
  | "BAD_TASK"
  /** The environment's index has no source datasets for the task. */
  | "NO_DATASETS"
  /** A source COG could not be opened or read, after GDAL's retries. */
  | "UNREADABLE_SOURCE"
  /** The output location refused a write. */
  | "OUTPUT_NOT_WRITABLE"
  /** Writing the COGs failed (GDAL, scratch disk). */
  | "WRITE_FAILED"
  /** The index refused the output dataset. */
  | "INDEX_FAILED"
  /** Stopped by a signal (a cancelled request, a drained node, Ctrl-C) before it finished. */
  | "CANCELLED";

/**
 * Exit codes of `piksel worker geomedian`, the contract with the Job's pod failure policy
 * (docs/adr/0013-geomedian-jobs.md): 0 finished (or already there); 2 bad input that no retry can fix,
 * failed at once (`FailIndex`); 1 anything else, retried per index; 128 + the signal's number when a
 * signal stopped it (143 for SIGTERM, 130 for SIGINT), as a shell reports a process the signal killed.
 */
export const EXIT_CODES = { done: 0, failed: 1, badInput: 2, sigint: 130, sigterm: 143 } as const;

/** Codes of failures a retry cannot change: the same task on the same index fails the same way. */
const BAD_INPUT: ReadonlySet<WorkerErrorCode> = new Set(["BAD_TASK", "NO_DATASETS"]);

/** An expected failure of the worker, with a message that stands on one line. */
export class WorkerError extends Error {
  /** The process's exit code for this failure (see EXIT_CODES). */
  readonly exitCode: number;

  constructor(
    readonly code: WorkerErrorCode,
    message: string,
    options?: { cause?: unknown; exitCode?: number },
  ) {
    super(oneLine(message), options);
    this.name = "WorkerError";
    this.exitCode = options?.exitCode ?? (BAD_INPUT.has(code) ? EXIT_CODES.badInput : code === "CANCELLED" ? EXIT_CODES.sigterm : EXIT_CODES.failed);
  }
}

/** The failure a signal causes: exit code 128 + its number. */
export function cancelledBy(signal: "SIGTERM" | "SIGINT"): WorkerError {
  return new WorkerError("CANCELLED", `stopped by ${signal} before the task finished; scratch files removed, no partial output left`, {
    exitCode: signal === "SIGINT" ? EXIT_CODES.sigint : EXIT_CODES.sigterm,
  });
}

/** Collapses whitespace runs (GDAL and the SDKs put newlines in their messages). */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
