import "server-only";
import pino, { type Logger } from "pino";

/**
 * Structured logs (JSON lines) for machines; the CLI pipes them through pino-pretty when it writes
 * to a terminal. One root logger; modules take a child with their own `component`.
 */
export function createLogger(opts: { pretty?: boolean; level?: string; sync?: boolean } = {}): Logger {
  if (opts.pretty) {
    return pino({ level: opts.level ?? "info" }, pino.transport({ target: "pino-pretty", options: { colorize: true, ignore: "pid,hostname", translateTime: "HH:MM:ss" } }));
  }
  // `sync`: each line is written before the call returns. pino's default writes through libuv's
  // thread pool, which the geomedian worker's GDAL reads can fill for a minute (a hanging source):
  // its progress would stall, and lines be lost when it stops on a signal.
  return pino({ level: opts.level ?? "info", base: { service: "piksel" } }, opts.sync ? pino.destination({ dest: 1, sync: true }) : undefined);
}

const holder = globalThis as unknown as { pikselLog?: Logger };
/** The process-wide logger of the console server. */
export function getLogger(): Logger {
  holder.pikselLog ??= createLogger();
  return holder.pikselLog;
}
export type { Logger };
