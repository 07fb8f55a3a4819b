import "server-only";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { GridError, parsePeriod, tileLonLatBounds, tilesInBounds, lonLatToGrid, densifyRing, type GridSpec, type Period, type TileIndex } from "~/lib/grid";
import type { ObjectsPort } from "~/server/drivers/objects";
import { AppError } from "~/server/errors";
import { taskLayout, type OutputProduct } from "~/worker/layout";
import { MAX_TASKS_PER_TILE, OUTPUT_PREFIX, OUTPUT_PRODUCTS, parseOutputTileQuery, TileQueryError, type OutputTileQuery } from "../tile-params";
import { isXyzTile, MAX_ZOOM, xyzLonLatBounds, type XyzTile } from "../web-mercator";
import { matchesIfNoneMatch } from "./http";
import { ByteLru } from "./lru";
import { mapLimit } from "./map-limit";
import { emptyPng, renderRgbTile, type RenderSource } from "./render";

/**
 * The output tile endpoint's logic (docs/adr/0015-output-tiles.md): which outputs a web-mercator
 * tile meets, whether they changed, and the PNG, from the cache or rendered.
 */

/** What the tile and download services need: each environment's objects port, and the product grid. */
export interface OutputsContext {
  /** Objects port of each configured environment, by name. */
  environments: ReadonlyMap<string, ObjectsPort>;
  /** The grid the geomedian tasks run on (configuration `geomedian.grid`). */
  grid: GridSpec;
  /** Rendered tiles; default one process-wide cache of TILE_CACHE_BYTES. */
  cache?: ByteLru;
}

/** The path parameters of `/api/outputs/<environment>/<product>/<period>/tiles/<z>/<x>/<y>.png`. */
export interface OutputTileParams {
  environment: string;
  product: string;
  period: string;
  z: string;
  x: string;
  /** `<y>.png`, as the last path segment. */
  y: string;
}

/** Bytes of rendered PNGs kept in memory (about 500 detailed tiles, or far more sparse ones). */
export const TILE_CACHE_BYTES = 64 * 1024 * 1024;
// GDAL reads an S3 output through a presigned URL; a render takes seconds, so minutes are plenty.
const PRESIGN_SECONDS = 300;

const holder = globalThis as unknown as { pikselTileCache?: ByteLru; pikselTileRenders?: Map<string, Promise<Buffer>> };
const defaultCache = () => (holder.pikselTileCache ??= new ByteLru(TILE_CACHE_BYTES));
// Renders in flight by ETag: MapLibre and other viewers may ask for the same tile twice at once.
const inFlight = () => (holder.pikselTileRenders ??= new Map());

/** Looks up the environment's objects port; NOT_FOUND names the configured environments. */
export function environmentObjects(ctx: OutputsContext, environment: string): ObjectsPort {
  const objects = ctx.environments.get(environment);
  if (!objects) throw new AppError("NOT_FOUND", `unknown environment "${environment}": expected one of ${[...ctx.environments.keys()].join(", ")}`);
  return objects;
}

function parseProduct(name: string): OutputProduct {
  const product = (OUTPUT_PRODUCTS as Record<string, OutputProduct>)[name];
  if (!product) throw new AppError("NOT_FOUND", `unknown product "${name}": outputs exist for ${Object.keys(OUTPUT_PRODUCTS).join(", ")}`);
  return product;
}

function parsePeriodParam(text: string): Period {
  try {
    return parsePeriod(text);
  } catch (err) {
    if (err instanceof GridError) throw new AppError("BAD_REQUEST", err.message);
    throw err;
  }
}

