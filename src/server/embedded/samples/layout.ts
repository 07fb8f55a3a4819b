import "server-only";
import { z } from "zod";
import { transformer, type Point } from "~/server/odc/crs";
import type { GridWindow } from "./fields";
import { draw } from "./random";

/**
 * Where and when the sample scenes are: the options, the MGRS-like tiles that cover the area and the
 * acquisitions of each tile. Pure and cheap: the catalogue of thousands of scenes is planned in
 * milliseconds; pixels are made per scene, on demand (scene.ts).
 */

type Bbox = [number, number, number, number];
const lon = z.number().min(-180).max(180);
const lat = z.number().min(-80).max(84);
const bbox = z.tuple([lon, lat, lon, lat]).refine(([w, s, e, n]) => w < e && s < n, "west < east and south < north");
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date YYYY-MM-DD");

/** The embedded environments' prod scope: the default area, so every environment finds scenes. */
export const DEFAULT_AREA: Bbox = [106.5, -6.8, 107.1, -6.2];
/** The dev scope: where the older-baseline (2021) scenes are made by default. */
const DEV_AREA: Bbox = [106.7, -6.6, 106.85, -6.45];

export const sampleOptionsSchema = z
  .object({
    /** Everything random derives from it: same options, same bytes. */
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(1),
    /** Area (lon/lat) the tiles must cover. */
    area: bbox.default(DEFAULT_AREA),
    /** Tile width in 10 m pixels (real Sentinel-2: 10 980). A multiple of 6 so the 20 m and 60 m grids fit exactly. */
    tileSize: z.number().int().min(60).max(10980).multipleOf(6).default(1098),
    /** Metres between the origins of neighbouring tiles; default keeps MGRS's ratio (100 km for 109.8 km tiles). */
    tileStride: z.number().int().min(100).multipleOf(10).optional(),
    /** Acquisition series: every `everyDays` from `start` to `end` (inclusive), over `area` or the whole area. */
    periods: z
      .array(z.object({ start: day, end: day, everyDays: z.number().int().min(1).max(366), area: bbox.optional() }))
      .min(1)
      .default([
        { start: "2024-01-01", end: "2024-12-31", everyDays: 5 },
        { start: "2021-01-03", end: "2021-12-29", everyDays: 10, area: DEV_AREA },
      ]),
    /**
     * The edge between two relative orbits' swaths, a line through (lon, lat) tilted from north like a
     * descending ground track. West of it the primary orbit sees the ground; the secondary orbit, a few
     * days later, sees east of it (minus `overlap` metres). null: one orbit sees everything.
     */
    swathEdge: z
      .object({ lon, lat, tiltDegrees: z.number().min(-45).max(45), overlap: z.number().min(0), secondaryDelayDays: z.number().int().min(1).max(4) })
      .nullable()
      .default({ lon: 107.0, lat: -6.5, tiltDegrees: 10, overlap: 3000, secondaryDelayDays: 2 }),
    /** Standard deviation of the per-pixel sensor noise, in reflectance. */
    noise: z.number().min(0).max(0.05).default(0.002),
    /** Multiplies the seasonal cloud cover (0: always clear). */
    cloudiness: z.number().min(0).max(3).default(1),
    /** COG internal tile size. */
    blockSize: z.union([z.literal(256), z.literal(512)]).default(512),
    compress: z.enum(["DEFLATE", "ZSTD"]).default("DEFLATE"),
  })
  .refine((o) => o.tileStride === undefined || o.tileStride <= o.tileSize * 10, { message: "tileStride must not exceed the tile width (tiles would leave gaps)", path: ["tileStride"] });

/** Generator options as given (every field optional). */
export type SampleOptionsInput = z.input<typeof sampleOptionsSchema>;
/** Generator options with defaults applied. */
export type SampleOptions = z.output<typeof sampleOptionsSchema> & { tileStride: number };

export function normalizeOptions(input: SampleOptionsInput = {}): SampleOptions {
  const o = sampleOptionsSchema.parse(input);
  return { ...o, tileStride: o.tileStride ?? Math.round((o.tileSize * 10) / 1.098 / 10) * 10 };
}

