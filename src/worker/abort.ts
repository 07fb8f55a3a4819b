import { WorkerError } from "./errors";

/**
 * Stopping a task on a signal (the CLI aborts on SIGTERM and SIGINT). GDAL's reads, warps and COG
 * writes run in libuv's thread pool and cannot be cancelled, so the pipeline stops waiting for them
 * instead and leaves them to end with the process.
 */

/** The signal's reason as a WorkerError CANCELLED (an abort without one says only that it stopped). */
export function abortReason(signal: AbortSignal): WorkerError {
  const reason: unknown = signal.reason;
  return reason instanceof WorkerError ? reason : new WorkerError("CANCELLED", "stopped before the task finished", { cause: reason });
}

/** Throws the signal's reason when it has aborted. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * `work`, or the signal's reason as soon as it aborts, whichever comes first. Only for work that
 * writes nothing needing clean-up after it (a GDAL read, a query, a COG written to scratch): it goes
 * on unobserved and its outcome is dropped.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  // Observed here, so that a failure after the abort is not an unhandled rejection (which ends the process).
  work.catch(() => undefined);
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
