/** Where a running task is, from the worker's log lines. */
export interface TaskProgress {
  stage: string;
  /** 0..1 */
  fraction: number;
}

/**
 * The worker logs one JSON line per step (`{"msg":"progress","stage":"reduce","chunk":3,"of":16,
 * "percent":42}`, src/cli/worker-command.ts). Returns the latest such line's progress, or null when
 * none is among the lines (other lines, plain text and broken JSON are skipped).
 */
export function latestProgress(lines: readonly string[]): TaskProgress | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    const start = line.indexOf("{");
    if (start < 0 || !line.includes('"progress"')) continue;
    let value: unknown;
    try {
      value = JSON.parse(line.slice(start));
    } catch {
      continue;
    }
    const v = value as { msg?: unknown; stage?: unknown; percent?: unknown };
    if (v.msg !== "progress" || typeof v.percent !== "number" || !Number.isFinite(v.percent)) continue;
    return { stage: typeof v.stage === "string" ? v.stage : "working", fraction: Math.min(1, Math.max(0, v.percent / 100)) };
  }
  return null;
}
