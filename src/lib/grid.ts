import proj4 from "proj4";

/**
 * The product grid of the geomedian (and any odc-stats style product): square tiles on a projected
 * CRS, addressed by integer (x, y), and the task ids built on them. Pure maths, no I/O.
 *
 * Upstream: odc-dscache `odc/dscache/tools/tiling.py` (`GRIDS`, `parse_gridspec`) for the named grids
 * and the `crs;res;shape` string form; datacube-core `datacube/model/__init__.py` `GridSpec`
 * (`tile_coords`, `tile_geobox`, `tiles`, `grid_range`) for tile geometry and numbering; odc-stats
 * `odc/stats/tasks.py` (`render_task`, `parse_task`) and `odc/stats/model.py` (`DateTimeRange`,
 * `OutputProduct.region_code`) for task ids, periods and region codes.
 */

/** A tile grid. Pixels are square; rows run north to south (y resolution is `-resolution`). */
export interface GridSpec {
  /** How the grid was named: `global_10`, `global_10:960` or `epsg:6933;10;9600`. */
  name: string;
  /** `EPSG:<code>`. */
  crs: string;
  /** Pixel size in CRS units (positive). */
  resolution: number;
  /** Tile side in CRS units. */
  tileSize: number;
  /** Where tile (0, 0) starts: its lower-left corner, as datacube's `GridSpec.origin` (x, y here). */
  origin: { x: number; y: number };
}

/** A tile address: `x` grows east, `y` grows north (datacube's tile index order is (x, y)). */
export interface TileIndex {
  x: number;
  y: number;
}

/** Bounds in CRS units. */
export interface Bounds {
  left: number;
  bottom: number;
  right: number;
  top: number;
}

/**
 * A pixel grid of known size: `transform` is the affine [a, b, c, d, e, f] that maps pixel (col, row)
 * to x = a*col + b*row + c, y = d*col + e*row + f (GDAL's geotransform reordered, as rasterio/EO3).
 */
export interface Geobox {
  crs: string;
  transform: [number, number, number, number, number, number];
  width: number;
  height: number;
}

/** A rectangle of pixels within a geobox. */
export interface PixelWindow {
  col: number;
  row: number;
  width: number;
  height: number;
}

/** Something in a grid, a task or a period string that cannot be used; the message says what and why. */
export class GridError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GridError";
  }
}

// odc-dscache `GRIDS["global"]`: EPSG:6933 (WGS 84 / NSIDC EASE-Grid 2.0 Global), 96 km tiles, origin
// chosen so that no valid point has a negative index (y = -7 392 000, x = -17 376 000).
const GLOBAL_ORIGIN = { x: -17_376_000, y: -7_392_000 } as const;
const GLOBAL_TILE = 96_000;

/** The named grids of odc-dscache that Piksel can use (`global_<res>` and its alias `africa_<res>`). */
export const NAMED_GRIDS: Readonly<Record<string, Omit<GridSpec, "name">>> = Object.fromEntries(
  [10, 20, 30, 60].flatMap((res) => {
    const spec = { crs: "EPSG:6933", resolution: res, tileSize: GLOBAL_TILE, origin: GLOBAL_ORIGIN };
    return [[`global_${res}`, spec], [`africa_${res}`, spec]];
  }),
);

/** odc-stats' grid for gm-s2 (`africa_10`, i.e. `global_10`): 96 km tiles of 9 600 x 9 600 px at 10 m. */
export const DEFAULT_GRID = "global_10";

/**
 * Parses a grid name:
 * - a named grid of odc-dscache, `global_10` (`-` and `_` alike, as `_norm_gridspec_name`);
 * - Piksel's extension `<named grid>:<tile pixels>`, e.g. `global_10:960`: the same CRS, resolution
 *   and origin with smaller tiles, so that small tiles nest inside the 96 km ones and keep
 *   non-negative indices (the embedded default uses it);
 * - odc-dscache's string form `<crs>;<res>;<tile pixels>` or `<crs>;-<res>x<res>;<n>x<n>` (origin 0, 0
 *   as upstream; only square pixels and square tiles).
 */
