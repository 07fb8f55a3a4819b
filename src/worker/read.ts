import gdal from "gdal-async";
import { densifyRing, subGeobox, type Geobox, type PixelWindow } from "~/lib/grid";
import { transformer } from "~/server/odc/crs";
import { WorkerError } from "./errors";
import { gdalMessage, type GeoTransform, type OpenSource, type SourceCache } from "./gdal";
import { REFLECTANCE_BANDS } from "./layout";
import { badPixels, filterReach, GM_S2_MASK, type MaskRules } from "./mask";
import { MASK_BAND, type SourceDataset, type TaskPlan } from "./plan";
import { DN_SCALE } from "./sources";

/**
 * Read: the pixels of one chunk of the tile, from every source dataset, as odc-stats' gm-s2 loads them
 * (odc-algo `load_with_native_transform`):
 * 1. per dataset, the window of its native 10 m grid (the basis band, `blue` = B02) that covers the
 *    chunk, plus a margin; 20 m bands and SCL are read at 20 m and taken to that grid by nearest
 *    neighbour (datacube's default resampling for a native load);
 * 2. the gm-s2 mask on that native grid (`mask.ts`), erasing masked pixels to nodata (0);
 * 3. a warp of the ten bands onto the chunk's geobox, bilinear, nodata-aware (GDAL renormalises the
 *    weights over valid source pixels, as rasterio's reproject does for odc-geo's `xr_reproject`);
 * 4. per solar day, first valid pixel wins, datasets in (time, id) order (odc-algo `_nodata_fuser`,
 *    `choose_first_valid`, band by band), then DN x 0.0001 + offset, with nodata as NaN.
 *
 * Deviation: odc-algo fuses datasets of one solar day in the same CRS before reprojecting and fuses
 * again after; here every dataset is reprojected on its own and fused after. The two differ only
 * in pixels within one pixel of a granule's data edge, where the bilinear kernel of the fused image
 * would mix both granules.
 *
 * Only the blocks of each COG that the padded window touches are fetched (GDAL's GTiff driver reads
 * a window block by block through `/vsicurl/` range requests); SCL is read first, and a dataset whose
 * window is entirely masked costs no reflectance reads.
 */

/** Extra native pixels read around a chunk: the mask filters' reach, one for bilinear, one for rounding. */
export function readMargin(rules: MaskRules = GM_S2_MASK): number {
  return filterReach(rules.cloudFilters) + 2;
}

/** The window of a north-up raster (`gt`, width x height) covering `chunk`, plus `margin`; undefined when they do not meet. */
export function nativeWindow(chunk: Geobox, crs: string, gt: GeoTransform, width: number, height: number, margin: number): PixelWindow | undefined {
  const [a, , c, , e, f] = chunk.transform;
  const [x0, x1] = [c, c + a * chunk.width];
  const [y0, y1] = [f, f + e * chunk.height];
  const ring: [number, number][] = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]];
  // Edges are densified every 16 chunk pixels: a projected edge bows by far less than a pixel in between.
  const toNative = transformer(chunk.crs, crs);
  const points = densifyRing(ring, Math.abs(a) * 16).map(toNative);
  const cols = points.map(([x]) => (x - gt[0]) / gt[1]);
  const rows = points.map(([, y]) => (y - gt[3]) / gt[5]);
  const col0 = Math.max(0, Math.floor(Math.min(...cols)) - margin);
  const col1 = Math.min(width, Math.ceil(Math.max(...cols)) + margin);
  const row0 = Math.max(0, Math.floor(Math.min(...rows)) - margin);
  const row1 = Math.min(height, Math.ceil(Math.max(...rows)) + margin);
  if (col1 <= col0 || row1 <= row0) return undefined;
  return { col: col0, row: row0, width: col1 - col0, height: row1 - row0 };
}

/** A target grid: a north-up geotransform and its size. */
interface TargetGrid {
  gt: GeoTransform;
  width: number;
  height: number;
}

type Pixels = Uint8Array | Uint16Array;

async function readWindow<T extends Pixels>(src: OpenSource, w: PixelWindow, make: (n: number) => T): Promise<T> {
  try {
    return (await src.band.pixels.readAsync(w.col, w.row, w.width, w.height, make(w.width * w.height))) as T;
  } catch (err) {
    throw new WorkerError("UNREADABLE_SOURCE", `cannot read ${src.href} after ${src.retries} retries: ${gdalMessage(err)}`, { cause: err });
  }
}

/**
 * The pixels of `src` on `target` (same CRS): a direct window read when the grids align, else a read
 * of the covering window and nearest neighbour by pixel centre (20 m and 60 m bands onto 10 m).
 * Target pixels outside the source are 0.
 */
