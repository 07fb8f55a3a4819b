import { createHash } from "node:crypto";
import { transformer, UnsupportedCrsError, type Point } from "~/server/odc/crs";
import { EO3_SCHEMA, type Eo3Document, type Eo3Grid, type Eo3Measurement, type GeoJsonPolygon } from "~/server/odc/eo3";

/**
 * STAC item -> EO3 dataset document, as odc-tools' `stac-to-dc` does it (odc-apps-dc-tools 0.2.x,
 * `odc/apps/dc_tools/_stac.py`, `stac_transform`, and `stac_api_to_dc.py`, `item_to_meta_uri`), so
 * that a dataset we index has the id, grids, properties and location `stac-to-dc` would give it.
 * Pure: no I/O. Deviations from odc-tools are named where they happen.
 */

/** Why an item cannot be indexed. The indexer records it against the item and skips the item. */
export type StacProblem = "invalid-item" | "unknown-collection" | "missing-geometry" | "no-assets" | "missing-proj" | "missing-link" | "unsupported-crs";

export class StacConversionError extends Error {
  constructor(
    /** The item's `id`, or null when it has none. */
    readonly itemId: string | null,
    readonly problem: StacProblem,
    detail: string,
  ) {
    super(`STAC item ${itemId ?? "(without id)"}: ${detail}`);
    this.name = "StacConversionError";
  }
}

export interface StacConversion {
  /** The EO3 document to index (prepared by the index driver before storing, as ODC does). */
  document: Eo3Document;
  /** The dataset's location: the item's `canonical` link, else its `self` link. */
  uri: string;
  product: string;
  /** The STAC item id (the dataset id differs for Sentinel-2: see `datasetId`). */
  itemId: string;
}

/** STAC collection -> ODC product. Earth Search v1's Sentinel-2 L2A is datacube-dataset-config's s2_l2a. */
export const defaultProductMapping: Readonly<Record<string, string>> = { "sentinel-2-l2a": "s2_l2a" };

// `MAPPING_STAC_TO_EO3`: STAC property names that EO3 spells differently.
const propertyNames: Record<string, string> = {
  end_datetime: "dtr:end_datetime",
  start_datetime: "dtr:start_datetime",
  gsd: "eo:gsd",
  instruments: "eo:instrument",
  platform: "eo:platform",
  constellation: "eo:constellation",
  "view:off_nadir": "eo:off_nadir",
  "view:azimuth": "eo:azimuth",
  "view:sun_azimuth": "eo:sun_azimuth",
  "view:sun_elevation": "eo:sun_elevation",
};
// `CANDIDATE_REGION_CODES`, tried before the Sentinel-2 MGRS rule.
const regionCodeProperties = ["odc:region_code", "s2:mgrs_tile", "io:supercell_id"];
// `odc_uuid`'s namespace ("some random UUID to be ODC namespace", `_docs.py`).
const ODC_NAMESPACE = "6f34c6f4-13d6-43c0-8e4e-42b6c13203af";

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** RFC 4122 name-based UUID (SHA-1), Python's `uuid.uuid5`. */
export function uuid5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
  const hash = createHash("sha1").update(ns).update(name, "utf8").digest();
  hash[6] = ((hash[6] as number) & 0x0f) | 0x50;
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * `odc_uuid(algorithm, version, sources)`: uuid5 of the lower-cased lines algorithm, version,
 * deployment id ("") and the sorted sources.
 */
export function odcUuid(algorithm: string, version: string, sources: string[]): string {
  const lines = [algorithm, version, "", ...[...sources].sort()];
  return uuid5(ODC_NAMESPACE, lines.map((s) => s.toLowerCase()).join("\n"));
}

