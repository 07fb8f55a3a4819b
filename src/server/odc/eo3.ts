import "server-only";
import { isGeographic, transformer, UnsupportedCrsError, type Point } from "./crs";

/**
 * EO3 dataset documents (https://schemas.opendatacube.org/dataset) and what datacube-core does to one
 * before storing it (`datacube/index/eo3.py`, `prep_eo3`). ODC's spatial search reads only `extent`
 * (lon/lat bounds) and `grid_spatial`, which an EO3 document does not carry: whoever writes rows into
 * `agdc.dataset` must add them, the same way, or the dataset is invisible to `dc.find_datasets`.
 */

export const EO3_SCHEMA = "https://schemas.opendatacube.org/dataset";

export interface GeoJsonPolygon {
  type: "Polygon";
  coordinates: number[][][];
}

/** One pixel grid: `shape` is [rows, cols]; `transform` maps pixel (col, row) to CRS x/y (affine, row-major). */
export interface Eo3Grid {
  shape: [number, number];
  transform: number[];
}

export interface Eo3Measurement {
  path: string;
  band?: number;
  layer?: string;
  /** Name of a grid in `grids`; absent means `default`. */
  grid?: string;
}

/** What every EO3 document has, as written and as stored. */
interface Eo3Common {
  $schema: typeof EO3_SCHEMA;
  id: string;
  label?: string;
  product: { name: string; href?: string };
  crs: string;
  geometry?: GeoJsonPolygon;
  grids: Record<string, Eo3Grid>;
  properties: Record<string, unknown>;
  measurements: Record<string, Eo3Measurement>;
  accessories?: Record<string, { path: string; type?: string }>;
  [key: string]: unknown;
}

/** An EO3 dataset document as producers write it (what `datacube dataset add` reads). */
export interface Eo3Document extends Eo3Common {
  /** Source datasets by classifier, e.g. `{ s2_l2a: [uuid, ...] }`. */
  lineage?: Record<string, string[]>;
}

export interface LonLatExtent {
  lon: { begin: number; end: number };
  lat: { begin: number; end: number };
}

export interface GridSpatial {
  projection: {
    spatial_reference: string;
    geo_ref_points: Record<"ul" | "ur" | "lr" | "ll", { x: number; y: number }>;
    valid_data: GeoJsonPolygon;
  };
}

/** The document ODC stores: `extent` and `grid_spatial` added, lineage moved to `dataset_source`. */
export interface PreparedEo3Document extends Eo3Common {
  extent: LonLatExtent;
  grid_spatial: GridSpatial;
  lineage: { source_datasets: Record<string, never> };
}

/** An EO3 document that ODC would refuse to index, with the reason. */
export class Eo3Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Eo3Error";
  }
}

const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** `EO3Grid.__init__` checks: two-dimensional shape, 6 or 9 numeric transform elements. */
function checkGrid(name: string, grid: unknown): { shape: [number, number]; t: number[] } {
  const g = (grid ?? {}) as { shape?: unknown; transform?: unknown };
  if (!Array.isArray(g.shape)) throw new Eo3Error(`grid ${name}: each grid must have a shape`);
  if (g.shape.length !== 2 || !g.shape.every(isNumber)) throw new Eo3Error(`grid ${name}: grid shape must be two dimensional`);
  if (!Array.isArray(g.transform)) throw new Eo3Error(`grid ${name}: each grid must have a transform`);
  const t = g.transform;
  if (t.length !== 6 && t.length !== 9) throw new Eo3Error(`grid ${name}: grid transform must have 6 or 9 elements`);
  if (!t.every(isNumber)) throw new Eo3Error(`grid ${name}: all grid transform elements must be numbers`);
  if (t.length === 9 && (t[6] !== 0 || t[7] !== 0 || t[8] !== 1)) throw new Eo3Error(`grid ${name}: grid transform must be a valid affine matrix`);
  return { shape: [Math.trunc(g.shape[0] as number), Math.trunc(g.shape[1] as number)], t: t.slice(0, 6) as number[] };
}

/** Corners ul, ur, lr, ll of a grid in CRS coordinates (`EO3Grid.points`). */
function gridCorners({ shape, t }: { shape: [number, number]; t: number[] }): Point[] {
  const [ny, nx] = shape;
  const [a, b, c, d, e, f] = t as [number, number, number, number, number, number];
  const at = (col: number, row: number): Point => [a * col + b * row + c, d * col + e * row + f];
  return [at(0, 0), at(nx, 0), at(nx, ny), at(0, ny)];
}

/**
 * Lon/lat bounds of a ring given in `crs` (`datacube.utils.geometry.lonlat_bounds`, mode "safe"):
 * vertices are transformed without densifying (`to_crs(resolution=inf)`); when the longitudes span
 * more than 180 degrees the shape probably crosses the antimeridian, so negative longitudes are
 * shifted by 360 if that gives a narrower span.
 */