export function parseGridSpec(spec: string): GridSpec {
  const text = spec.trim();
  if (text.includes(";")) return parseGridString(text);
  const [base, pixels, ...rest] = text.split(":");
  const named = NAMED_GRIDS[(base ?? "").replace(/-/g, "_").toLowerCase()];
  if (!named || rest.length > 0) {
    throw new GridError(`unknown grid "${spec}": expected one of ${Object.keys(NAMED_GRIDS).join(", ")}, optionally with ":<tile pixels>", or "<crs>;<resolution>;<tile pixels>"`);
  }
  if (pixels === undefined) return { name: text, ...named };
  const n = Number(pixels);
  if (!/^\d+$/.test(pixels) || n < 16) throw new GridError(`grid "${spec}": tile pixels must be a whole number >= 16, got "${pixels}"`);
  return { name: text, ...named, tileSize: n * named.resolution };
}

function parseGridString(text: string): GridSpec {
  const parts = text.split(";");
  if (parts.length !== 3) throw new GridError(`grid "${text}": expected "<crs>;<resolution>;<tile pixels>"`);
  const [crsText, resText, shapeText] = parts as [string, string, string];
  const code = /^epsg:(\d+)$/i.exec(crsText.trim());
  if (!code) throw new GridError(`grid "${text}": the CRS must be an EPSG code such as epsg:6933`);
  const crs = `EPSG:${code[1]}`;
  projDefinition(crs);
  let resolution: number;
  if (resText.includes("x")) {
    const [ry, rx] = resText.split("x").map(Number) as [number, number];
    if (!(Math.abs(ry) === Math.abs(rx))) throw new GridError(`grid "${text}": only square pixels are supported`);
    resolution = Math.abs(rx);
  } else {
    resolution = Math.abs(Number(resText));
  }
  let pixels: number;
  if (shapeText.includes("x")) {
    const [h, w] = shapeText.split("x").map(Number) as [number, number];
    if (h !== w) throw new GridError(`grid "${text}": only square tiles are supported`);
    pixels = w;
  } else {
    pixels = Number(shapeText);
  }
  if (!(resolution > 0) || !Number.isFinite(resolution)) throw new GridError(`grid "${text}": resolution must be a positive number`);
  if (!Number.isInteger(pixels) || pixels < 16) throw new GridError(`grid "${text}": tile pixels must be a whole number >= 16`);
  return { name: text, crs, resolution, tileSize: pixels * resolution, origin: { x: 0, y: 0 } };
}

/** Tile side in pixels (`GridSpec.tile_shape`). */
export function tilePixels(grid: GridSpec): number {
  const n = grid.tileSize / grid.resolution;
  const rounded = Math.round(n);
  if (Math.abs(n - rounded) > 1e-9 * n) throw new GridError(`grid ${grid.name}: tile size ${grid.tileSize} is not a whole number of ${grid.resolution} m pixels`);
  return rounded;
}

/** The CRS bounds of a tile (`GridSpec.tile_coords`; y grows north, so the tile's top is at y + 1). */
export function tileBounds(grid: GridSpec, tile: TileIndex): Bounds {
  const left = grid.origin.x + tile.x * grid.tileSize;
  const bottom = grid.origin.y + tile.y * grid.tileSize;
  return { left, bottom, right: left + grid.tileSize, top: bottom + grid.tileSize };
}

/** The pixel grid of a tile (`GridSpec.tile_geobox`): north-up, origin at its top-left corner. */
export function tileGeobox(grid: GridSpec, tile: TileIndex): Geobox {
  const b = tileBounds(grid, tile);
  const n = tilePixels(grid);
  return { crs: grid.crs, transform: [grid.resolution, 0, b.left, 0, -grid.resolution, b.top], width: n, height: n };
}

/** Bounds of a geobox in its CRS (north-up geoboxes only). */
export function geoboxBounds(g: Geobox): Bounds {
  const [a, , c, , e, f] = g.transform;
  const xs = [c, c + a * g.width];
  const ys = [f, f + e * g.height];
  return { left: Math.min(...xs), right: Math.max(...xs), bottom: Math.min(...ys), top: Math.max(...ys) };
}

/** The geobox of a window of `g` (same CRS and resolution, shifted origin). */
export function subGeobox(g: Geobox, w: PixelWindow): Geobox {
  const [a, b, c, d, e, f] = g.transform;
  return { crs: g.crs, transform: [a, b, c + a * w.col + b * w.row, d, e, f + d * w.col + e * w.row], width: w.width, height: w.height };
}