/** Asset key -> file name and native resolution, as in Earth Search's `sentinel-s2-l2a-cogs`. */
export const REFLECTANCE_BANDS = [
  { key: "coastal", file: "B01", res: 60, band: 1, title: "Coastal aerosol (band 1) - 60m", common: "coastal", wavelength: 0.443, fwhm: 0.027 },
  { key: "blue", file: "B02", res: 10, band: 2, title: "Blue (band 2) - 10m", common: "blue", wavelength: 0.49, fwhm: 0.098 },
  { key: "green", file: "B03", res: 10, band: 3, title: "Green (band 3) - 10m", common: "green", wavelength: 0.56, fwhm: 0.045 },
  { key: "red", file: "B04", res: 10, band: 4, title: "Red (band 4) - 10m", common: "red", wavelength: 0.665, fwhm: 0.038 },
  { key: "rededge1", file: "B05", res: 20, band: 5, title: "Red edge 1 (band 5) - 20m", common: "rededge", wavelength: 0.704, fwhm: 0.019 },
  { key: "rededge2", file: "B06", res: 20, band: 6, title: "Red edge 2 (band 6) - 20m", common: "rededge", wavelength: 0.74, fwhm: 0.018 },
  { key: "rededge3", file: "B07", res: 20, band: 7, title: "Red edge 3 (band 7) - 20m", common: "rededge", wavelength: 0.783, fwhm: 0.028 },
  { key: "nir", file: "B08", res: 10, band: 8, title: "NIR 1 (band 8) - 10m", common: "nir", wavelength: 0.842, fwhm: 0.145 },
  { key: "nir08", file: "B8A", res: 20, band: 9, title: "NIR 2 (band 8A) - 20m", common: "nir08", wavelength: 0.865, fwhm: 0.033 },
  { key: "nir09", file: "B09", res: 60, band: 10, title: "NIR 3 (band 9) - 60m", common: "nir09", wavelength: 0.945, fwhm: 0.026 },
  { key: "swir16", file: "B11", res: 20, band: 11, title: "SWIR 1 (band 11) - 20m", common: "swir16", wavelength: 1.61, fwhm: 0.143 },
  { key: "swir22", file: "B12", res: 20, band: 12, title: "SWIR 2 (band 12) - 20m", common: "swir22", wavelength: 2.19, fwhm: 0.242 },
] as const;

export type BandKey = (typeof REFLECTANCE_BANDS)[number]["key"];
export type BandInfo = (typeof REFLECTANCE_BANDS)[number];
export const BAND_KEYS: readonly BandKey[] = REFLECTANCE_BANDS.map((b) => b.key);

export function bandInfo(key: BandKey): BandInfo {
  const info = REFLECTANCE_BANDS.find((b) => b.key === key);
  if (!info) throw new Error(`unknown band ${key}`);
  return info;
}

/** One MGRS-like tile (a granule footprint), in its UTM zone. */
export interface Tile {
  /** "48MYT": UTM zone, latitude band, grid square. */
  code: string;
  zone: number;
  latitudeBand: string;
  gridSquare: string;
  epsg: number;
  /** Upper-left corner, metres. */
  ulx: number;
  uly: number;
  /** Width in 10 m pixels. */
  size: number;
  /** Tile centre, lon/lat. */
  centre: Point;
}

/** The tile's pixel grid at 10, 20 or 60 m. */
export function tileGrid(tile: Tile, res: number): GridWindow {
  const n = (tile.size * 10) / res;
  return { x0: tile.ulx, y0: tile.uly, res, width: n, height: n };
}

const LATITUDE_BANDS = "CDEFGHJKLMNPQRSTUVWX";
const COLUMN_SETS = ["STUVWXYZ", "ABCDEFGH", "JKLMNPQR"];
const ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV";

function utmZone(area: Bbox): { zone: number; epsg: number; south: boolean } {
  const lonC = (area[0] + area[2]) / 2;
  const latC = (area[1] + area[3]) / 2;
  const zone = Math.floor((lonC + 180) / 6) + 1;
  return { zone, south: latC < 0, epsg: (latC < 0 ? 32700 : 32600) + zone };
}

/** The UTM bounds of a lon/lat box (its edges densified, since a box's UTM image is curved). */
function utmBounds(area: Bbox, epsg: number): { minx: number; miny: number; maxx: number; maxy: number } {
  const toUtm = transformer("EPSG:4326", `EPSG:${epsg}`);
  const xs: number[] = [];
  const ys: number[] = [];
  for (let k = 0; k <= 16; k++) {
    const f = k / 16;
    for (const p of [
      [area[0] + f * (area[2] - area[0]), area[1]],
      [area[0] + f * (area[2] - area[0]), area[3]],
      [area[0], area[1] + f * (area[3] - area[1])],
      [area[2], area[1] + f * (area[3] - area[1])],
    ] as Point[]) {
      const [x, y] = toUtm(p);
      xs.push(x);
      ys.push(y);
    }
  }
  return { minx: Math.min(...xs), miny: Math.min(...ys), maxx: Math.max(...xs), maxy: Math.max(...ys) };
}