export async function readOnto<T extends Pixels>(src: OpenSource, target: TargetGrid, make: (n: number) => T): Promise<T> {
  const s = src.geoTransform;
  const t = target.gt;
  const out = make(target.width * target.height);
  const offCol = (t[0] - s[0]) / s[1];
  const offRow = (t[3] - s[3]) / s[5];
  const aligned = Math.abs(s[1] - t[1]) < 1e-9 * Math.abs(s[1]) && Math.abs(s[5] - t[5]) < 1e-9 * Math.abs(s[5]) && Math.abs(offCol - Math.round(offCol)) < 1e-6 && Math.abs(offRow - Math.round(offRow)) < 1e-6;
  if (aligned) {
    const [c0, r0] = [Math.round(offCol), Math.round(offRow)];
    const col = Math.max(0, c0);
    const row = Math.max(0, r0);
    const col1 = Math.min(src.width, c0 + target.width);
    const row1 = Math.min(src.height, r0 + target.height);
    if (col1 <= col || row1 <= row) return out;
    const w = { col, row, width: col1 - col, height: row1 - row };
    const data = await readWindow(src, w, make);
    if (w.width === target.width && w.height === target.height) return data;
    for (let y = 0; y < w.height; y++) out.set(data.subarray(y * w.width, (y + 1) * w.width), (row - r0 + y) * target.width + (col - c0));
    return out;
  }
  // Source pixel of each target column and row (-1: outside the source).
  const colOf = new Int32Array(target.width);
  const rowOf = new Int32Array(target.height);
  for (let i = 0; i < target.width; i++) {
    const c = Math.floor((t[0] + (i + 0.5) * t[1] - s[0]) / s[1]);
    colOf[i] = c >= 0 && c < src.width ? c : -1;
  }
  for (let j = 0; j < target.height; j++) {
    const r = Math.floor((t[3] + (j + 0.5) * t[5] - s[3]) / s[5]);
    rowOf[j] = r >= 0 && r < src.height ? r : -1;
  }
  const validCols = Array.from(colOf).filter((c) => c >= 0);
  const validRows = Array.from(rowOf).filter((r) => r >= 0);
  if (validCols.length === 0 || validRows.length === 0) return out;
  const w = { col: Math.min(...validCols), row: Math.min(...validRows), width: 0, height: 0 };
  w.width = Math.max(...validCols) - w.col + 1;
  w.height = Math.max(...validRows) - w.row + 1;
  const data = await readWindow(src, w, make);
  for (let j = 0; j < target.height; j++) {
    const r = rowOf[j]!;
    if (r < 0) continue;
    const line = (r - w.row) * w.width - w.col;
    const base = j * target.width;
    for (let i = 0; i < target.width; i++) {
      const c = colOf[i]!;
      if (c >= 0) out[base + i] = data[line + c]!;
    }
  }
  return out;
}

const epsgOf = (crs: string) => {
  const m = /^epsg:(\d+)$/i.exec(crs);
  if (!m) throw new WorkerError("UNREADABLE_SOURCE", `unsupported CRS ${crs}: expected EPSG:<code>`);
  return gdal.SpatialReference.fromEPSG(Number(m[1]));
};

const toGdalTransform = (g: Geobox): GeoTransform => {
  const [a, b, c, d, e, f] = g.transform;
  return [c, a, b, f, d, e];
};

/** How much of the read a caller wants to know about (tests, benchmarks). */
export interface ObservationStats {
  /** The native window read, in the basis band's pixels; undefined when the dataset misses the chunk. */
  window?: PixelWindow;
  /** Whether the reflectance bands were read (false when the window was entirely masked or empty). */
  readBands: boolean;
}

/**
 * One dataset on one chunk: its ten reflectance bands in DN on the chunk's geobox (0 = nodata or
 * masked), or undefined when it has no valid pixel there.
 */
export async function readObservation(ds: SourceDataset, chunk: Geobox, sources: SourceCache, rules: MaskRules = GM_S2_MASK, stats?: ObservationStats): Promise<Uint16Array[] | undefined> {
  const basisHref = ds.hrefs[REFLECTANCE_BANDS[0]!.source!]!;
  const basis = await sources.use(basisHref, async (s) => ({ gt: s.geoTransform, width: s.width, height: s.height }));
  const win = nativeWindow(chunk, ds.crs, basis.gt, basis.width, basis.height, readMargin(rules));
  if (stats) {
    stats.window = win;
    stats.readBands = false;
  }
  if (!win) return undefined;
  const g = basis.gt;
  const target: TargetGrid = { gt: [g[0] + win.col * g[1], g[1], 0, g[3] + win.row * g[5], 0, g[5]], width: win.width, height: win.height };

  const scl = await sources.use(ds.hrefs[MASK_BAND]!, (s) => readOnto(s, target, (n) => new Uint8Array(n)));
  const bad = badPixels(scl, target.width, target.height, rules);
  if (bad.every((v) => v === 1)) return undefined;
  if (stats) stats.readBands = true;

  // allSettled: after a failure no read is left running on a file the caller is about to close.
  const settled = await Promise.allSettled(REFLECTANCE_BANDS.map((b) => sources.use(ds.hrefs[b.source!]!, (s) => readOnto(s, target, (n) => new Uint16Array(n)))));
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  const bands = settled.map((r) => (r as PromiseFulfilledResult<Uint16Array>).value);
  let valid = 0;
  for (let i = 0; i < bad.length; i++) {
    if (bad[i] === 1) for (const band of bands) band[i] = 0;
    else if (bands[0]![i] !== 0) valid++;
  }
  if (valid === 0) return undefined;
  return warpToChunk(bands, target, ds.crs, chunk);
}