/** `GridSpec.grid_range`: indices of the cells of size `step` from `origin` meeting [lower, upper). */
function gridRange(lower: number, upper: number, step: number): number[] {
  const out: number[] = [];
  for (let i = Math.floor(lower / step); i < Math.ceil(upper / step); i++) out.push(i);
  return out;
}

/** Tiles meeting a rectangle given in the grid's CRS, rows south to north, then west to east (`GridSpec.tiles`). */
export function tilesInBounds(grid: GridSpec, b: Bounds): TileIndex[] {
  const out: TileIndex[] = [];
  for (const y of gridRange(b.bottom - grid.origin.y, b.top - grid.origin.y, grid.tileSize)) {
    for (const x of gridRange(b.left - grid.origin.x, b.right - grid.origin.x, grid.tileSize)) out.push({ x, y });
  }
  return out;
}

// ---- CRS -----------------------------------------------------------------------------------------

/** PROJ strings of the CRSs a grid may use; built from the code so nothing is looked up over a network. */
function projDefinition(crs: string): string {
  const code = Number(/^EPSG:(\d+)$/i.exec(crs)?.[1]);
  if (code === 4326) return "+proj=longlat +datum=WGS84 +no_defs";
  if (code === 6933) return "+proj=cea +lat_ts=30 +lon_0=0 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs";
  if (code === 3857) return "+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs";
  if (code === 3577) return "+proj=aea +lat_0=0 +lon_0=132 +lat_1=-18 +lat_2=-36 +x_0=0 +y_0=0 +ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs";
  const zone = code % 100;
  if ((code - zone === 32600 || code - zone === 32700) && zone >= 1 && zone <= 60) {
    return `+proj=utm +zone=${zone}${code >= 32700 ? " +south" : ""} +datum=WGS84 +units=m +no_defs`;
  }
  throw new GridError(`unsupported CRS ${crs}: grids may use EPSG:6933, EPSG:3577, EPSG:3857 or a WGS 84 / UTM zone`);
}

const converters = new Map<string, proj4.Converter>();
function converter(crs: string): proj4.Converter {
  let c = converters.get(crs);
  if (!c) {
    c = proj4(projDefinition("EPSG:4326"), projDefinition(crs));
    converters.set(crs, c);
  }
  return c;
}

/** Lon/lat (degrees) to the grid's CRS. */
export function lonLatToGrid(grid: Pick<GridSpec, "crs">, lon: number, lat: number): [number, number] {
  const [x, y] = converter(grid.crs).forward([lon, lat]);
  if (x === undefined || y === undefined || !Number.isFinite(x) || !Number.isFinite(y)) throw new GridError(`(${lon}, ${lat}) has no position in ${grid.crs}`);
  return [x, y];
}

/** The grid's CRS to lon/lat (degrees). */
export function gridToLonLat(grid: Pick<GridSpec, "crs">, x: number, y: number): [number, number] {
  const [lon, lat] = converter(grid.crs).inverse([x, y]);
  if (lon === undefined || lat === undefined || !Number.isFinite(lon) || !Number.isFinite(lat)) throw new GridError(`(${x}, ${y}) of ${grid.crs} has no lon/lat`);
  return [lon, lat];
}

/** Points along a ring's edges, at most `step` apart (reprojected edges curve). */
export function densifyRing(ring: readonly (readonly [number, number])[], step: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < ring.length - 1; i++) {
    const [x0, y0] = ring[i] as [number, number];
    const [x1, y1] = ring[i + 1] as [number, number];
    const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / step));
    for (let k = 0; k < n; k++) out.push([x0 + ((x1 - x0) * k) / n, y0 + ((y1 - y0) * k) / n]);
  }
  const last = ring[ring.length - 1];
  if (last) out.push([last[0], last[1]]);
  return out;
}

/** Lon/lat bounds of a tile (exact for cylindrical grids such as EPSG:6933; corners and edges otherwise). */
export function tileLonLatBounds(grid: GridSpec, tile: TileIndex): { west: number; south: number; east: number; north: number } {
  const b = tileBounds(grid, tile);
  const ring: [number, number][] = [[b.left, b.bottom], [b.right, b.bottom], [b.right, b.top], [b.left, b.top], [b.left, b.bottom]];
  const points = densifyRing(ring, grid.tileSize / 16).map(([x, y]) => gridToLonLat(grid, x, y));
  const lons = points.map((p) => p[0]);
  const lats = points.map((p) => p[1]);
  return { west: Math.min(...lons), south: Math.min(...lats), east: Math.max(...lons), north: Math.max(...lats) };
}

