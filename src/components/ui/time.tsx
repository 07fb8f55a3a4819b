"use client";
import { useSyncExternalStore } from "react";

const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
  ["second", 1000],
];
const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

// One shared clock for every relative time on the page, ticking every 15 s: renders stay pure
// (React may render twice) and "3 minutes ago" still moves on.
let now = Date.now();
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | undefined;
function subscribe(listener: () => void) {
  listeners.add(listener);
  timer ??= setInterval(() => {
    now = Date.now();
    listeners.forEach((l) => l());
  }, 15_000);
  return () => {
    listeners.delete(listener);
    if (!listeners.size && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}
const getNow = () => now;

/** "3 minutes ago", with the exact time on hover. */
export function Ago({ at }: { at: Date | string | null | undefined }) {
  const current = useSyncExternalStore(subscribe, getNow, getNow);
  if (!at) return <span className="muted">—</span>;
  const d = new Date(at);
  const diff = d.getTime() - current;
  const [unit, ms] = units.find(([, ms]) => Math.abs(diff) >= ms) ?? ["second", 1000];
  return (
    <time dateTime={d.toISOString()} title={d.toISOString()} suppressHydrationWarning>
      {rtf.format(Math.round(diff / ms), unit)}
    </time>
  );
}

/** sha256:0123456789ab… for tables; the full digest on hover. */
export function Digest({ digest }: { digest: string | null | undefined }) {
  if (!digest) return <span className="muted">no digest</span>;
  return (
    <code className="mono" title={digest}>
      {digest.slice(0, 19)}
    </code>
  );
}