/**
 * The tiles that meet an area: a grid of squares `tileStride` apart in the UTM zone of the area's
 * centre, each `tileSize` x 10 m wide so neighbours overlap as MGRS granules do (by 9.8 km of 109.8).
 * Grid squares are lettered as MGRS letters its 100 km squares, but on this smaller grid.
 */
export function planTiles(opts: SampleOptions, area: Bbox = opts.area): Tile[] {
  const { zone, epsg } = utmZone(opts.area);
  const b = utmBounds(area, epsg);
  const stride = opts.tileStride;
  const width = opts.tileSize * 10;
  const toLonLat = transformer(`EPSG:${epsg}`, "EPSG:4326");
  const tiles: Tile[] = [];
  // Tile (i, j) spans x in [i*stride - 40, i*stride - 40 + width] and y in [(j+1)*stride + 40 - width, (j+1)*stride + 40]
  // (MGRS granules start 40 m west of and above their 100 km square: 48MYT's corner is 699960, 9300040).
  for (let i = Math.floor((b.minx - width) / stride); i <= Math.ceil(b.maxx / stride); i++) {
    const ulx = i * stride - 40;
    if (ulx >= b.maxx || ulx + width <= b.minx) continue;
    for (let j = Math.floor((b.miny - width) / stride); j <= Math.ceil(b.maxy / stride); j++) {
      const uly = (j + 1) * stride + 40;
      if (uly <= b.miny || uly - width >= b.maxy) continue;
      const centre = toLonLat([ulx + width / 2, uly - width / 2]);
      const latitudeBand = LATITUDE_BANDS[Math.min(19, Math.max(0, Math.floor((centre[1] + 80) / 8)))] as string;
      const column = (COLUMN_SETS[zone % 3] as string)[(((i - 1) % 8) + 8) % 8] as string;
      const row = ROW_LETTERS[(((j + (zone % 2 === 0 ? 5 : 0)) % 20) + 20) % 20] as string;
      const gridSquare = `${column}${row}`;
      tiles.push({ code: `${zone}${latitudeBand}${gridSquare}`, zone, latitudeBand, gridSquare, epsg, ulx, uly, size: opts.tileSize, centre });
    }
  }
  const codes = new Set(tiles.map((t) => t.code));
  if (codes.size !== tiles.length) {
    throw new Error(`The sample area needs more than 8 x 20 tiles, so their MGRS-like codes repeat; use a smaller area or a larger tileStride.`);
  }
  return tiles.sort((a, b2) => a.code.localeCompare(b2.code));
}

/** Processing baseline ESA used for a sensing date (the offset rule changes at 04.00, 2022-01-25). */
export function baselineFor(date: string): string {
  if (date < "2021-06-30") return "02.14";
  if (date < "2022-01-25") return "03.00";
  if (date < "2022-12-06") return "04.00";
  if (date < "2023-12-13") return "05.09";
  return "05.10";
}

/** Solar elevation and azimuth (degrees, azimuth clockwise from north), NOAA's approximation. */
export function sunAngles(time: Date, position: Point): { elevation: number; azimuth: number } {
  const rad = Math.PI / 180;
  const start = Date.UTC(time.getUTCFullYear(), 0, 1);
  const hours = time.getUTCHours() + time.getUTCMinutes() / 60 + time.getUTCSeconds() / 3600;
  const doy = Math.floor((time.getTime() - start) / 86_400_000) + 1;
  const g = ((2 * Math.PI) / 365) * (doy - 1 + (hours - 12) / 24);
  const eqTime = 229.18 * (0.000075 + 0.001868 * Math.cos(g) - 0.032077 * Math.sin(g) - 0.014615 * Math.cos(2 * g) - 0.040849 * Math.sin(2 * g));
  const decl =
    0.006918 - 0.399912 * Math.cos(g) + 0.070257 * Math.sin(g) - 0.006758 * Math.cos(2 * g) + 0.000907 * Math.sin(2 * g) - 0.002697 * Math.cos(3 * g) + 0.00148 * Math.sin(3 * g);
  const trueSolarMinutes = hours * 60 + eqTime + 4 * position[0];
  const hourAngle = (trueSolarMinutes / 4 - 180) * rad;
  const phi = position[1] * rad;
  const cosZenith = Math.sin(phi) * Math.sin(decl) + Math.cos(phi) * Math.cos(decl) * Math.cos(hourAngle);
  const elevation = 90 - Math.acos(Math.min(1, Math.max(-1, cosZenith))) / rad;
  const azimuth = (Math.atan2(Math.sin(hourAngle), Math.cos(hourAngle) * Math.sin(phi) - Math.tan(decl) * Math.cos(phi)) / rad + 180 + 360) % 360;
  return { elevation, azimuth };
}