// ---- Geometry: which tiles does an area meet -------------------------------------------------------

type Ring = [number, number][];

function pointInRing(x: number, y: number, ring: Ring): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i] as [number, number];
    const [xj, yj] = ring[j] as [number, number];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function segmentsCross(a: [number, number], b: [number, number], c: [number, number], d: [number, number]): boolean {
  const orient = (p: [number, number], q: [number, number], r: [number, number]) => Math.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]));
  const within = (p: [number, number], q: [number, number], r: [number, number]) =>
    Math.min(p[0], r[0]) <= q[0] && q[0] <= Math.max(p[0], r[0]) && Math.min(p[1], r[1]) <= q[1] && q[1] <= Math.max(p[1], r[1]);
  const [o1, o2, o3, o4] = [orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)];
  if (o1 !== o2 && o3 !== o4) return true;
  return (o1 === 0 && within(a, c, b)) || (o2 === 0 && within(a, d, b)) || (o3 === 0 && within(c, a, d)) || (o4 === 0 && within(c, b, d));
}

function ringBounds(ring: readonly (readonly number[])[]): Bounds {
  let [left, bottom, right, top] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of ring as [number, number][]) {
    if (x < left) left = x;
    if (x > right) right = x;
    if (y < bottom) bottom = y;
    if (y > top) top = y;
  }
  return { left, bottom, right, top };
}

/** Whether a segment and a rectangle share a point: an end inside, or crossing (or touching) an edge. */
function segmentMeetsBounds(a: [number, number], b: [number, number], r: Bounds): boolean {
  const inRect = ([x, y]: [number, number]) => x >= r.left && x <= r.right && y >= r.bottom && y <= r.top;
  if (inRect(a) || inRect(b)) return true;
  const c: [number, number][] = [[r.left, r.bottom], [r.right, r.bottom], [r.right, r.top], [r.left, r.top], [r.left, r.bottom]];
  for (let k = 0; k < 4; k++) if (segmentsCross(a, b, c[k]!, c[k + 1]!)) return true;
  return false;
}

/**
 * Whether a polygon (exterior ring, then holes, all in the same CRS as `b`) and a rectangle share
 * area or boundary: a vertex of either inside the other, or crossing edges. A rectangle entirely
 * inside a hole does not meet the polygon.
 */
export function polygonMeetsBounds(rings: readonly Ring[], b: Bounds): boolean {
  const outer = rings[0];
  if (!outer || outer.length < 3) return false;
  const xs = outer.map((p) => p[0]);
  const ys = outer.map((p) => p[1]);
  if (Math.max(...xs) < b.left || Math.min(...xs) > b.right || Math.max(...ys) < b.bottom || Math.min(...ys) > b.top) return false;
  const corners: Ring = [[b.left, b.bottom], [b.right, b.bottom], [b.right, b.top], [b.left, b.top], [b.left, b.bottom]];
  const inRect = ([x, y]: [number, number]) => x >= b.left && x <= b.right && y >= b.bottom && y <= b.top;
  const insidePolygon = ([x, y]: [number, number]) => pointInRing(x, y, outer) && !rings.slice(1).some((h) => pointInRing(x, y, h));
  for (const ring of rings) {
    if (ring.some(inRect)) return true;
    for (let i = 0; i < ring.length - 1; i++) {
      for (let k = 0; k < 4; k++) {
        if (segmentsCross(ring[i] as [number, number], ring[i + 1] as [number, number], corners[k] as [number, number], corners[k + 1] as [number, number])) return true;
      }
    }
  }
  return corners.slice(0, 4).some(insidePolygon);
}

/** A lon/lat area: a GeoJSON Polygon or MultiPolygon, or a [west, south, east, north] box. */
export type LonLatArea =
  | { type: "Polygon"; coordinates: number[][][] }
  | { type: "MultiPolygon"; coordinates: number[][][][] }
  | readonly [number, number, number, number];

/**
 * The tiles of `grid` that meet a lon/lat area (odc-stats bins datasets by the tiles their footprint
 * meets in the same way: footprint reprojected to the grid CRS, then tested against each tile). Edges
 * are densified to about 1/64 of a tile before reprojection. Sorted south to north, west to east.
 */
