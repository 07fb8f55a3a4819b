import "server-only";
import { randomUUID } from "node:crypto";
import type { Dataset } from "gdal-async";
import { xyzMercatorBounds, type XyzTile } from "../web-mercator";

/**
 * Renders output COGs into one 256 px web-mercator PNG with GDAL: per colour, one warp of that band
 * of every output the tile meets (gdalwarp's default `-ovr AUTO` reads the overview level closest to
 * the tile's resolution, so a zoomed-out tile fetches a few overview blocks, not the full
 * resolution), then a linear stretch to 8 bits and an alpha band, encoded by GDAL's PNG driver.
 */

export const TILE_SIZE = 256;

/** One output the tile meets: the GDAL paths of its red, green and blue COGs. */
export interface RenderSource {
  paths: readonly [string, string, string];
}

type Gdal = typeof import("gdal-async");
let loading: Promise<Gdal> | undefined;

/**
 * gdal-async, loaded by Node at run time from node_modules rather than through the bundler:
 * Turbopack fails the build tracing its binding (it requires `binary.napi_versions` in the
 * package.json of a node-pre-gyp package, which gdal-async does not have). A checkout's standalone
 * server finds it in the project's node_modules, the image in /app/node_modules (Dockerfile).
 */
function loadGdal(): Promise<Gdal> {
  loading ??= import(/* turbopackIgnore: true */ /* webpackIgnore: true */ "gdal-async").then((m) => {
    const gdal = ((m as { default?: Gdal }).default ?? m) as Gdal;
    configure(gdal);
    return gdal;
  });
  return loading;
}

/**
 * Process-wide GDAL options of the console (the worker runs in its own processes with its own).
 * `CPL_VSIL_CURL_NON_CACHED=/vsicurl/`: /vsicurl/ keeps fetched ranges by URL after a file closes,
 * and a recomputed output keeps its key; without this a tile rendered after a recompute could mix
 * old and new bytes. The rendered PNGs are cached instead (tiles.service.ts).
 */
function configure(gdal: Gdal): void {
  const options: Record<string, string> = {
    // One ranged GET opens a COG; no directory listing, no probes for side-car files.
    GDAL_DISABLE_READDIR_ON_OPEN: "EMPTY_DIR",
    CPL_VSIL_CURL_NON_CACHED: "/vsicurl/",
    GDAL_HTTP_MERGE_CONSECUTIVE_RANGES: "YES",
    GDAL_HTTP_MAX_RETRY: "3",
    GDAL_HTTP_RETRY_DELAY: "0.5",
    GDAL_HTTP_TIMEOUT: "30",
    GDAL_HTTP_CONNECTTIMEOUT: "10",
  };
  for (const [key, value] of Object.entries(options)) gdal.config.set(key, value);
}

/** Warps one band of every source onto the tile (UInt16, 0 where no source has data). */
async function warpBand(paths: readonly string[], tile: XyzTile): Promise<Uint16Array> {
  const gdal = await loadGdal();
  const b = xyzMercatorBounds(tile);
  const res = (b.right - b.left) / TILE_SIZE;
  const dst = await gdal.drivers.get("MEM").createAsync("", TILE_SIZE, TILE_SIZE, 1, gdal.GDT_UInt16);
  const sources: Dataset[] = [];
  try {
    dst.geoTransform = [b.left, res, 0, b.top, 0, -res];
    dst.srs = gdal.SpatialReference.fromEPSG(3857);
    dst.bands.get(1).noDataValue = 0;
    // Opened concurrently: over HTTP each open is a round trip for the header.
    sources.push(...(await Promise.all(paths.map((p) => gdal.openAsync(p)))));
    // Bilinear: smooth when a zoomed-in tile upsamples; nodata-aware, so edges do not darken.
    // No INIT_DEST: GDAL applies it before each source, so the last source would erase what the
    // others drew into a tile they share (a MEM dataset starts at 0 = nodata anyway).
    await gdal.warpAsync(null, dst, sources, ["-r", "bilinear", "-srcnodata", "0", "-dstnodata", "0"]);
    return (await dst.bands.get(1).pixels.readAsync(0, 0, TILE_SIZE, TILE_SIZE)) as Uint16Array;
  } finally {
    for (const s of sources) s.close();
    dst.close();
  }
}

/** DN -> 0..255, linear between `min` (black) and `max` (white), clipped. */
export function stretchByte(dn: number, min: number, max: number): number {
  const v = ((dn - min) / (max - min)) * 255;
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

/**
 * The RGBA pixels of a tile from its three bands: opaque where all three have data (DN > 0; the
 * worker stores valid reflectance as DN >= 1), transparent elsewhere.
 */
export function composeRgba(bands: readonly [Uint16Array, Uint16Array, Uint16Array], stretch: readonly [number, number]): Uint8Array[] {
  const [r, g, b] = bands;
  const n = r.length;
  const out = [new Uint8Array(n), new Uint8Array(n), new Uint8Array(n), new Uint8Array(n)] as const;
  const [min, max] = stretch;
  for (let i = 0; i < n; i++) {
    if (r[i] === 0 || g[i] === 0 || b[i] === 0) continue;
    out[0][i] = stretchByte(r[i]!, min, max);
    out[1][i] = stretchByte(g[i]!, min, max);
    out[2][i] = stretchByte(b[i]!, min, max);
    out[3][i] = 255;
  }
  return [...out];
}

/** A PNG of RGBA planes, 256 x 256, through GDAL's PNG driver (in /vsimem/, nothing on disk). */
export async function encodePng(planes: readonly Uint8Array[]): Promise<Buffer> {
  const gdal = await loadGdal();
  const mem = await gdal.drivers.get("MEM").createAsync("", TILE_SIZE, TILE_SIZE, 4, gdal.GDT_Byte);
  const file = `/vsimem/piksel-tile-${randomUUID()}.png`;
  try {
    for (const [i, p] of planes.entries()) await (await mem.bands.getAsync(i + 1)).pixels.writeAsync(0, 0, TILE_SIZE, TILE_SIZE, p);
    const png = await gdal.drivers.get("PNG").createCopyAsync(file, mem, { ZLEVEL: "6", WORLDFILE: "NO" });
    png.close();
    return gdal.vsimem.release(file);
  } finally {
    mem.close();
  }
}

/** Renders the sources onto `tile` with the stretch; undefined when no pixel has data. */
export async function renderRgbTile(sources: readonly RenderSource[], tile: XyzTile, stretch: readonly [number, number]): Promise<Buffer | undefined> {
  // One colour after the other: gdal-async serialises work on a dataset anyway, and a synchronous
  // setter of one warp must not wait on a lock another warp holds while it reads over HTTP.
  const bands: Uint16Array[] = [];
  for (const c of [0, 1, 2]) bands.push(await warpBand(sources.map((s) => s.paths[c]!), tile));
  const planes = composeRgba(bands as [Uint16Array, Uint16Array, Uint16Array], stretch);
  if (!planes[3]!.some((a) => a !== 0)) return undefined;
  return encodePng(planes);
}

let empty: Promise<Buffer> | undefined;
/** The fully transparent tile (encoded once). */
export function emptyPng(): Promise<Buffer> {
  empty ??= encodePng([0, 1, 2, 3].map(() => new Uint8Array(TILE_SIZE * TILE_SIZE)));
  return empty;
}