/** The weather of one acquisition date and orbit: shared by every tile of that overpass. */
export interface Weather {
  /** Target cloud cover over the area, 0..1 (0: no cloud at all). */
  cover: number;
  /** Cloud-top height, metres: with the sun's position, how far shadows fall from clouds. */
  cloudHeight: number;
  /** Peak additive reflectance of thin cirrus; 0: none. */
  cirrus: number;
  /** Seeds of the cloud and cirrus fields. */
  cloudSeed: number;
  cirrusSeed: number;
}

// Mean cloud cover by month over west Java: wet season (November-April) cloudy, dry season clearer.
const MONTHLY_COVER = [0.72, 0.72, 0.64, 0.55, 0.45, 0.36, 0.3, 0.26, 0.3, 0.42, 0.58, 0.68];

function weatherFor(opts: SampleOptions, date: string, orbit: Orbit): Weather {
  const key = Number(date.replace(/-/g, "")) * 2 + (orbit === "primary" ? 0 : 1);
  const u = (name: string) => draw(opts.seed, name, key);
  const mean = (MONTHLY_COVER[Number(date.slice(5, 7)) - 1] as number) * opts.cloudiness;
  // About one overpass in six is clear whatever the season; the rest scatter around the monthly mean.
  const clear = u("clear") < 0.16 || mean === 0;
  const cover = clear ? 0 : Math.min(0.97, Math.max(0.02, mean + 0.6 * (u("cover-a") + u("cover-b") - 1)));
  return {
    cover,
    cloudHeight: 900 + 1800 * u("height"),
    cirrus: u("cirrus") < 0.35 ? 0.012 + 0.035 * u("cirrus-depth") : 0,
    cloudSeed: Math.floor(u("cloud-seed") * 2 ** 32),
    cirrusSeed: Math.floor(u("cirrus-seed") * 2 ** 32),
  };
}

export type Orbit = "primary" | "secondary";

/** One acquisition of one tile: what becomes one STAC item and one folder of COGs. */
export interface Scene {
  /** Earth Search item id, e.g. S2A_48MYT_20240105_0_L2A. */
  id: string;
  tile: Tile;
  /** Sensing date, YYYY-MM-DD. */
  date: string;
  /** Sensing time, ISO 8601 with milliseconds and Z. */
  datetime: string;
  platform: "sentinel-2a" | "sentinel-2b";
  orbit: Orbit;
  relativeOrbit: number;
  baseline: string;
  /** DN added before storing (1000 from baseline 04.00: DN = (reflectance + 0.1) x 10 000). */
  offsetDn: number;
  sun: { elevation: number; azimuth: number };
  weather: Weather;
  /** Folder below the archive root, as Earth Search's bucket: sentinel-s2-l2a-cogs/48/M/YT/2024/1/<id>. */
  dir: string;
  /** Fraction of the tile inside the swath. */
  dataCoverage: number;
  /** Valid-data footprint in the tile's UTM coordinates, closed ring, counter-clockwise. */
  footprint: Point[];
}

/** The swath's half-plane for an orbit: a pixel centre (x, y) is seen when `side(x, y) <= 0`. */
export function swathSide(opts: SampleOptions, epsg: number, orbit: Orbit): ((x: number, y: number) => number) | undefined {
  const edge = opts.swathEdge;
  if (!edge) return undefined;
  const [xe, ye] = transformer("EPSG:4326", `EPSG:${epsg}`)([edge.lon, edge.lat]);
  const slope = Math.tan((edge.tiltDegrees * Math.PI) / 180);
  // Signed horizontal distance east of the edge line x = xe + (y - ye) * slope.
  const east = (x: number, y: number) => x - (xe + (y - ye) * slope);
  return orbit === "primary" ? east : (x, y) => edge.overlap - east(x, y);
}

/** Sutherland-Hodgman: the part of a convex ring where side(p) <= 0. */
function clipRing(ring: Point[], side: (x: number, y: number) => number): Point[] {
  const open = ring.slice(0, -1);
  const out: Point[] = [];
  for (let k = 0; k < open.length; k++) {
    const p = open[k] as Point;
    const q = open[(k + 1) % open.length] as Point;
    const sp = side(p[0], p[1]);
    const sq = side(q[0], q[1]);
    if (sp <= 0) out.push(p);
    if ((sp < 0 && sq > 0) || (sp > 0 && sq < 0)) {
      const t = sp / (sp - sq);
      out.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
    }
  }
  return out.length >= 3 ? [...out, out[0] as Point] : [];
}