export function tilesMeetingLonLat(grid: GridSpec, area: LonLatArea): TileIndex[] {
  const polygons: number[][][][] = Array.isArray(area)
    ? [[[[area[0], area[1]], [area[2], area[1]], [area[2], area[3]], [area[0], area[3]], [area[0], area[1]]]]]
    : (area as { type: string }).type === "Polygon"
      ? [(area as { coordinates: number[][][] }).coordinates]
      : (area as { coordinates: number[][][][] }).coordinates;
  // About 1/64 of a tile, in degrees (a degree is ~111 km; only the step density matters).
  const step = grid.tileSize / 64 / 111_000;
  const seen = new Map<string, TileIndex>();
  for (const polygon of polygons) {
    const rings: Ring[] = polygon.map((ring) => {
      const closed = ring.map((p) => [p[0], p[1]] as [number, number]);
      const [first, last] = [closed[0], closed[closed.length - 1]];
      if (first && last && (first[0] !== last[0] || first[1] !== last[1])) closed.push([first[0], first[1]]);
      return densifyRing(closed, step).map(([lon, lat]) => lonLatToGrid(grid, lon, lat));
    });
    const outer = rings[0];
    if (!outer || outer.length < 4) throw new GridError("an area must have an exterior ring of at least three positions");
    const box = ringBounds(outer);
    // Tiles the boundary passes through meet the area. Each (short, densified) edge is tested only
    // against the few tiles its own box covers, so a 1 000-tile AOI costs edges + tiles, not their product.
    const boundary = new Set<string>();
    for (const ring of rings) {
      for (let i = 0; i < ring.length - 1; i++) {
        const [a, b] = [ring[i] as [number, number], ring[i + 1] as [number, number]];
        const edge = ringBounds([a, b]);
        for (const tile of tilesInBounds(grid, edge)) {
          const key = `${tile.x},${tile.y}`;
          if (!boundary.has(key) && segmentMeetsBounds(a, b, tileBounds(grid, tile))) boundary.add(key);
        }
      }
    }
    // The others lie wholly inside or wholly outside: their centre tells which.
    const insideArea = ([x, y]: [number, number]) => pointInRing(x, y, outer) && !rings.slice(1).some((h) => pointInRing(x, y, h));
    for (const tile of tilesInBounds(grid, box)) {
      const key = `${tile.x},${tile.y}`;
      if (seen.has(key)) continue;
      const t = tileBounds(grid, tile);
      if (boundary.has(key) || insideArea([(t.left + t.right) / 2, (t.bottom + t.top) / 2])) seen.set(key, tile);
    }
  }
  return [...seen.values()].sort((a, b) => a.y - b.y || a.x - b.x);
}

// ---- Chunks --------------------------------------------------------------------------------------

/**
 * The chunks of a width x height raster, `size` x `size` pixels (the last row and column smaller),
 * visited in groups of `group` x `group` chunks, row by row inside a group and group by group across
 * the raster. Consecutive chunks then share the blocks of the sources (a Sentinel-2 COG block is
 * 1 024 px, four 256 px chunks), which the read stage's caches serve again instead of fetching them
 * once per chunk. `group` 1 is plain row-major order.
 */
export function chunkWindows(width: number, height: number, size: number, group = 1): PixelWindow[] {
  if (!Number.isInteger(size) || size < 1) throw new GridError(`chunk size must be a whole number >= 1, got ${size}`);
  if (!Number.isInteger(group) || group < 1) throw new GridError(`chunk group must be a whole number >= 1, got ${group}`);
  const out: PixelWindow[] = [];
  const span = size * group;
  for (let groupRow = 0; groupRow < height; groupRow += span) {
    for (let groupCol = 0; groupCol < width; groupCol += span) {
      for (let row = groupRow; row < Math.min(height, groupRow + span); row += size) {
        for (let col = groupCol; col < Math.min(width, groupCol + span); col += size) {
          out.push({ col, row, width: Math.min(size, width - col), height: Math.min(size, height - row) });
        }
      }
    }
  }
  return out;
}

// ---- Periods and task ids ------------------------------------------------------------------------

/** A time period as odc-stats writes it (`DateTimeRange.short`): `2024--P1Y`, `2024-04--P3M`, `2024-04-01--P10D`. */
export interface Period {
  /** The canonical short form. */
  text: string;
  /** First instant (UTC). */
  start: Date;
  /** First instant after the period (UTC); the period is [start, end). */
  end: Date;
}

