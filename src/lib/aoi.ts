/**
 * Areas of interest (AOIs): parsing and validation shared by the request form (browser) and the
 * server, so both refuse the same input with the same message. Pure: no I/O.
 */

export type Position = [number, number];
export type Ring = Position[];

export interface Aoi {
  type: "Polygon" | "MultiPolygon";
  /** Polygons, each a list of rings (outer first), each ring closed. */
  polygons: Ring[][];
  /** Area on the sphere in km². */
  areaKm2: number;
  bbox: [number, number, number, number];
}

/** An AOI that cannot be used; the message says what is wrong and what to do. */
export class AoiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AoiError";
  }
}

const EARTH_RADIUS_KM = 6371.0088;
const MAX_VERTICES = 10_000;

/** Spherical area of a closed lon/lat ring in km² (the formula of Chamberlain & Duquette, as turf/d3 use). */
export function ringAreaKm2(ring: Ring): number {
  let sum = 0;
  for (let i = 0; i < ring.length - 1; i++) {
    const [lon1, lat1] = ring[i]!;
    const [lon2, lat2] = ring[i + 1]!;
    sum += ((lon2 - lon1) * Math.PI) / 180 * (2 + Math.sin((lat1 * Math.PI) / 180) + Math.sin((lat2 * Math.PI) / 180));
  }
  return Math.abs((sum * EARTH_RADIUS_KM * EARTH_RADIUS_KM) / 2);
}

function orientation(a: Position, b: Position, c: Position): number {
  const v = (b[1] - a[1]) * (c[0] - b[0]) - (b[0] - a[0]) * (c[1] - b[1]);
  return Math.abs(v) < 1e-12 ? 0 : v > 0 ? 1 : 2;
}
const onSegment = (a: Position, b: Position, c: Position) =>
  Math.min(a[0], c[0]) <= b[0] && b[0] <= Math.max(a[0], c[0]) && Math.min(a[1], c[1]) <= b[1] && b[1] <= Math.max(a[1], c[1]);

/** Whether segments p1-p2 and p3-p4 intersect (touching included). */
export function segmentsIntersect(p1: Position, p2: Position, p3: Position, p4: Position): boolean {
  const o1 = orientation(p1, p2, p3);
  const o2 = orientation(p1, p2, p4);
  const o3 = orientation(p3, p4, p1);
  const o4 = orientation(p3, p4, p2);
  if (o1 !== o2 && o3 !== o4) return true;
  return (o1 === 0 && onSegment(p1, p3, p2)) || (o2 === 0 && onSegment(p1, p4, p2)) || (o3 === 0 && onSegment(p3, p1, p4)) || (o4 === 0 && onSegment(p3, p2, p4));
}

/** The first pair of non-adjacent edges of a ring that cross, or null. O(n²): rings are capped in size. */
export function selfIntersection(ring: Ring): [number, number] | null {
  const n = ring.length - 1;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (j === i + 1 || (i === 0 && j === n - 1)) continue;
      if (segmentsIntersect(ring[i]!, ring[i + 1]!, ring[j]!, ring[j + 1]!)) return [i, j];
    }
  }
  return null;
}

function readRing(raw: unknown, where: string): Ring {
  if (!Array.isArray(raw)) throw new AoiError(`${where} is not a list of positions. A ring is [[lon, lat], [lon, lat], …].`);
  const ring = raw.map((p, i) => {
    if (!Array.isArray(p) || p.length < 2 || typeof p[0] !== "number" || typeof p[1] !== "number" || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) {
      throw new AoiError(`${where}, position ${i + 1} is not [longitude, latitude] in numbers.`);
    }
    const [lon, lat] = p as [number, number];
    if (lon < -180 || lon > 180 || lat < -90 || lat > 90) {
      throw new AoiError(`${where}, position ${i + 1} (${lon}, ${lat}) is outside longitude -180..180 / latitude -90..90. Coordinates are [longitude, latitude] in degrees (WGS 84); were they swapped or projected?`);
    }
    return [lon, lat] as Position;
  });
  if (ring.length < 4) throw new AoiError(`${where} has ${ring.length} position(s); a polygon ring needs at least 4 (three corners and the first repeated).`);
  const [f, l] = [ring[0]!, ring[ring.length - 1]!];
  if (f[0] !== l[0] || f[1] !== l[1]) throw new AoiError(`${where} is not closed: its last position must repeat the first (${f[0]}, ${f[1]}).`);
  const crossing = selfIntersection(ring);
  if (crossing) throw new AoiError(`${where} crosses itself (edges ${crossing[0] + 1} and ${crossing[1] + 1}). Redraw it without crossing lines.`);
  return ring;
}

