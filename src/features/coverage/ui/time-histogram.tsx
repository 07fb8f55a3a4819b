"use client";
import { useMemo, useState } from "react";
import { nextPeriod, periodOf, periodRange, type DayRange, type Level } from "~/lib/periods";

const LEVEL_NAMES: Record<Level, string> = { d: "day", m: "month", y: "year" };
// Beyond this many buckets empty ones are left out: a bar per day of five years helps no one.
const MAX_FILLED = 400;

/** "2024-03-05", "2024-03" or "2024": a bucket as people name it. */
export function bucketLabel(period: string, level: Level): string {
  return level === "d" ? period : level === "m" ? period.slice(0, 7) : period.slice(0, 4);
}

/** The buckets to draw: with empty ones between the first and last when that stays readable. */
function drawnBuckets(buckets: { period: string; datasets: number }[], level: Level, within: DayRange | null) {
  const inside = within ? buckets.filter((b) => b.period >= periodOf(within.from, level) && b.period <= within.to) : buckets;
  if (inside.length === 0) return inside;
  const out: { period: string; datasets: number }[] = [];
  const byPeriod = new Map(inside.map((b) => [b.period, b.datasets]));
  let p = inside[0]!.period;
  const last = inside.at(-1)!.period;
  while (p <= last && out.length <= MAX_FILLED) {
    out.push({ period: p, datasets: byPeriod.get(p) ?? 0 });
    p = nextPeriod(p, level);
  }
  return out.length > MAX_FILLED ? inside : out;
}

export interface TimeHistogramProps {
  buckets: { period: string; datasets: number }[];
  level: Level;
  /** The selected range, shown highlighted; null for all time. */
  selection: DayRange | null;
  /** A bucket clicked selects it; shift-click extends the selection from the last clicked bucket; dragging across bars selects them. */
  onSelect: (range: DayRange | null) => void;
  /** Day buckets inside this range only (the month or year chosen before switching to days). */
  within?: DayRange | null;
}

/**
 * Datasets per day, month or year as bars, each a button: click one to filter the map to it,
 * shift-click or drag to select a range.
 */
export function TimeHistogram({ buckets, level, selection, onSelect, within = null }: TimeHistogramProps) {
  const shown = useMemo(() => drawnBuckets(buckets, level, level === "d" ? within : null), [buckets, level, within]);
  const max = shown.reduce((m, b) => Math.max(m, b.datasets), 0);
  const [anchor, setAnchor] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);

  const select = (from: string, to: string) => {
    const [a, b] = from <= to ? [from, to] : [to, from];
    onSelect({ from: periodRange(a, level).from, to: periodRange(b, level).to });
  };
  const inSelection = (period: string) => {
    if (!selection) return false;
    const r = periodRange(period, level);
    return r.from <= selection.to && r.to >= selection.from;
  };

  if (shown.length === 0) return <p className="muted">No datasets to count.</p>;
  return (
    <div
      role="group"
      aria-label={`Datasets per ${LEVEL_NAMES[level]}`}
      data-testid="time-histogram"
      onPointerUp={() => setDragging(false)}
      onPointerLeave={() => setDragging(false)}
      style={{ display: "flex", alignItems: "flex-end", gap: shown.length > 120 ? 0 : 1, height: 120, borderBottom: "1px solid var(--line)", userSelect: "none", touchAction: "none" }}
    >
      {shown.map((b) => {
        const label = `${bucketLabel(b.period, level)}: ${b.datasets.toLocaleString("en-US")} datasets`;
        const selected = inSelection(b.period);
        return (
          <button
            key={b.period}
            type="button"
            aria-label={label}
            aria-pressed={selected}
            title={label}
            onPointerDown={(e) => {
              if (e.shiftKey && anchor) return;
              setAnchor(b.period);
              setDragging(true);
              select(b.period, b.period);
            }}
            onPointerEnter={() => {
              if (dragging && anchor) select(anchor, b.period);
            }}
            onClick={(e) => {
              // Keyboard activation (no pointer events) and shift-click to extend.
              if (e.shiftKey && anchor) select(anchor, b.period);
              else if (e.detail === 0) {
                setAnchor(b.period);
                select(b.period, b.period);
              }
            }}
            style={{
              flex: "1 1 0",
              minWidth: 1,
              height: "100%",
              padding: 0,
              border: 0,
              background: "transparent",
              cursor: "pointer",
              display: "flex",
              alignItems: "flex-end",
            }}
          >
            <span
              aria-hidden="true"
              style={{
                display: "block",
                width: "100%",
                height: `${max ? Math.max(b.datasets ? 3 : 0, (b.datasets / max) * 100) : 0}%`,
                background: selected ? "#e8590c" : selection ? "#a5b4c4" : "#2c7fb8",
                borderRadius: "2px 2px 0 0",
              }}
            />
          </button>
        );
      })}
    </div>
  );
}