export function lonLatBounds(points: Point[], crs: string): LonLatExtent {
  const toLonLat = isGeographic(crs) ? (p: Point) => p : transformer(crs, "EPSG:4326");
  let xs: number[] = [];
  const ys: number[] = [];
  for (const p of points) {
    const [x, y] = toLonLat(p);
    xs.push(x);
    ys.push(y);
  }
  let minX = Math.min(...xs);
  let maxX = Math.max(...xs);
  if (!isGeographic(crs) && maxX - minX > 180) {
    xs = [minX, maxX].map((x) => (x < 0 ? x + 360 : x));
    const [lo, hi] = [Math.min(...xs), Math.max(...xs)];
    if (hi - lo < maxX - minX) [minX, maxX] = [lo, hi];
  }
  return { lon: { begin: minX, end: maxX }, lat: { begin: Math.min(...ys), end: Math.max(...ys) } };
}

/** The exterior ring of a Polygon geometry; ODC 1.8 reads `coordinates[0]` and fails on anything else. */
function exteriorRing(geometry: unknown): Point[] {
  const g = geometry as { type?: unknown; coordinates?: unknown };
  if (g.type !== "Polygon") {
    throw new Eo3Error(`geometry must be a Polygon (datacube 1.8 prep_eo3 reads coordinates[0] as a ring), got ${String(g.type)}`);
  }
  const ring = Array.isArray(g.coordinates) ? g.coordinates[0] : undefined;
  if (!Array.isArray(ring) || ring.length < 3 || !ring.every((p) => Array.isArray(p) && p.length >= 2 && isNumber(p[0]) && isNumber(p[1]))) {
    throw new Eo3Error("geometry must have an exterior ring of at least three [x, y] positions");
  }
  return ring.map((p) => [p[0], p[1]] as Point);
}

/**
 * `eo3_grid_spatial` + `add_eo3_parts`: geo_ref_points are the corners of the default grid; valid_data
 * is the document's geometry, else the default grid's outline; the lon/lat extent comes from the
 * geometry's exterior ring, else from the corners of every grid.
 */
export function eo3GridSpatial(doc: Pick<Eo3Document, "crs" | "grids" | "geometry">): { grid_spatial: GridSpatial; extent: LonLatExtent } {
  const crs = doc.crs;
  const specs = doc.grids;
  if (!crs || !specs || typeof specs !== "object" || Object.keys(specs).length === 0) throw new Eo3Error("input must have crs and grids");
  const grids = new Map(Object.entries(specs).map(([name, g]) => [name, checkGrid(name, g)]));
  const grid = grids.get("default");
  if (!grid) throw new Eo3Error("input must have grids.default");
  const corners = gridCorners(grid);
  const [ul, ur, lr, ll] = corners.map(([x, y]) => ({ x, y })) as [{ x: number; y: number }, { x: number; y: number }, { x: number; y: number }, { x: number; y: number }];
  try {
    let validData: GeoJsonPolygon;
    let extent: LonLatExtent;
    if (doc.geometry !== undefined && doc.geometry !== null) {
      validData = doc.geometry;
      extent = lonLatBounds(exteriorRing(doc.geometry), crs);
    } else {
      // Shapely's polygon JSON of the grid outline: the ring closed on its first corner.
      validData = { type: "Polygon", coordinates: [[...corners, corners[0] as Point].map((p) => [p[0], p[1]])] };
      // ODC takes the bounds of the union of all grid outlines; for rectangles (every EO3 grid) the
      // union's vertices are among the corners, so the bounds of all corners are the same.
      extent = lonLatBounds([...grids.values()].flatMap(gridCorners), crs);
    }
    return {
      grid_spatial: { projection: { spatial_reference: crs, geo_ref_points: { ul, ur, lr, ll }, valid_data: validData } },
      extent,
    };
  } catch (err) {
    if (err instanceof UnsupportedCrsError || err instanceof RangeError) throw new Eo3Error(err.message);
    throw err;
  }
}

/** Lineage of an EO3 document as (classifier, source id) pairs (`prep_eo3`'s `remap_lineage`). */
export function eo3Sources(doc: Pick<Eo3Document, "lineage">): { classifier: string; id: string }[] {
  const out: { classifier: string; id: string }[] = [];
  for (const [name, ids] of Object.entries(doc.lineage ?? {})) {
    if (!Array.isArray(ids)) throw new Eo3Error(`lineage ${name}: expected a list of dataset ids`);
    if (ids.some((i) => typeof i !== "string")) throw new Eo3Error("embedded lineage not supported for eo3 metadata types");
    // One source keeps its classifier; several are numbered from 1: s2_l2a1, s2_l2a2, ...
    if (ids.length === 1) out.push({ classifier: name, id: ids[0] as string });
    else ids.forEach((id, i) => out.push({ classifier: `${name}${i + 1}`, id: id as string }));
  }
  return out;
}

/**
 * `prep_eo3`: the document datacube-core 1.8 stores for an EO3 dataset. Adds `extent` and
 * `grid_spatial`, and replaces `lineage` by `{ source_datasets: {} }` (ODC records the sources in
 * `agdc.dataset_source` and stores the document "without lineage": `metadata_doc_without_lineage`).
 */
export function prepEo3(doc: Eo3Document): PreparedEo3Document {
  if (doc.$schema !== EO3_SCHEMA) throw new Eo3Error(`not an EO3 document ($schema is ${JSON.stringify(doc.$schema)})`);
  eo3Sources(doc);
  const { lineage: _lineage, ...rest } = doc;
  return { ...rest, id: String(doc.id), ...eo3GridSpatial(doc), lineage: { source_datasets: {} } };
}