function parseTile(params: OutputTileParams): XyzTile {
  const y = /^(\d{1,8})\.png$/.exec(params.y)?.[1];
  if (!/^\d{1,3}$/.test(params.z) || !/^\d{1,8}$/.test(params.x) || y === undefined) {
    throw new AppError("BAD_REQUEST", `tile "${params.z}/${params.x}/${params.y}" is not of the form <z>/<x>/<y>.png with whole numbers, e.g. 12/3280/2120.png`);
  }
  const tile = { z: Number(params.z), x: Number(params.x), y: Number(y) };
  if (tile.z > MAX_ZOOM) throw new AppError("BAD_REQUEST", `zoom ${tile.z} is beyond ${MAX_ZOOM}, the deepest this endpoint renders`);
  if (!isXyzTile(tile)) throw new AppError("BAD_REQUEST", `tile ${tile.z}/${tile.x}/${tile.y} does not exist: at zoom ${tile.z}, x and y run from 0 to ${2 ** tile.z - 1}`);
  return tile;
}

function parseQuery(url: URL): OutputTileQuery {
  try {
    return parseOutputTileQuery(url.searchParams);
  } catch (err) {
    if (err instanceof TileQueryError) throw new AppError("BAD_REQUEST", err.message);
    throw err;
  }
}

const overlaps = (a: { west: number; south: number; east: number; north: number }, [w, s, e, n]: [number, number, number, number]) =>
  a.west < e && a.east > w && a.south < n && a.north > s;

/**
 * The grid tiles whose area meets the web-mercator tile, from the `tasks` filter when given, else
 * from the grid. Refuses more than MAX_TASKS_PER_TILE before building them, so that a zoomed-out
 * tile over a 4.8 km grid does not enumerate millions of tiles.
 */
export function gridTilesMeeting(grid: GridSpec, tile: XyzTile, filter: readonly TileIndex[] | undefined): TileIndex[] {
  const ll = xyzLonLatBounds(tile);
  const tooMany = (n: number) =>
    new AppError("BAD_REQUEST", `tile ${tile.z}/${tile.x}/${tile.y} meets ${n} tiles of grid ${grid.name}, more than the ${MAX_TASKS_PER_TILE} one tile draws: zoom in, or list the tasks to draw with ?tasks=x/y,x/y`);
  const meets = (t: TileIndex) => {
    try {
      return overlaps(tileLonLatBounds(grid, t), ll);
    } catch (err) {
      // A tile reaching beyond the CRS's area of use (e.g. y = 0 of global_10:480, south of the
      // pole) has no lon/lat bounds; such tiles hold no outputs.
      if (err instanceof GridError) return false;
      throw err;
    }
  };
  if (filter) {
    const met = filter.filter(meets);
    if (met.length > MAX_TASKS_PER_TILE) throw tooMany(met.length);
    return met;
  }
  const [w, s, e, n] = ll;
  // The tile's outline in the grid CRS (64 points a side: edges curve in non-cylindrical CRSs).
  const ring = densifyRing([[w, s], [e, s], [e, n], [w, n], [w, s]], Math.max(e - w, n - s) / 64).map(([lon, lat]) => lonLatToGrid(grid, lon, lat));
  const xs = ring.map((p) => p[0]);
  const ys = ring.map((p) => p[1]);
  const box = { left: Math.min(...xs), right: Math.max(...xs), bottom: Math.min(...ys), top: Math.max(...ys) };
  const across = Math.ceil((box.right - grid.origin.x) / grid.tileSize) - Math.floor((box.left - grid.origin.x) / grid.tileSize);
  const down = Math.ceil((box.top - grid.origin.y) / grid.tileSize) - Math.floor((box.bottom - grid.origin.y) / grid.tileSize);
  if (across * down > MAX_TASKS_PER_TILE) throw tooMany(across * down);
  return tilesInBounds(grid, box).filter(meets);
}

/** One finished output: its grid tile and a version string that changes whenever it is recomputed. */
interface FinishedOutput {
  tile: TileIndex;
  version: string;
}

/**
 * The outputs among `tiles` that are finished. The worker writes the EO3 document last and deletes
 * it first when it recomputes (ADR 0012), so its presence means finished and its entity tag or
 * modification time changes with every recompute: that is the version.
 */
