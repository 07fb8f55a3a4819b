import "server-only";
import pino, { type Logger } from "pino";

/**
 * Structured logs (JSON lines) for machines; the CLI pipes them through pino-pretty when it writes
 * to a terminal. One root logger; modules take a child with their own `component`.
 */
export function createLogger(opts: { pretty?: boolean; level?: string } = {}): Logger {
  if (opts.pretty) {
    return pino({ level: opts.level ?? "info" }, pino.transport({ target: "pino-pretty", options: { colorize: true, ignore: "pid,hostname", translateTime: "HH:MM:ss" } }));
  }
  return pino({ level: opts.level ?? "info", base: { service: "piksel" } });
}

const holder = globalThis as unknown as { pikselLog?: Logger };
/** The process-wide logger of the console server. */
export function getLogger(): Logger {
  holder.pikselLog ??= createLogger();
  return holder.pikselLog;
}
export type { Logger };
