"use client";

const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
  ["second", 1000],
];
const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

/** "3 minutes ago", with the exact time on hover. */
export function Ago({ at }: { at: Date | string | null | undefined }) {
  if (!at) return <span className="muted">—</span>;
  const d = new Date(at);
  const diff = d.getTime() - Date.now();
  const [unit, ms] = units.find(([, ms]) => Math.abs(diff) >= ms) ?? ["second", 1000];
  return (
    <time dateTime={d.toISOString()} title={d.toISOString()}>
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
