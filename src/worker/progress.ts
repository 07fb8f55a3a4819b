import { z } from "zod";

/**
 * The worker's progress as it appears in its log, and the one parser of it: the console reads a
 * task's log lines (ClusterPort.streamLogs) and shows per-task progress from them. Pure; no I/O, no
 * GDAL, so the console imports it.
 *
 * `piksel worker geomedian` logs JSON lines (pino); a progress line is one with `"msg":"progress"`:
 *
 *   {"level":30,"time":1764070000000,"component":"worker","task":"2024--P1Y/304/68","env":"dev",
 *    "stage":"reduce","chunk":3,"of":16,"percent":52.3,"msg":"progress"}
 *
 * - `stage`: plan, read, reduce, write, index, then done (computed now) or skipped (finished by an
 *   earlier run), in that order;
 * - `chunk` of `of`: the stage's step (chunks for read and reduce, files for write);
 * - `percent`: of the whole task, one decimal, never going down within one attempt;
 * - `task`, `env`, `time` (ms since the epoch): from the logger.
 *
 * The last line of a successful run is the progress line of stage done or skipped, percent 100, with
 * `outputs` (TaskOutputs): the dataset id, the EO3 document's URI (the dataset's location), the STAC
 * item's and each band's COG URI. Other lines (notes, warnings, a failure's one-line reason on
 * stderr) are not progress; the parser returns null for them.
 */

/** Stages in the order they run. */
export const STAGES = ["plan", "read", "reduce", "write", "index", "done", "skipped"] as const;
export type Stage = (typeof STAGES)[number];

/** The `msg` of progress lines. */
export const PROGRESS_MESSAGE = "progress";

/** What a finished task wrote (the last progress line carries it). */
export interface TaskOutputs {
  /** done: computed by this run; skipped: an earlier run had finished it. */
  status: "done" | "skipped";
  /** The output dataset's id (its EO3 document's). */
  id: string;
  /** URI of the EO3 document: the dataset's location in the index. */
  uri: string;
  /** URI of the STAC item. */
  stac: string;
  /** Band name (B02 ... COUNT) -> URI of its COG. */
  bands: Record<string, string>;
  /** Whether the dataset is in the environment's index. */
  indexed: boolean;
}

/**
 * A progress event: the stage, its step `chunk` of `of` (chunks for read and reduce, files for
 * write), `percent` of the whole task (monotonic), and on the final event what was written.
 */
export interface Progress {
  stage: Stage;
  chunk: number;
  of: number;
  percent: number;
  outputs?: TaskOutputs;
}

/** A progress line as the console reads it. */
export interface ProgressLine extends Progress {
  /** The task id the worker logged (its logger's binding), when present. */
  task?: string;
  /** When it was logged (RFC 3339), when the line has pino's `time`. */
  time?: string;
}

const count = z.number().int().min(0);
const outputsSchema = z.object({
  status: z.enum(["done", "skipped"]),
  id: z.string().min(1),
  uri: z.string().min(1),
  stac: z.string().min(1),
  bands: z.record(z.string(), z.string()),
  indexed: z.boolean(),
});
const lineSchema = z.object({
  msg: z.literal(PROGRESS_MESSAGE),
  stage: z.enum(STAGES),
  chunk: count,
  of: count,
  percent: z.number().min(0).max(100),
  outputs: outputsSchema.optional(),
  task: z.string().optional(),
  time: z.number().optional(),
});

/**
 * The progress in one log line of the worker, or null when the line is not a progress line (another
 * log line, a CLI message, a truncated line). Accepts the line as ClusterPort.streamLogs returns it.
 */
export function parseProgressLine(line: string): ProgressLine | null {
  const text = line.trim();
  if (!text.startsWith("{") || !text.includes(`"${PROGRESS_MESSAGE}"`)) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = lineSchema.safeParse(value);
  if (!parsed.success) return null;
  const { stage, chunk, of, percent, outputs, task, time } = parsed.data;
  return {
    stage,
    chunk,
    of,
    percent,
    ...(outputs ? { outputs } : {}),
    ...(task !== undefined ? { task } : {}),
    ...(time !== undefined ? { time: new Date(time).toISOString() } : {}),
  };
}

/** The latest progress among a task's log lines (the console's per-task bar), null before the first. */
export function latestProgress(lines: Iterable<string>): ProgressLine | null {
  let last: ProgressLine | null = null;
  for (const line of lines) last = parseProgressLine(line) ?? last;
  return last;
}
