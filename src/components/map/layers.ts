// Declarative overlay layers for <MapView> and the pure helpers around them. No maplibre runtime
// import here, so pages, tests and servers can use these without WebGL.
import type { Feature, FeatureCollection, Polygon } from "geojson";
import type {
  CircleLayerSpecification,
  ExpressionSpecification,
  FillLayerSpecification,
  LineLayerSpecification,
} from "maplibre-gl";

/** [west, south, east, north] in degrees (EPSG:4326), as in STAC and the environments' scopes. */
export type Bbox = [west: number, south: number, east: number, north: number];

interface LayerBase {
  /** Layer id in the map style; also what onFeatureClick reports. Unique among the overlays. */
  id: string;
  /** Draw below this layer (an overlay or a base map layer: ocean, land, borders, coastline); top when absent or unknown. */
  beforeId?: string;
  /** Hidden layers keep their source and tiles, so toggling back is instant. Default true. */
  visible?: boolean;
}

/**
 * A GeoJSON overlay. `data` is compared by reference: pass a memoized collection, a new object
 * re-uploads the source.
 */
export type VectorLayer = LayerBase & { data: FeatureCollection } & (
    | { kind: "fill"; paint?: FillLayerSpecification["paint"] }
    | { kind: "line"; paint?: LineLayerSpecification["paint"] }
    | { kind: "circle"; paint?: CircleLayerSpecification["paint"] }
  );

/** An XYZ raster overlay, e.g. an output band rendered by the tile route. */
export interface RasterLayer extends LayerBase {
  kind: "raster";
  /** URL templates with {z}/{x}/{y}; site-root paths ("/api/tiles/...") are resolved against the page origin. */
  tiles: string[];
  /** 0..1, default 1. */
  opacity?: number;
  /** Extent of the data: no tile is requested outside it. */
  bounds?: Bbox;
  tileSize?: number;
  minzoom?: number;
  maxzoom?: number;
  attribution?: string;
}

export type MapLayer = VectorLayer | RasterLayer;

/** One change to bring the map's overlays from one `layers` prop to the next. */
export type LayerOp =
  | { op: "add"; layer: MapLayer }
  | { op: "remove"; id: string }
  | { op: "setData"; id: string; data: FeatureCollection }
  | { op: "setTiles"; id: string; tiles: string[] }
  | { op: "paint"; id: string; name: string; value: unknown }
  | { op: "visibility"; id: string; visible: boolean }
  | { op: "move"; id: string; beforeId?: string };

/** Source id of an overlay: one source per overlay, kept apart from the base map's source ids. */
export function overlaySourceId(layerId: string): string {
  return `overlay:${layerId}`;
}

const sameJson = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);

function paintOf(layer: MapLayer): Record<string, unknown> {
  if (layer.kind === "raster") return { "raster-opacity": layer.opacity ?? 1 };
  return (layer.paint ?? {}) as Record<string, unknown>;
}

/** Changes that only a new source can carry: these re-create the overlay. */
function needsReplace(prev: MapLayer, next: MapLayer): boolean {
  if (prev.kind !== next.kind) return true;
  if (prev.kind !== "raster" || next.kind !== "raster") return false;
  return !sameJson(
    [prev.bounds, prev.tileSize, prev.minzoom, prev.maxzoom, prev.attribution],
    [next.bounds, next.tileSize, next.minzoom, next.maxzoom, next.attribution],
  );
}

/**
 * Diffs two `layers` props into map operations, so that an update never re-creates the map or an
 * unchanged source. Stacking rule: overlays that share a `beforeId` (or have none: the top) are drawn
 * in array order, later above earlier.
 */
export function planLayerChanges(prev: readonly MapLayer[], next: readonly MapLayer[]): LayerOp[] {
  const ids = new Set<string>();
  for (const layer of next) {
    if (ids.has(layer.id)) throw new Error(`MapView: two layers share the id "${layer.id}"`);
    ids.add(layer.id);
  }
  const before = new Map(prev.map((l) => [l.id, l]));
  const ops: LayerOp[] = [];
  const added = new Set<string>();
  const regrouped = new Set<string>();

  for (const layer of prev) {
    const successor = next.find((l) => l.id === layer.id);
    if (!successor || needsReplace(layer, successor)) ops.push({ op: "remove", id: layer.id });
  }
  for (const layer of next) {
    const old = before.get(layer.id);
    if (!old || needsReplace(old, layer)) {
      ops.push({ op: "add", layer });
      added.add(layer.id);
      continue;
    }
    if (old.kind !== "raster" && layer.kind !== "raster" && old.data !== layer.data) ops.push({ op: "setData", id: layer.id, data: layer.data });
    if (old.kind === "raster" && layer.kind === "raster" && !sameJson(old.tiles, layer.tiles)) ops.push({ op: "setTiles", id: layer.id, tiles: layer.tiles });
    const [oldPaint, newPaint] = [paintOf(old), paintOf(layer)];
    for (const name of new Set([...Object.keys(oldPaint), ...Object.keys(newPaint)])) {
      if (!sameJson(oldPaint[name], newPaint[name])) ops.push({ op: "paint", id: layer.id, name, value: newPaint[name] });
    }
    if ((old.visible ?? true) !== (layer.visible ?? true)) ops.push({ op: "visibility", id: layer.id, visible: layer.visible ?? true });
    if (old.beforeId !== layer.beforeId) regrouped.add(layer.id);
  }

  // addLayer and moveLayer put a layer at the top of its group (right below beforeId, or the top of
  // the map). Moving the layers that changed group does the job when the result is the wanted order;
  // otherwise (an insertion in the middle, a reorder) the whole group is restacked, bottom first.
  for (const group of new Set(next.map((l) => l.beforeId))) {
    const members = next.filter((l) => l.beforeId === group).map((l) => l.id);
    const stay = prev.filter((l) => l.beforeId === group && members.includes(l.id) && !added.has(l.id)).map((l) => l.id);
    const arriving = members.filter((id) => regrouped.has(id));
    const result = [...stay, ...members.filter((id) => added.has(id)), ...arriving];
    const toMove = sameJson(result, members) ? arriving : members;
    for (const id of toMove) ops.push({ op: "move", id, beforeId: group });
  }
  return ops;
}

