// Calendar periods of the coverage summaries: UTC days, months and years, as "YYYY-MM-DD" strings
// (the first day of the period). Pure, shared by the server (which queries by them) and the browser
// (which draws the histogram and sends the selected range).

/** A summary level: day, month or year. */
export type Level = "d" | "m" | "y";

/** An inclusive range of UTC days, "YYYY-MM-DD". */
export interface DayRange {
  from: string;
  to: string;
}

/** A run of whole periods of one level, `start` inclusive, `end` exclusive. */
export interface PeriodSpan {
  level: Level;
  start: string;
  end: string;
}

const DAY_MS = 86_400_000;
export const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

const toMs = (day: string) => Date.parse(`${day}T00:00:00Z`);
const toDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Whether a string is a real calendar day ("2024-02-30" is not). */
export function isDay(value: string): boolean {
  if (!DAY_RE.test(value)) return false;
  const ms = toMs(value);
  return !Number.isNaN(ms) && toDay(ms) === value;
}

export function addDays(day: string, n: number): string {
  return toDay(toMs(day) + n * DAY_MS);
}

/** First day of the next period of `level` after the one that starts at `start`. */
export function nextPeriod(start: string, level: Level): string {
  const d = new Date(toMs(start));
  if (level === "d") return addDays(start, 1);
  if (level === "m") return toDay(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
  return toDay(Date.UTC(d.getUTCFullYear() + 1, 0, 1));
}

/** First day of the period of `level` that holds `day`. */
export function periodOf(day: string, level: Level): string {
  if (level === "d") return day;
  if (level === "m") return `${day.slice(0, 7)}-01`;
  return `${day.slice(0, 4)}-01-01`;
}

/** The inclusive day range of one period. */
export function periodRange(start: string, level: Level): DayRange {
  return { from: start, to: addDays(nextPeriod(start, level), -1) };
}

/**
 * An inclusive day range as the fewest whole years, months and days: the days up to the first month
 * boundary, the months up to the first year boundary, whole years, then months and days again at the
 * end. Any range becomes at most two spans per level, so a query sums at most ~2 x 11 months + 2 x 30
 * days + the years per cell instead of every day.
 */
export function decomposeRange({ from, to }: DayRange): PeriodSpan[] {
  const spans: PeriodSpan[] = [];
  const end = addDays(to, 1);
  let cur = from;
  const push = (level: Level, start: string, stop: string) => {
    if (start < stop) spans.push({ level, start, end: stop });
  };
  // Advance by whole periods of `level` while they fit before `limit`.
  const run = (level: Level, limit: string) => {
    const start = cur;
    while (periodOf(cur, level) === cur && nextPeriod(cur, level) <= limit) cur = nextPeriod(cur, level);
    push(level, start, cur);
  };
  const monthStart = (day: string) => (periodOf(day, "m") === day ? day : nextPeriod(periodOf(day, "m"), "m"));
  const yearStart = (day: string) => (periodOf(day, "y") === day ? day : nextPeriod(periodOf(day, "y"), "y"));
  run("d", monthStart(cur) < end ? monthStart(cur) : end);
  run("m", yearStart(cur) < end ? yearStart(cur) : end);
  run("y", end);
  run("m", end);
  run("d", end);
  return spans;
}

/**
 * The day range of a datacube-explorer time path (`/2024`, `/2024/3`, `/2024/3/15`); null for none
 * (all time). Throws a RangeError that says what is wrong.
 */
export function explorerPathRange(parts: readonly string[]): DayRange | null {
  if (parts.length === 0) return null;
  if (parts.length > 3) throw new RangeError(`expected /<year>[/<month>[/<day>]], got ${parts.length} parts after the product`);
  const [y, m, d] = parts.map((p, i) => {
    if (!/^\d+$/.test(p)) throw new RangeError(`${["year", "month", "day"][i]} must be a whole number, got "${p}"`);
    return Number(p);
  });
  if (y! < 1900 || y! > 2199) throw new RangeError(`year must be between 1900 and 2199, got ${y}`);
  if (m !== undefined && (m < 1 || m > 12)) throw new RangeError(`month must be 1 to 12, got ${m}`);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (m === undefined) return periodRange(`${y}-01-01`, "y");
  if (d === undefined) return periodRange(`${y}-${pad(m)}-01`, "m");
  const day = `${y}-${pad(m)}-${pad(d)}`;
  if (!isDay(day)) throw new RangeError(`${day} is not a day of the calendar`);
  return { from: day, to: day };
}

/** The histogram level explorer uses for a time path: months for all time, days within a year or less. */
export function explorerTimelineLevel(range: DayRange | null): Level {
  return range === null ? "m" : "d";
}