const pyInt = (n: number, width: number) => (n < 0 ? `-${String(-n).padStart(width - 1, "0")}` : String(n).padStart(width, "0"));

/** Parses `YYYY--PnY`, `YYYY-MM--PnM` or `YYYY-MM-DD--PnD` (odc-stats `DateTimeRange`). */
export function parsePeriod(text: string): Period {
  const m = /^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?--P(\d+)([YMD])$/i.exec(text.trim());
  if (!m) throw new GridError(`period "${text}": expected a form such as 2024--P1Y, 2024-04--P3M or 2024-04-01--P10D`);
  const [, ys, ms, ds, ns, unitText] = m as unknown as [string, string, string | undefined, string | undefined, string, string];
  const unit = unitText.toUpperCase() as "Y" | "M" | "D";
  const [year, month, day, n] = [Number(ys), Number(ms ?? "1"), Number(ds ?? "1"), Number(ns)];
  if (month < 1 || month > 12 || day < 1 || day > 31 || n < 1) throw new GridError(`period "${text}": not a valid date or length`);
  const start = new Date(Date.UTC(year, month - 1, day));
  if (start.getUTCDate() !== day) throw new GridError(`period "${text}": not a valid date`);
  const end = new Date(Date.UTC(year + (unit === "Y" ? n : 0), month - 1 + (unit === "M" ? n : 0), day + (unit === "D" ? n : 0)));
  // `DateTimeRange.short`: the shortest form the start allows.
  const short = unit === "Y" && month === 1 && day === 1 ? `${ys}` : unit !== "D" && day === 1 ? `${ys}-${pyInt(month, 2)}` : `${ys}-${pyInt(month, 2)}-${pyInt(day, 2)}`;
  return { text: `${short}--P${n}${unit}`, start, end };
}

/**
 * ISO 8601 with microseconds and `Z`, as odc-stats' `format_datetime`. `lastInstant` gives the
 * period's inclusive end as ODC writes it (`2024-12-31T23:59:59.999999Z`).
 */
export function formatOdcDatetime(d: Date, lastInstant = false): string {
  const t = lastInstant ? new Date(d.getTime() - 1) : d;
  const base = t.toISOString().slice(0, 19);
  const micros = lastInstant ? `${String(t.getUTCMilliseconds()).padStart(3, "0")}999` : `${String(t.getUTCMilliseconds()).padStart(3, "0")}000`;
  return `${base}.${micros}Z`;
}

/** One unit of work: a tile of a grid over a period. */
export interface TaskId {
  period: Period;
  tile: TileIndex;
}

/**
 * Parses a task id as odc-stats' `parse_task`: `2024--P1Y/304/68`, also `x304/y068/2024--P1Y` and
 * `,` as the separator.
 */
export function parseTaskId(text: string): TaskId {
  const sep = text.includes("/") ? "/" : ",";
  const parts = text.trim().split(sep);
  if (parts.length !== 3) throw new GridError(`task "${text}": expected <period>/<x>/<y>, e.g. 2024--P1Y/304/68`);
  let [t, x, y] = parts as [string, string, string];
  if (t.startsWith("x")) [t, x, y] = [y, t, x];
  const xs = x.replace(/^x/, "");
  const ys = y.replace(/^y/, "");
  if (!/^-?\d+$/.test(xs) || !/^-?\d+$/.test(ys)) throw new GridError(`task "${text}": tile x and y must be whole numbers`);
  return { period: parsePeriod(t), tile: { x: Number(xs), y: Number(ys) } };
}

/** The task id as odc-stats' `render_task` writes it: `f"{period}/{x:02d}/{y:02d}"`. */
export function formatTaskId(task: TaskId): string {
  return `${task.period.text}/${pyInt(task.tile.x, 2)}/${pyInt(task.tile.y, 2)}`;
}

/**
 * The region code of a tile, `x{x:03d}y{y:03d}` (the `region_code_format` of Digital Earth Africa's
 * gm_s2_annual; odc-stats' default is `x{x:02d}y{y:02d}`).
 */
export function regionCode(tile: TileIndex): string {
  return `x${pyInt(tile.x, 3)}y${pyInt(tile.y, 3)}`;
}