function ringArea(ring: Point[]): number {
  let a = 0;
  for (let k = 0; k < ring.length - 1; k++) a += (ring[k] as Point)[0] * (ring[k + 1] as Point)[1] - (ring[k + 1] as Point)[0] * (ring[k] as Point)[1];
  return a / 2;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");
const DAY_MS = 86_400_000;

/** The acquisitions of the tiles over the configured periods, ordered by tile then time. */
export function planScenes(opts: SampleOptions, tiles: Tile[]): Scene[] {
  const scenes: Scene[] = [];
  const byCode = new Map(tiles.map((t) => [t.code, t]));
  const orbits: Orbit[] = opts.swathEdge ? ["primary", "secondary"] : ["primary"];
  const epsg = tiles[0]?.epsg;
  if (epsg === undefined) return scenes;
  const sides = new Map(orbits.map((o) => [o, swathSide(opts, epsg, o)]));
  const northmost = Math.max(...tiles.map((t) => t.uly));
  for (const period of opts.periods) {
    const inPeriod = new Set(period.area ? planTiles(opts, period.area).map((t) => t.code) : byCode.keys());
    const start = Date.parse(`${period.start}T00:00:00Z`);
    const end = Date.parse(`${period.end}T00:00:00Z`);
    for (let t = start; t <= end; t += period.everyDays * DAY_MS) {
      for (const orbit of orbits) {
        const when = new Date(t + (orbit === "secondary" ? (opts.swathEdge?.secondaryDelayDays ?? 0) * DAY_MS : 0));
        const date = when.toISOString().slice(0, 10);
        // Sentinel-2A and -2B fly the same ground tracks five days apart.
        const platform = Math.floor(when.getTime() / DAY_MS / 5) % 2 === 0 ? "sentinel-2a" : "sentinel-2b";
        const weather = weatherFor(opts, date, orbit);
        const side = sides.get(orbit);
        for (const code of inPeriod) {
          const tile = byCode.get(code);
          if (!tile) continue;
          const w = tile.size * 10;
          const square: Point[] = [
            [tile.ulx, tile.uly - w],
            [tile.ulx + w, tile.uly - w],
            [tile.ulx + w, tile.uly],
            [tile.ulx, tile.uly],
            [tile.ulx, tile.uly - w],
          ];
          const footprint = side ? clipRing(square, side) : square;
          const dataCoverage = footprint.length ? ringArea(footprint) / (w * w) : 0;
          // ESA does not deliver a granule that the swath only grazes.
          if (dataCoverage < 0.01) continue;
          // A descending pass: about 7 km of ground track per second, north first; the secondary
          // orbit lies east, so it crosses these latitudes at an earlier UTC time.
          const seconds = 3 * 3600 + 23 * 60 + 10 - (orbit === "secondary" ? 600 : 0) + (northmost - tile.uly) / 7000;
          const time = new Date(Date.UTC(when.getUTCFullYear(), when.getUTCMonth(), when.getUTCDate()) + Math.round(seconds * 1000) + 24);
          const baseline = baselineFor(date);
          const id = `${platform === "sentinel-2a" ? "S2A" : "S2B"}_${tile.code}_${date.replace(/-/g, "")}_0_L2A`;
          scenes.push({
            id,
            tile,
            date,
            datetime: time.toISOString(),
            platform,
            orbit,
            relativeOrbit: orbit === "primary" ? 32 : 132,
            baseline,
            offsetDn: Number(baseline) >= 4 ? 1000 : 0,
            sun: sunAngles(time, tile.centre),
            weather,
            dir: `sentinel-s2-l2a-cogs/${tile.zone}/${tile.latitudeBand}/${tile.gridSquare}/${when.getUTCFullYear()}/${when.getUTCMonth() + 1}/${id}`,
            dataCoverage,
            footprint,
          });
        }
      }
    }
  }
  const seen = new Set<string>();
  for (const s of scenes) {
    if (seen.has(s.id)) throw new Error(`Two sample acquisitions share the id ${s.id}: the periods overlap or the orbit delay lands on another period's date.`);
    seen.add(s.id);
  }
  return scenes.sort((a, b) => a.tile.code.localeCompare(b.tile.code) || a.datetime.localeCompare(b.datetime));
}

/** Compact date for ids and SAFE names. */
export const compactDate = (iso: string): string => iso.slice(0, 10).replace(/-/g, "");
export const compactTime = (d: Date): string => `${compactDate(d.toISOString())}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
