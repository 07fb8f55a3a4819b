/**
 * The one-line progress display of `piksel index` on a terminal: a bar and percentage when the
 * catalogue reported how many items match, items/s, pages, ETA and the outcome counters. Pure.
 */

export interface ProgressFigures {
  environment: string;
  pages: number;
  items: number;
  added: number;
  updated: number;
  skipped: number;
  archived: number;
  failed: number;
  retries: number;
  /** Items of the whole search, when known. */
  numberMatched: number | null;
  /** Items earlier (resumed) runs already went through. */
  itemsBefore: number;
  itemsPerSecond: number;
  etaSeconds: number | null;
}

const grouped = (n: number) => Math.round(n).toLocaleString("en-US");

/** 75 -> "1:15", 3725 -> "1:02:05". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const two = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}

/** The line, at most `columns` characters wide. */
export function progressLine(p: ProgressFigures, columns = 100): string {
  const done = p.itemsBefore + p.items;
  const parts: string[] = [];
  if (p.numberMatched !== null && p.numberMatched > 0) {
    const ratio = Math.min(1, done / p.numberMatched);
    const width = 20;
    const filled = Math.round(ratio * width);
    parts.push(`${p.environment} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${Math.floor(ratio * 100)}%`);
    parts.push(`${grouped(done)}/${grouped(p.numberMatched)} items`);
  } else {
    parts.push(`${p.environment} ${grouped(done)} items`);
  }
  parts.push(`${grouped(p.itemsPerSecond)}/s`, `${grouped(p.pages)} page${p.pages === 1 ? "" : "s"}`);
  if (p.etaSeconds !== null) parts.push(`ETA ${formatDuration(p.etaSeconds)}`);
  const outcome = [`${grouped(p.added)} added`, `${grouped(p.updated)} updated`, `${grouped(p.skipped)} skipped`];
  if (p.archived) outcome.push(`${grouped(p.archived)} archived`);
  if (p.failed) outcome.push(`${grouped(p.failed)} failed`);
  if (p.retries) outcome.push(`${grouped(p.retries)} retried`);
  parts.push(outcome.join(", "));
  const line = parts.join(" | ");
  return line.length <= columns ? line : `${line.slice(0, Math.max(0, columns - 1))}…`;
}
