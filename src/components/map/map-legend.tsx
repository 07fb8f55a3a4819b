import type { CSSProperties } from "react";
import type { RampStop } from "./layers";

type MapLegendProps = { title: string } & (
  | { /** A continuous ramp, e.g. countStops(max): a gradient labelled with its ends. */ ramp: RampStop[]; format?: (value: number) => string }
  | { /** Categories, e.g. one colour per environment. */ items: { label: string; color: string }[] }
);

const box: CSSProperties = {
  position: "absolute",
  top: 10,
  left: 10,
  zIndex: 2,
  background: "rgb(255 255 255 / 92%)",
  border: "1px solid var(--line, #e1e5ea)",
  borderRadius: 6,
  padding: "6px 10px",
  fontSize: 12,
  lineHeight: 1.4,
  minWidth: 140,
};

/** A legend placed over the top-left corner of a <MapView>, as one of its children. */
export function MapLegend(props: MapLegendProps) {
  return (
    <figure style={{ ...box, margin: 0 }} data-testid="map-legend">
      <figcaption style={{ fontWeight: 600, marginBottom: 4 }}>{props.title}</figcaption>
      {"ramp" in props ? <Ramp stops={props.ramp} format={props.format ?? defaultFormat} /> : <Items items={props.items} />}
    </figure>
  );
}

const defaultFormat = (value: number) => Math.round(value).toLocaleString();

function Ramp({ stops, format }: { stops: RampStop[]; format: (value: number) => string }) {
  const first = stops[0];
  const last = stops.at(-1);
  if (!first || !last) return null;
  const gradient = `linear-gradient(to right, ${stops.map((s) => s.color).join(", ")})`;
  return (
    <div>
      <div aria-hidden="true" style={{ height: 10, borderRadius: 2, background: gradient }} />
      <div style={{ display: "flex", justifyContent: "space-between", marginTop: 2 }}>
        <span>{format(first.value)}</span>
        <span>{format(last.value)}</span>
      </div>
    </div>
  );
}

function Items({ items }: { items: { label: string; color: string }[] }) {
  return (
    <ul style={{ listStyle: "none", margin: 0, padding: 0 }}>
      {items.map((item) => (
        <li key={item.label} style={{ display: "flex", alignItems: "center", gap: 6 }}>
          <span aria-hidden="true" style={{ width: 12, height: 12, borderRadius: 2, background: item.color, flex: "none" }} />
          {item.label}
        </li>
      ))}
    </ul>
  );
}