/**
 * A bbox that crosses the antimeridian (west > east, RFC 7946) with its east edge moved past 180, the
 * form MapLibre draws and fits the short way round.
 */
export function unwrapBbox([west, south, east, north]: Bbox): Bbox {
  return [west, south, east < west ? east + 360 : east, north];
}

/** A closed, counter-clockwise polygon for a bbox, for MapLibre (see unwrapBbox). */
export function bboxToPolygon(bbox: Bbox, properties: Record<string, unknown> = {}): Feature<Polygon> {
  const [west, south, east, north] = unwrapBbox(bbox);
  return {
    type: "Feature",
    properties,
    geometry: {
      type: "Polygon",
      coordinates: [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
    },
  };
}

export function featureCollection<F extends Feature>(features: F[]): FeatureCollection<F["geometry"], F["properties"]> {
  return { type: "FeatureCollection", features };
}

export function bboxEquals(a: Bbox | undefined, b: Bbox | undefined): boolean {
  if (!a || !b) return a === b;
  return a.every((v, i) => v === b[i]);
}

/**
 * A viewport as an RFC 7946 bbox. MapLibre reports longitudes of the neighbouring world copies
 * (beyond ±180) once the view is panned across the antimeridian; each edge is wrapped back into
 * [-180, 180], so a view that crosses the antimeridian comes out with west > east, as STAC and
 * GeoJSON expect. A view wider than the world becomes the whole world.
 */
export function normalizeViewBbox([west, south, east, north]: Bbox): Bbox {
  const clampLat = (v: number) => Math.min(90, Math.max(-90, v));
  if (east - west >= 360) return [-180, clampLat(south), 180, clampLat(north)];
  const wrap = (v: number) => ((((v + 180) % 360) + 360) % 360) - 180;
  const wrappedEast = wrap(east);
  return [wrap(west), clampLat(south), wrappedEast === -180 ? 180 : wrappedEast, clampLat(north)];
}

/**
 * Makes a site-root path absolute ("/api/tiles/{z}/{x}/{y}.png" -> "https://host/api/..."); other
 * URLs are returned unchanged. Not `new URL()`: it would percent-encode the {z}/{x}/{y} placeholders.
 */
export function absoluteUrl(url: string, origin: string): string {
  return url.startsWith("/") && !url.startsWith("//") ? origin + url : url;
}

/** Sequential blue ramp (ColorBrewer YlGnBu, 5 classes): light = few, dark = many. */
export const COUNT_RAMP = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"] as const;

export interface RampStop {
  value: number;
  color: string;
}

/** Ramp stops spread linearly over [0, max]; a max below 1 is treated as 1 so that stops ascend. */
export function countStops(max: number): RampStop[] {
  const top = Math.max(1, max);
  return COUNT_RAMP.map((color, i) => ({ value: (top * i) / (COUNT_RAMP.length - 1), color }));
}

function hexToRgb(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** The ramp colour of `count` on a [0, max] scale, as #rrggbb; counts outside are clamped. */
export function countColor(count: number, max: number): string {
  const stops = countStops(max);
  const last = stops.at(-1)!;
  const v = Math.min(last.value, Math.max(0, count));
  const upper = stops.findIndex((s) => s.value >= v);
  if (upper <= 0) return stops[0]!.color;
  const [lo, hi] = [stops[upper - 1]!, stops[upper]!];
  const t = (v - lo.value) / (hi.value - lo.value);
  const [a, b] = [hexToRgb(lo.color), hexToRgb(hi.color)];
  return `#${a.map((c, i) => Math.round(c + (b[i]! - c) * t).toString(16).padStart(2, "0")).join("")}`;
}

/** The same ramp as a MapLibre expression on a numeric feature property, for data-driven paint. */
export function countColorExpression(property: string, max: number): ExpressionSpecification {
  return ["interpolate", ["linear"], ["to-number", ["get", property], 0], ...countStops(max).flatMap((s) => [s.value, s.color])];
}
