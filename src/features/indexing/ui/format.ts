/** Small formatting helpers of the Indexing page. */

export const count = (n: number) => n.toLocaleString("en-US");

/** "2024-01-01 – 2024-12-31" from two dates (UTC days). */
export function dayRange(from: Date | string | null, to: Date | string | null): string {
  if (!from || !to) return "—";
  const day = (d: Date | string) => new Date(d).toISOString().slice(0, 10);
  return day(from) === day(to) ? day(from) : `${day(from)} – ${day(to)}`;
}

/** "106.5, -6.8 → 107.1, -6.2" */
export const bboxText = (b: readonly number[]) => `${b[0]}, ${b[1]} → ${b[2]}, ${b[3]}`;

/** 75 s -> "1 min 15 s". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