/** Bilinear, nodata-aware warp of native-grid bands onto the chunk (GDAL's warper, in the thread pool). */
async function warpToChunk(bands: Uint16Array[], native: TargetGrid, crs: string, chunk: Geobox): Promise<Uint16Array[]> {
  const mem = gdal.drivers.get("MEM");
  const src = mem.create("", native.width, native.height, bands.length, gdal.GDT_UInt16);
  const dst = mem.create("", chunk.width, chunk.height, bands.length, gdal.GDT_UInt16);
  try {
    src.geoTransform = native.gt;
    src.srs = epsgOf(crs);
    dst.geoTransform = toGdalTransform(chunk);
    dst.srs = epsgOf(chunk.crs);
    bands.forEach((data, i) => {
      const b = src.bands.get(i + 1);
      // GDALReprojectImage takes each band's nodata from the datasets (gdal-async's srcNodata
      // option would hand GDAL a single value where it reads one per band).
      b.noDataValue = 0;
      b.pixels.write(0, 0, native.width, native.height, data);
      dst.bands.get(i + 1).noDataValue = 0;
    });
    // maxError 0.125 px: gdalwarp's default approximation of the transformation.
    await gdal.reprojectImageAsync({ src, dst, s_srs: src.srs!, t_srs: dst.srs!, resampling: gdal.GRA_Bilinear, maxError: 0.125 });
    return bands.map((_, i) => dst.bands.get(i + 1).pixels.read(0, 0, chunk.width, chunk.height, new Uint16Array(chunk.width * chunk.height)) as Uint16Array);
  } finally {
    src.close();
    dst.close();
  }
}

/** One chunk ready for the reduction: [band][time][pixel] reflectance, NaN where nothing valid. */
export interface ChunkCube {
  window: PixelWindow;
  cube: Float32Array;
  dims: { bands: number; times: number; pixels: number; width: number };
  /** Solar days with at least one valid pixel in the chunk. */
  observations: number;
}

/** Options of `readChunk`. */
export interface ChunkReadOptions {
  rules?: MaskRules;
  /** Datasets read at the same time. Default 8. */
  concurrency?: number;
  /** A cube to fill (a previous chunk's, handed back by the pool) when its size fits; else one is allocated. */
  cube?: Float32Array;
}

/**
 * All observations of one chunk, fused per solar day. Undefined when no dataset has a valid pixel
 * in it (the writer's nodata stands). Memory: the cube (10 x days x pixels float32) and at most
 * `concurrency` datasets' chunk-sized reads.
 */
export async function readChunk(plan: TaskPlan, window: PixelWindow, sources: SourceCache, options: ChunkReadOptions = {}): Promise<ChunkCube | undefined> {
  const chunk = subGeobox(plan.geobox, window);
  const pixels = window.width * window.height;
  const times = plan.days.length;
  const nBands = REFLECTANCE_BANDS.length;
  const order = plan.days.flatMap((day, t) => day.datasets.map((ds) => ({ ds, t })));
  const limit = Math.max(1, options.concurrency ?? 8);
  const reads: Promise<Uint16Array[] | undefined>[] = [];
  const start = (i: number) => {
    const item = order[i];
    if (!item) return;
    const read = readObservation(item.ds, chunk, sources, options.rules);
    // Awaited in order below; until then a failure must not count as an unhandled rejection
    // (which would end the process before the error is reported).
    read.catch(() => undefined);
    reads[i] = read;
  };
  for (let i = 0; i < Math.min(limit, order.length); i++) start(i);

  let cube: Float32Array | undefined;
  const seen = new Uint8Array(times);
  try {
    for (let i = 0; i < order.length; i++) {
      const result = await reads[i]!;
      start(i + limit);
      if (!result) continue;
      const { ds, t } = order[i]!;
      if (!cube) cube = (options.cube?.length === nBands * times * pixels ? options.cube : new Float32Array(nBands * times * pixels)).fill(NaN);
      seen[t] = 1;
      // First valid wins, band by band, in (time, id) order within the solar day.
      for (let b = 0; b < nBands; b++) {
        const plane = cube.subarray((b * times + t) * pixels, (b * times + t + 1) * pixels);
        const dn = result[b]!;
        for (let p = 0; p < pixels; p++) {
          const v = dn[p]!;
          if (v !== 0 && plane[p] !== plane[p]) plane[p] = v * DN_SCALE + ds.offset;
        }
      }
    }
  } catch (err) {
    // Let the reads already started settle before reporting, so none fails unobserved.
    await Promise.allSettled(reads);
    throw err;
  }
  if (!cube) return undefined;
  return { window, cube, dims: { bands: nBands, times, pixels, width: window.width }, observations: seen.reduce((n, v) => n + v, 0) };
}