async function finishedOutputs(objects: ObjectsPort, product: OutputProduct, period: Period, tiles: readonly TileIndex[]): Promise<FinishedOutput[]> {
  const heads = await mapLimit(tiles, 16, (tile) => objects.head(taskLayout(product, { period, tile }, OUTPUT_PREFIX).eo3));
  return tiles.flatMap((tile, i) => {
    const info = heads[i];
    return info ? [{ tile, version: info.etag ?? `${info.size}-${info.modified.getTime()}` }] : [];
  });
}

/** The path GDAL opens an object by: a presigned URL through /vsicurl/, or the file of the directory driver. */
export async function gdalPathOf(objects: ObjectsPort, key: string): Promise<string> {
  const url = await objects.presignGet(key, PRESIGN_SECONDS);
  if (url) return `/vsicurl/${url}`;
  const uri = objects.uri(key);
  if (uri.startsWith("file://")) return fileURLToPath(uri);
  throw new Error(`the ${objects.driver} objects driver gives neither presigned URLs nor files (${uri}); GDAL cannot read it`);
}

/**
 * Answers `GET /api/outputs/<environment>/<product>/<period>/tiles/<z>/<x>/<y>.png`: a 256 px PNG
 * in EPSG:3857, RGB of the stretched bands where outputs are, transparent elsewhere. ETag from the
 * query and the versions of the outputs it draws; `no-cache`, so browsers revalidate (a 304 costs
 * one HEAD per output) and never show a recomputed output stale.
 */
export async function outputTileResponse(ctx: OutputsContext, params: OutputTileParams, req: Request): Promise<Response> {
  const objects = environmentObjects(ctx, params.environment);
  const product = parseProduct(params.product);
  const period = parsePeriodParam(params.period);
  const tile = parseTile(params);
  const query = parseQuery(new URL(req.url));
  const tiles = gridTilesMeeting(ctx.grid, tile, query.tasks);
  const outputs = await finishedOutputs(objects, product, period, tiles);

  const etag = `"${createHash("sha256")
    .update(JSON.stringify([1, params.environment, product.name, product.version, period.text, tile, query.bands, query.stretch, outputs.map((o) => [o.tile.x, o.tile.y, o.version])]))
    .digest("base64url")
    .slice(0, 32)}"`;
  const headers = { etag, "cache-control": "private, no-cache", "content-type": "image/png" };
  if (matchesIfNoneMatch(req.headers.get("if-none-match"), etag)) return new Response(null, { status: 304, headers });

  const cache = ctx.cache ?? defaultCache();
  const cached = cache.get(etag);
  if (cached) return new Response(new Uint8Array(cached), { headers: { ...headers, "x-piksel-tile-cache": "hit" } });

  let render = inFlight().get(etag);
  if (!render) {
    render = (async () => {
      if (outputs.length === 0) return emptyPng();
      const sources: RenderSource[] = await Promise.all(
        outputs.map(async (o) => {
          const layout = taskLayout(product, { period, tile: o.tile }, OUTPUT_PREFIX);
          const paths = await Promise.all(query.bands.map((band) => gdalPathOf(objects, layout.bands[band]!)));
          return { paths: paths as [string, string, string] };
        }),
      );
      try {
        return (await renderRgbTile(sources, tile, query.stretch)) ?? (await emptyPng());
      } catch (err) {
        const tasks = outputs.map((o) => `${o.tile.x}/${o.tile.y}`).join(", ");
        throw new Error(`cannot render tile ${tile.z}/${tile.x}/${tile.y} of ${product.name} ${period.text} in ${params.environment} from tasks ${tasks}: ${(err as Error).message}`, { cause: err });
      }
    })().finally(() => inFlight().delete(etag));
    inFlight().set(etag, render);
  }
  const png = await render;
  cache.set(etag, png);
  return new Response(new Uint8Array(png), { headers: { ...headers, "x-piksel-tile-cache": "miss" } });
}