function geometryOf(input: unknown): { type: string; coordinates: unknown } {
  const g = input as { type?: string; geometry?: unknown; features?: unknown[]; coordinates?: unknown };
  if (!g || typeof g !== "object") throw new AoiError("The AOI is not GeoJSON: expected a Polygon, a MultiPolygon, a Feature or a FeatureCollection of one polygon.");
  if (g.type === "FeatureCollection") {
    const polys = (g.features ?? []).map((f) => (f as { geometry?: { type?: string } }).geometry).filter((x) => x && (x.type === "Polygon" || x.type === "MultiPolygon"));
    if (polys.length !== 1) throw new AoiError(`The FeatureCollection holds ${polys.length} polygons; upload exactly one Polygon or MultiPolygon feature.`);
    return geometryOf(polys[0]);
  }
  if (g.type === "Feature") return geometryOf(g.geometry);
  if (g.type !== "Polygon" && g.type !== "MultiPolygon") throw new AoiError(`The AOI is a ${g.type ?? "thing without a type"}; draw or upload a Polygon or MultiPolygon.`);
  return g as { type: string; coordinates: unknown };
}

/** Parses and validates an AOI; throws AoiError with a message that says what to fix. */
export function parseAoi(input: unknown): Aoi {
  const g = geometryOf(input);
  const raw = (g.type === "Polygon" ? [g.coordinates] : g.coordinates) as unknown[];
  if (!Array.isArray(raw) || raw.length === 0) throw new AoiError("The AOI has no coordinates.");
  let vertices = 0;
  const polygons = raw.map((poly, pi) => {
    if (!Array.isArray(poly) || poly.length === 0) throw new AoiError(`Polygon ${pi + 1} has no rings.`);
    return poly.map((r, ri) => {
      const where = `${raw.length > 1 ? `Polygon ${pi + 1}, ` : ""}${ri === 0 ? "the outer ring" : `hole ${ri}`}`;
      const ring = readRing(r, where.charAt(0).toUpperCase() + where.slice(1));
      vertices += ring.length;
      if (vertices > MAX_VERTICES) throw new AoiError(`The AOI has more than ${MAX_VERTICES} vertices; simplify it first.`);
      return ring;
    });
  });
  const areaKm2 = polygons.reduce((sum, rings) => sum + ringAreaKm2(rings[0]!) - rings.slice(1).reduce((h, r) => h + ringAreaKm2(r), 0), 0);
  const all = polygons.flat(2);
  const bbox: Aoi["bbox"] = [Math.min(...all.map((p) => p[0])), Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[0])), Math.max(...all.map((p) => p[1]))];
  if (areaKm2 <= 0) throw new AoiError("The AOI has no area.");
  return { type: g.type as Aoi["type"], polygons, areaKm2, bbox };
}

/** The AOI as a GeoJSON geometry. */
export function aoiGeometry(aoi: Aoi): { type: "Polygon"; coordinates: Ring[] } | { type: "MultiPolygon"; coordinates: Ring[][] } {
  return aoi.type === "Polygon" ? { type: "Polygon", coordinates: aoi.polygons[0]! } : { type: "MultiPolygon", coordinates: aoi.polygons };
}
