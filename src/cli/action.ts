/**
 * Runs a command body; an error becomes one line on stderr (`piksel: <message>`) and the process's
 * exit code: the error's own `exitCode` when it has one (the worker's contract with the Job's pod
 * failure policy, src/worker/errors.ts), else 1.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      process.stderr.write(`piksel: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(exitCodeOf(err));
    }
  };
}

/** The exit code an error asks for (a whole number from 1 to 255), else 1. */
export function exitCodeOf(err: unknown): number {
  const code = (err as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === "number" && Number.isInteger(code) && code >= 1 && code <= 255 ? code : 1;
}