/** Python's `UUID(str(x))` accepts these spellings; returns the canonical form, or undefined. */
function asUuid(id: string): string | undefined {
  const hex = id.trim().replace(/^urn:uuid:/i, "").replace(/^\{(.*)\}$/, "$1").replace(/-/g, "");
  if (!/^[0-9a-f]{32}$/i.test(hex)) return undefined;
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Python's `format(x, "g")`: 6 significant digits, exponent form below 1e-4 or from 1e6. */
export function formatG(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const [mantissa, expText] = x.toExponential(5).split("e") as [string, string];
  const exp = Number(expText);
  const strip = (s: string) => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
  if (exp < -4 || exp >= 6) return `${strip(mantissa)}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  return strip(x.toFixed(5 - exp));
}

/** Python's `round(x, ndigits)` on a float: ties (only possible at 0 digits) go to the even neighbour. */
function roundPy(x: number, digits: number): number {
  if (digits > 0) return Number(x.toFixed(digits));
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `urlparse(u).netloc` and `.path`. */
function urlParts(u: string): { netloc: string; path: string } {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)([^?#]*)/.exec(u);
  if (m) return { netloc: m[1] as string, path: m[2] as string };
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:([^?#]*)/.exec(u);
  return { netloc: "", path: scheme ? (scheme[1] as string) : (u.split(/[?#]/)[0] as string) };
}

/** PurePosixPath parts: empty and "." segments vanish. */
const pathParts = (p: string) => p.split("/").filter((s) => s !== "" && s !== ".");

/**
 * `_get_relative_path`: an asset on the same host as the item's self link (first label of the host,
 * so `sentinel-cogs` matches `sentinel-cogs.s3.us-west-2.amazonaws.com`) and under the item's folder
 * is written relative to it; anything else stays absolute. The scheme is not compared: an s3:// self
 * link makes the https COG paths relative.
 */
function relativePath(href: string, selfLink: string | undefined): string {
  if (selfLink === undefined) return href;
  const self = urlParts(selfLink);
  const asset = urlParts(href);
  if (self.netloc.split(".")[0] !== asset.netloc.split(".")[0]) return href;
  const base = pathParts(self.path).slice(0, -1);
  const target = pathParts(asset.path);
  if (target.length < base.length || base.some((s, i) => target[i] !== s)) return href;
  const rest = target.slice(base.length);
  return rest.length === 0 ? "." : rest.join("/");
}

/** Convex hull as GEOS returns it: clockwise, starting at the lowest (then leftmost) point, closed. */
function convexHull(points: Point[]): Point[] {
  const pts = [...new Map(points.map((p) => [`${p[0]},${p[1]}`, p])).values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return [...pts, pts[0] as Point];
  const cross = (o: Point, a: Point, b: Point) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const half = (list: Point[]) => {
    const out: Point[] = [];
    for (const p of list) {
      while (out.length >= 2 && cross(out[out.length - 2] as Point, out[out.length - 1] as Point, p) >= 0) out.pop();
      out.push(p);
    }
    return out.slice(0, -1);
  };
  // With `>= 0` popping, each half turns clockwise; together they are the clockwise hull.
  const hull = [...half(pts), ...half([...pts].reverse())];
  let start = 0;
  hull.forEach((p, i) => {
    const s = hull[start] as Point;
    if (p[1] < s[1] || (p[1] === s[1] && p[0] < s[0])) start = i;
  });
  const ring = [...hull.slice(start), ...hull.slice(0, start)];
  return [...ring, ring[0] as Point];
}

/** Whether two segments properly cross or touch (used by the validity check). */
function segmentsIntersect(a: Point, b: Point, c: Point, d: Point): boolean {
  const orient = (p: Point, q: Point, r: Point) => Math.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]));
  const onSegment = (p: Point, q: Point, r: Point) => Math.min(p[0], r[0]) <= q[0] && q[0] <= Math.max(p[0], r[0]) && Math.min(p[1], r[1]) <= q[1] && q[1] <= Math.max(p[1], r[1]);
  const [o1, o2, o3, o4] = [orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)];
  if (o1 !== o2 && o3 !== o4) return true;
  return (o1 === 0 && onSegment(a, c, b)) || (o2 === 0 && onSegment(a, d, b)) || (o3 === 0 && onSegment(c, a, d)) || (o4 === 0 && onSegment(c, b, d));
}

/**
 * Shapely's `is_valid` for what reprojection and rounding can break: each ring closed with at least
 * four positions, a non-zero area, and no self-intersection (a degenerate sliver or a bow tie).
 */
function isValidPolygon(rings: Point[][]): boolean {
  for (const ring of rings) {
    const first = ring[0];
    const last = ring[ring.length - 1];
    if (ring.length < 4 || !first || !last || first[0] !== last[0] || first[1] !== last[1]) return false;
    let area = 0;
    for (let i = 0; i < ring.length - 1; i++) {
      const [p, q] = [ring[i] as Point, ring[i + 1] as Point];
      area += p[0] * q[1] - q[0] * p[1];
    }
    if (area === 0) return false;
    const n = ring.length - 1;
    for (let i = 0; i < n; i++) {
      for (let j = i + 2; j < n; j++) {
        if (i === 0 && j === n - 1) continue;
        if (segmentsIntersect(ring[i] as Point, ring[i + 1] as Point, ring[j] as Point, ring[j + 1] as Point)) return false;
      }
    }
  }
  return true;
}

function positions(ring: unknown): Point[] | undefined {
  if (!Array.isArray(ring) || !ring.every((p) => Array.isArray(p) && p.length >= 2 && isNumber(p[0]) && isNumber(p[1]))) return undefined;
  return ring.map((p: number[]) => [p[0], p[1]] as Point);
}

/** The item's polygons (each a list of rings) from GeoJSON Polygon or MultiPolygon. */
function polygonsOf(geometry: unknown): Point[][][] | undefined {
  if (!isObject(geometry) || !Array.isArray(geometry.coordinates)) return undefined;
  const polygon = (rings: unknown): Point[][] | undefined => {
    if (!Array.isArray(rings) || rings.length === 0) return undefined;
    const out = rings.map(positions);
    return out.every((r) => r !== undefined) ? (out as Point[][]) : undefined;
  };
  if (geometry.type === "Polygon") {
    const p = polygon(geometry.coordinates);
    return p && [p];
  }
  if (geometry.type === "MultiPolygon") {
    const ps = geometry.coordinates.map(polygon);
    return ps.length > 0 && ps.every((p) => p !== undefined) ? (ps as Point[][][]) : undefined;
  }
  return undefined;
}

/** `s2:processing_baseline`, else the `_Nxxyy_` of the SAFE name (`s2:product_uri`), as "xx.yy". */
export function processingBaseline(properties: Json): string | undefined {
  const pb = properties["s2:processing_baseline"];
  if (typeof pb === "string" && /^\d\d\.\d\d$/.test(pb)) return pb;
  const uri = properties["s2:product_uri"];
  const m = typeof uri === "string" ? /_N(\d\d)(\d\d)_/.exec(uri) : null;
  return m ? `${m[1]}.${m[2]}` : undefined;
}

/**
 * The offset to add to reflectance (DN x 0.0001) of a Sentinel-2 L2A dataset's properties: -0.1 from
 * processing baseline 04.00 (2022-01-25) unless Earth Search already applied it
 * (`earthsearch:boa_offset_applied: true`). The flag is unreliable on some scenes, so the baseline
 * decides; without a known baseline, the acquisition date does.
 */
export function reflectanceOffset(properties: Json): number {
  const baseline = processingBaseline(properties);
  const datetime = typeof properties.datetime === "string" ? Date.parse(properties.datetime) : NaN;
  const from0400 = baseline !== undefined ? Number(baseline) >= 4 : datetime >= Date.UTC(2022, 0, 25);
  return from0400 && properties["earthsearch:boa_offset_applied"] !== true ? -0.1 : 0;
}

/** Converts one STAC item to the EO3 document `stac-to-dc` would index; throws StacConversionError. */
export function stacToEo3(item: unknown, options: { products?: Readonly<Record<string, string>> } = {}): StacConversion {
  if (!isObject(item)) throw new StacConversionError(null, "invalid-item", "not a JSON object");
  const itemId = typeof item.id === "string" && item.id !== "" ? item.id : null;
  const fail = (problem: StacProblem, detail: string): never => {
    throw new StacConversionError(itemId, problem, detail);
  };
  if (itemId === null) return fail("invalid-item", "has no id");
  const properties = isObject(item.properties) ? item.properties : fail("invalid-item", "has no properties object");
  const collection = typeof item.collection === "string" ? item.collection : undefined;
  const products = options.products ?? defaultProductMapping;
  const product = collection !== undefined && Object.hasOwn(products, collection) ? (products[collection] as string) : undefined;
  if (!product) return fail("unknown-collection", collection === undefined ? "has no collection" : `collection ${collection} maps to no product`);

  // `_stac_product_lookup`, Sentinel-2 branch: the dataset is the granule; its id names the dataset.
  const granule = [properties["sentinel:product_id"], properties["s2:granule_id"]].find((v): v is string => typeof v === "string" && v !== "") ?? itemId;
  const crs = typeof properties["proj:code"] === "string" ? properties["proj:code"] : isNumber(properties["proj:epsg"]) ? `EPSG:${properties["proj:epsg"]}` : fail("missing-proj", "has no proj:epsg (or proj:code)");
  let regionCode = regionCodeProperties.map((k) => properties[k]).find((v) => v !== undefined && v !== null) as string | undefined;
  if (regionCode === undefined) {
    const band = properties["mgrs:latitude_band"] ?? properties["sentinel:latitude_band"];
    const square = properties["mgrs:grid_square"] ?? properties["sentinel:grid_square"];
    if (band === undefined || square === undefined) return fail("invalid-item", "has no mgrs:latitude_band / mgrs:grid_square to make its region code");
    // The CRS stub is the last two characters of the CRS: the UTM zone.
    regionCode = `${crs.slice(-2)}${String(band)}${String(square)}`;
  }
  const existingUuid = asUuid(itemId);
  // odc-tools hashes "sentinel-2_stac_process" for s2_l2a and "<product>_stac_process" otherwise.
  const datasetId = existingUuid ?? odcUuid(product === "s2_l2a" ? "sentinel-2_stac_process" : `${product}_stac_process`, "1.0.0", [granule]);
  // The label falls back to the granule id (not the item id) unless that is a UUID or a number.
  const label = typeof item.title === "string" && item.title !== "" ? item.title : asUuid(granule) === undefined && !/^\d+$/.test(granule) ? granule : undefined;

  const links = Array.isArray(item.links) ? item.links.filter(isObject) : [];
  const selfLink = links.find((l) => l.rel === "self" && typeof l.href === "string")?.href as string | undefined;
  const canonical = links.find((l) => l.rel === "canonical" && typeof l.href === "string")?.href as string | undefined;
  const uri = canonical ?? selfLink ?? fail("missing-link", "has neither a canonical nor a self link to locate it by");

  // `_get_stac_bands`.
  const defaultGrid = "g10m";
  const assets = isObject(item.assets) ? item.assets : {};
  const grids: Record<string, Eo3Grid> = {};
  const measurements: Record<string, Eo3Measurement> = {};
  const accessories: Record<string, { path: string }> = {};
  for (const [name, asset] of Object.entries(assets)) {
    if (!isObject(asset) || typeof asset.href !== "string") continue;
    const type = typeof asset.type === "string" ? asset.type : "";
    const roles = Array.isArray(asset.roles) ? asset.roles : [];
    // Deviation: odc-tools makes the `*-jp2` twins measurements too. They are requester-pays copies of
    // the COGs and a hyphen is not valid in an EO3 measurement name, so they are left out entirely.
    if (name.endsWith("-jp2") || (type.includes("jp2") && !type.includes("geotiff"))) continue;
    if (!type.includes("geotiff") || roles.includes("thumbnail")) {
      accessories[name] = { path: relativePath(asset.href, selfLink) };
      continue;
    }
    const transform = (Array.isArray(asset["proj:transform"]) ? asset["proj:transform"] : properties["proj:transform"]) as unknown;
    const shape = (Array.isArray(asset["proj:shape"]) ? asset["proj:shape"] : properties["proj:shape"]) as unknown;
    if (!Array.isArray(transform) || transform.length < 6 || !transform.every(isNumber)) return fail("missing-proj", `asset ${name} has no proj:transform`);
    if (!Array.isArray(shape) || shape.length !== 2 || !shape.every(isNumber)) return fail("missing-proj", `asset ${name} has no proj:shape`);
    // Grids are named from the pixel size: g10m, g20m, g60m (`f"g{transform[0]:g}m"`).
    const grid = `g${formatG(transform[0] as number)}m`;
    grids[grid] ??= { shape: shape as [number, number], transform };
    const m: Eo3Measurement = { path: relativePath(asset.href, selfLink) };
    if (asset.band !== undefined && asset.band !== null) m.band = asset.band as number;
    if (grid !== defaultGrid) m.grid = grid;
    measurements[name] = m;
  }
  if (Object.keys(measurements).length === 0) return fail("no-assets", "has no GeoTIFF assets to index as measurements");
  const ten = grids[defaultGrid];
  if (!ten) return fail("missing-proj", "has no 10 m asset to make the default grid of");
  delete grids[defaultGrid];
  grids.default = ten;

  // `_get_stac_properties_lineage`.
  const eo3Properties: Json = {};
  for (const [key, value] of Object.entries(properties)) {
    eo3Properties[propertyNames[key] ?? key] =
      key === "instruments" && Array.isArray(value) ? (value.length > 0 ? value.map((i) => String(i).toUpperCase()).join("_") : null) : value;
  }
  const creation = [properties["odc:processing_datetime"], properties.created, properties.datetime].find((v) => v !== undefined && v !== null && v !== "");
  if ((eo3Properties["odc:processing_datetime"] ?? null) === null && creation) eo3Properties["odc:processing_datetime"] = creation;
  if ((eo3Properties["odc:file_format"] ?? null) === null) eo3Properties["odc:file_format"] = "GeoTIFF";
  const lineage = eo3Properties["odc:lineage"];
  delete eo3Properties["odc:lineage"];
  // Recorded for the worker's offset rule when Earth Search left it out (odc-tools does not add it).
  const baseline = processingBaseline(properties);
  if (baseline !== undefined && eo3Properties["s2:processing_baseline"] === undefined) eo3Properties["s2:processing_baseline"] = baseline;

  // Geometry: reprojected vertex by vertex (no densifying) into the native CRS, rounded to whole
  // units for a positive pixel size (`_geographic_to_projected`); a MultiPolygon becomes its convex hull.
  const polygons = item.geometry === undefined || item.geometry === null ? fail("missing-geometry", "has no geometry") : polygonsOf(item.geometry);
  if (!polygons) return fail("missing-geometry", "has a geometry that is not a Polygon or MultiPolygon of [lon, lat] positions");
  let projected: Point[][][];
  try {
    const digits = (ten.transform[0] as number) < 0 ? 6 : 0;
    const toNative = transformer("EPSG:4326", crs);
    const project = crs.toUpperCase() === "EPSG:4326" ? (p: Point) => p : (p: Point): Point => toNative(p).map((c) => roundPy(c, digits)) as Point;
    projected = polygons.map((rings) => rings.map((ring) => ring.map(project)));
  } catch (err) {
    if (err instanceof UnsupportedCrsError) return fail("unsupported-crs", err.message);
    if (err instanceof RangeError) return fail("missing-geometry", err.message);
    throw err;
  }
  let geometry: GeoJsonPolygon;
  if (projected.length === 1 && isValidPolygon(projected[0] as Point[][])) {
    geometry = { type: "Polygon", coordinates: (projected[0] as Point[][]).map((ring) => ring.map((p) => [p[0], p[1]])) };
  } else if (projected.length > 1 && projected.every(isValidPolygon)) {
    geometry = { type: "Polygon", coordinates: [convexHull(projected.flatMap((rings) => rings[0] as Point[])).map((p) => [p[0], p[1]])] };
  } else {
    // Invalid after reprojection: the outline of the default grid (as odc-tools 1.9 does; 0.2 reads
    // item-level proj:shape/proj:transform, which Earth Search does not have).
    const [ny, nx] = ten.shape;
    const [a, , c, , e, f] = ten.transform as [number, number, number, number, number, number];
    const [x0, x1] = [c, c + a * nx].sort((p, q) => p - q) as [number, number];
    const [y0, y1] = [f, f + e * ny].sort((p, q) => p - q) as [number, number];
    geometry = { type: "Polygon", coordinates: [[[x1, y0], [x1, y1], [x0, y1], [x0, y0], [x1, y0]]] };
  }

  const document: Eo3Document = {
    $schema: EO3_SCHEMA,
    id: datasetId,
    crs,
    grids,
    product: { name: product.toLowerCase() },
    properties: eo3Properties,
    measurements,
    lineage: {},
    accessories,
  };
  if (label !== undefined) document.label = label;
  if (regionCode) eo3Properties["odc:region_code"] = regionCode;
  document.geometry = geometry;
  if (isObject(lineage) && Object.keys(lineage).length > 0) document.lineage = lineage as Record<string, string[]>;
  return { document, uri, product, itemId };
}
