/** Why a geomedian task could not run; the CLI prints the message as its one-line reason. */
export type WorkerErrorCode =
  /** The task, grid or an option is malformed. */
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
  | "INDEX_FAILED";

/** An expected failure of the worker, with a message that stands on one line. */
export class WorkerError extends Error {
  constructor(
    readonly code: WorkerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(oneLine(message), options);
    this.name = "WorkerError";
  }
}

/** Collapses whitespace runs (GDAL and the SDKs put newlines in their messages). */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
