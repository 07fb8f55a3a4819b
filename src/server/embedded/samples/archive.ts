import "server-only";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Logger } from "~/server/logger";
import type { GridWindow } from "./fields";
import { buildItem, itemJsonPath, type ItemForm, type SampleUrls } from "./items";
import { BAND_KEYS, normalizeOptions, planScenes, planTiles, tileGrid, type BandKey, type SampleOptions, type SampleOptionsInput, type Scene, type Tile } from "./layout";
import { footprintLonLat, type SceneStats } from "./metadata";
import { computeTileSurface, SCENE_FILES, writeScene, type TileSurface } from "./scene";
import { isClear, sceneClassification, SkyModel, type Sky } from "./sky";
import { transformer } from "~/server/odc/crs";
import { landCover, landCoverAt, reflectanceOf, trueSurface, type PixelWindow } from "./surface";

/**
 * The sample archive: a catalogue of Sentinel-2 L2A scenes planned from the options, and their files
 * under `<cacheDir>/<hash of the options>/`, laid out as Earth Search's bucket. Scenes are written on
 * first use (a whole scene at a time, atomically) and reused by every later run with the same
 * options: a year of 5-day acquisitions over 64 tiles is ~6 000 scenes and tens of GB, far more than
 * anyone reads, so the file server asks for a scene when a client first reads one of its files.
 */

/** Bumped whenever the generator's output changes for the same options: old caches are then not reused. */
export const GENERATOR_VERSION = 1;

export interface SampleArchiveOptions {
  /** Directory of cached archives, e.g. `<dataDir>/samples`; one sub-directory per option hash. */
  cacheDir: string;
  options?: SampleOptionsInput;
  log?: Logger;
  /** Scenes written at the same time (default: the machine's CPU count). */
  concurrency?: number;
}

/** Cloud, shadow, cirrus and no-data of one scene on a grid, as the generator applied them. */
export interface SceneMasks {
  resolution: number;
  width: number;
  height: number;
  /** Cloud opacity 0..1. */
  cloud: Float32Array;
  /** Shadow strength 0..1. */
  shadow: Float32Array;
  /** Additive cirrus reflectance (0: none). */
  cirrus: Float32Array;
  /** 1 where the swath saw the ground. */
  valid: Uint8Array;
  /** 1 where no cloud, shadow or cirrus touches the pixel at all and it has data: observation = truth + noise. */
  clear: Uint8Array;
  /** The SCL classes this sky gives on this grid (at 20 m: exactly SCL.tif). */
  scl: Uint8Array;
}

/** Positions in a CRS the project reprojects (EPSG:4326, 3857, 6933 or a UTM zone). */
export interface Positions {
  crs: string;
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
}

/** A north-up grid in such a CRS (e.g. a geomedian tile in EPSG:6933): pixel centres x0 + (c + 0.5) res, y0 - (r + 0.5) res. */
export interface TargetGrid {
  crs: string;
  x0: number;
  y0: number;
  res: number;
  width: number;
  height: number;
}

/** Masks at arbitrary positions: SceneMasks without the grid's shape. */
export type PointMasks = Omit<SceneMasks, "resolution" | "width" | "height">;

/** A file of the archive for the file server: on disk, or made in memory (the item JSON). */
export type ArchiveFile = { path: string } | { data: Buffer; contentType: string; modified: Date };

export interface GenerateFilter {
  ids?: string[];
  /** lon/lat box the scenes' footprints must meet. */
  bbox?: [number, number, number, number];
  /** Sensing date range, inclusive, YYYY-MM-DD. */
  dates?: [string, string];
}

export interface SampleArchive {
  readonly options: SampleOptions;
  /** Content hash of the options and generator version: the cache directory's name. */
  readonly hash: string;
  /** `<cacheDir>/<hash>`: the file tree (`sentinel-s2-l2a-cogs/...`) lives here. */
  readonly root: string;
  readonly tiles: readonly Tile[];
  /** Every scene of the catalogue, by tile then time. */
  readonly scenes: readonly Scene[];
  scene(id: string): Scene | undefined;
  tile(code: string): Tile | undefined;
  /** The lon/lat bounding box of a scene's data footprint (its item's bbox). */
  bbox(id: string): [number, number, number, number];
  /** Estimated SCL statistics of a scene (on a coarse grid), as its item reports them. */
  stats(id: string): SceneStats;
  /** The scene's STAC item, hrefs under `urls`. */
  item(id: string, urls: SampleUrls, form?: ItemForm): Record<string, unknown>;
  /** Every item, in catalogue order. */
  items(urls: SampleUrls, form?: ItemForm): Record<string, unknown>[];
  /** Writes the scene's files unless present; resolves to its folder. */
  ensureScene(id: string): Promise<string>;
  /** Writes every scene that matches (all without a filter), `concurrency` at a time, logging progress. */
  generate(filter?: GenerateFilter): Promise<{ scenes: number; written: number; seconds: number }>;
  /** A path below the root as the file server sees it: the scene is written first if needed. */
  resolveFile(relPath: string, urls: SampleUrls): Promise<ArchiveFile | undefined>;
  /** The true surface reflectance of a band over a tile's grid window (resolution default: the band's). */
  trueSurface(tileCode: string, band: BandKey, resolution?: number, window?: PixelWindow): Float32Array;
  /** The scene's cloud, shadow, cirrus and no-data on its tile's grid at 10, 20 or 60 m. */
  sceneMasks(id: string, resolution: number, window?: PixelWindow): SceneMasks;
  /**
   * The true surface at points or pixel centres of any grid (say a geomedian tile in EPSG:6933): the
   * continuous 10 m truth evaluated there, whatever the band's native resolution.
   */
  trueSurfaceAt(band: BandKey, where: Positions | TargetGrid): Float32Array;
  /** A scene's masks at points or pixel centres of any grid (no data outside its swath, not its tile). */
  sceneMasksAt(id: string, where: Positions | TargetGrid): PointMasks;
}

const stableJson = (v: unknown): string =>
  Array.isArray(v)
    ? `[${v.map(stableJson).join(",")}]`
    : v !== null && typeof v === "object"
      ? `{${Object.keys(v)
          .sort()
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
          .join(",")}}`
      : JSON.stringify(v);

/** The cache key of a set of options. */
export function optionsHash(options: SampleOptions): string {
  return createHash("sha256").update(stableJson({ generator: GENERATOR_VERSION, options })).digest("hex").slice(0, 16);
}

/** A small counting semaphore: scene writing is CPU-bound, so no more at once than there are cores. */
function limiter(n: number) {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

/** Opens (and plans) the archive of these options; nothing is written but its manifest and statistics. */
export function openSampleArchive(params: SampleArchiveOptions): SampleArchive {
  const options = normalizeOptions(params.options);
  const hash = optionsHash(options);
  const root = path.join(params.cacheDir, hash);
  const log = params.log;
  const started = performance.now();
  const tiles = planTiles(options);
  const scenes = planScenes(options, tiles);
  const byId = new Map(scenes.map((s) => [s.id, s]));
  const byDir = new Map(scenes.map((s) => [s.dir, s]));
  const tileByCode = new Map(tiles.map((t) => [t.code, t]));
  const sky = new SkyModel(options, tiles);
  pruneOlderGenerators(params.cacheDir, log);
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(path.join(root, "manifest.json"), `${JSON.stringify({ generator: GENERATOR_VERSION, hash, options }, null, 2)}\n`);
  const partialDir = path.join(root, ".partial");
  // Leftovers of a run that stopped mid-scene (a live run's own are minutes old at most).
  if (fs.existsSync(partialDir)) {
    for (const name of fs.readdirSync(partialDir)) {
      const p = path.join(partialDir, name);
      if (Date.now() - fs.statSync(p).mtimeMs > 3600_000) fs.rmSync(p, { recursive: true, force: true });
    }
  }

  const statsById = loadOrComputeStats(root, options, tiles, scenes, sky);
  log?.info({ hash, tiles: tiles.length, scenes: scenes.length, ms: Math.round(performance.now() - started) }, "sample catalogue ready");

  // Two tiles' truth (~35 MB each at the default size): enough for generation, which goes tile by tile.
  const surfaces = new Map<string, TileSurface>();
  const surfaceOf = (tile: Tile) => {
    let s = surfaces.get(tile.code);
    if (s) {
      surfaces.delete(tile.code);
    } else {
      s = computeTileSurface(options, tile);
      if (surfaces.size >= 2) surfaces.delete(surfaces.keys().next().value as string);
    }
    surfaces.set(tile.code, s);
    return s;
  };

  const limit = limiter(Math.max(1, params.concurrency ?? os.availableParallelism()));
  const inflight = new Map<string, Promise<string>>();
  let counter = 0;
  const sceneOf = (id: string) => {
    const s = byId.get(id);
    if (!s) throw new Error(`No sample scene ${id}`);
    return s;
  };
  const ensureScene = (id: string): Promise<string> => {
    const scene = sceneOf(id);
    const dir = path.join(root, scene.dir);
    if (fs.existsSync(dir)) return Promise.resolve(dir);
    let p = inflight.get(id);
    if (!p) {
      p = limit(async () => {
        if (fs.existsSync(dir)) return dir;
        const tmp = path.join(partialDir, `${id}-${process.pid}-${++counter}`);
        fs.rmSync(tmp, { recursive: true, force: true });
        try {
          await writeScene(options, scene, surfaceOf(scene.tile), sky, statsById.get(id) as SceneStats, tmp);
          fs.mkdirSync(path.dirname(dir), { recursive: true });
          try {
            fs.renameSync(tmp, dir);
          } catch (err) {
            // Another process finished the same scene first: its copy is identical.
            if (!fs.existsSync(dir)) throw err;
          }
        } finally {
          fs.rmSync(tmp, { recursive: true, force: true });
        }
        return dir;
      }).finally(() => inflight.delete(id));
      inflight.set(id, p);
    }
    return p;
  };

  const bboxes = new Map<string, [number, number, number, number]>();
  const bboxOf = (id: string): [number, number, number, number] => {
    let b = bboxes.get(id);
    if (!b) {
      const ring = footprintLonLat(sceneOf(id));
      const lons = ring.map((p) => p[0]);
      const lats = ring.map((p) => p[1]);
      b = [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)];
      bboxes.set(id, b);
    }
    return b;
  };
  const item = (id: string, urls: SampleUrls, form: ItemForm = "api") => buildItem(sceneOf(id), statsById.get(id) as SceneStats, urls, form);

  const masksOf = (id: string, resolution: number, window?: PixelWindow): SceneMasks => {
    const scene = sceneOf(id);
    if (![10, 20, 60].includes(resolution)) throw new Error(`resolution must be 10, 20 or 60 m, not ${resolution}`);
    const full = tileGrid(scene.tile, resolution);
    const w = window ?? { col: 0, row: 0, width: full.width, height: full.height };
    const win: GridWindow = { x0: full.x0 + w.col * resolution, y0: full.y0 - w.row * resolution, res: resolution, width: w.width, height: w.height };
    const s: Sky = sky.skyOn(scene, win);
    const clear = new Uint8Array(s.valid.length);
    for (let p = 0; p < clear.length; p++) clear[p] = isClear(s, p) ? 1 : 0;
    return { resolution, width: w.width, height: w.height, cloud: s.cloud, shadow: s.shadow, cirrus: s.cirrus, valid: s.valid, clear, scl: sceneClassification(s, landCover(options, scene.tile.epsg, win)) };
  };

  const epsg = tiles[0]?.epsg ?? 32748;
  /** Where the positions are in the archive's UTM zone. */
  const utmOf = (where: Positions | TargetGrid): { xs: Float64Array; ys: Float64Array } => {
    let xs: ArrayLike<number>;
    let ys: ArrayLike<number>;
    if ("xs" in where) {
      if (where.xs.length !== where.ys.length) throw new Error("xs and ys differ in length");
      ({ xs, ys } = where);
    } else {
      const n = where.width * where.height;
      const gx = new Float64Array(n);
      const gy = new Float64Array(n);
      for (let p = 0; p < n; p++) {
        gx[p] = where.x0 + ((p % where.width) + 0.5) * where.res;
        gy[p] = where.y0 - (Math.floor(p / where.width) + 0.5) * where.res;
      }
      xs = gx;
      ys = gy;
    }
    const toUtm = transformer(where.crs, `EPSG:${epsg}`);
    const ux = new Float64Array(xs.length);
    const uy = new Float64Array(xs.length);
    for (let p = 0; p < xs.length; p++) [ux[p], uy[p]] = toUtm([xs[p] as number, ys[p] as number]);
    return { xs: ux, ys: uy };
  };

  return {
    options,
    hash,
    root,
    tiles,
    scenes,
    scene: (id) => byId.get(id),
    tile: (code) => tileByCode.get(code),
    bbox: bboxOf,
    stats: (id) => {
      sceneOf(id);
      return statsById.get(id) as SceneStats;
    },
    item,
    items: (urls, form) => scenes.map((s) => item(s.id, urls, form)),
    ensureScene,
    async generate(filter) {
      const t0 = performance.now();
      const ids = filter?.ids ? new Set(filter.ids) : undefined;
      const chosen = scenes.filter((s) => {
        if (ids && !ids.has(s.id)) return false;
        if (filter?.dates && (s.date < filter.dates[0] || s.date > filter.dates[1])) return false;
        if (filter?.bbox) {
          const b = bboxOf(s.id);
          const [w, so, e, n] = filter.bbox;
          if (b[0] > e || b[2] < w || b[1] > n || b[3] < so) return false;
        }
        return true;
      });
      const missing = chosen.filter((s) => !fs.existsSync(path.join(root, s.dir)));
      let done = 0;
      let lastLog = performance.now();
      if (missing.length > 0) log?.info({ scenes: missing.length, reused: chosen.length - missing.length, root }, "writing sample scenes");
      await Promise.all(
        missing.map(async (s) => {
          await ensureScene(s.id);
          done++;
          if (log && (performance.now() - lastLog > 2000 || done === missing.length)) {
            lastLog = performance.now();
            const seconds = (performance.now() - t0) / 1000;
            log.info({ done, of: missing.length, perSecond: Math.round((done / seconds) * 10) / 10 }, "writing sample scenes");
          }
        }),
      );
      return { scenes: chosen.length, written: missing.length, seconds: (performance.now() - t0) / 1000 };
    },
    async resolveFile(relPath, urls) {
      const dir = path.posix.dirname(relPath);
      const name = path.posix.basename(relPath);
      const scene = byDir.get(dir);
      if (!scene) return undefined;
      if (name === path.posix.basename(itemJsonPath(scene))) {
        const doc = item(scene.id, urls, "bucket");
        const updated = (doc.properties as Record<string, unknown>).updated as string;
        return { data: Buffer.from(`${JSON.stringify(doc)}\n`), contentType: "application/json", modified: new Date(updated) };
      }
      if (!SCENE_FILES.includes(name)) return undefined;
      return { path: path.join(await ensureScene(scene.id), name) };
    },
    trueSurface(tileCode, band, resolution, window) {
      const tile = tileByCode.get(tileCode);
      if (!tile) throw new Error(`No sample tile ${tileCode}`);
      if (!BAND_KEYS.includes(band)) throw new Error(`No band ${band}`);
      return trueSurface(options, tile, band, resolution, window);
    },
    sceneMasks: masksOf,
    trueSurfaceAt(band, where) {
      if (!BAND_KEYS.includes(band)) throw new Error(`No band ${band}`);
      const { xs, ys } = utmOf(where);
      return reflectanceOf(landCoverAt(options, epsg, xs, ys), band);
    },
    sceneMasksAt(id, where) {
      const scene = sceneOf(id);
      const { xs, ys } = utmOf(where);
      const s: Sky = sky.skyAt(scene, xs, ys);
      const clear = new Uint8Array(s.valid.length);
      for (let p = 0; p < clear.length; p++) clear[p] = isClear(s, p) ? 1 : 0;
      return { cloud: s.cloud, shadow: s.shadow, cirrus: s.cirrus, valid: s.valid, clear, scl: sceneClassification(s, landCoverAt(options, epsg, xs, ys)) };
    },
  };
}

/**
 * Removes archives an older generator wrote: no code can read them back the same way. Archives of
 * other options from this generator stay (switching options back reuses them).
 */
function pruneOlderGenerators(cacheDir: string, log: Logger | undefined): void {
  if (!fs.existsSync(cacheDir)) return;
  for (const name of fs.readdirSync(cacheDir)) {
    const manifest = path.join(cacheDir, name, "manifest.json");
    let generator: unknown;
    try {
      generator = (JSON.parse(fs.readFileSync(manifest, "utf8")) as { generator?: unknown }).generator;
    } catch {
      continue;
    }
    if (generator !== GENERATOR_VERSION) {
      fs.rmSync(path.join(cacheDir, name), { recursive: true, force: true });
      log?.info({ dir: path.join(cacheDir, name), generator }, "removed sample scenes of an older generator");
    }
  }
}

/** Coarse grid of a tile on which item statistics are estimated (48 x 48 cells). */
const STATS_CELLS = 48;

/**
 * Each scene's SCL percentages, estimated on a coarse grid (computing them at 20 m would cost as much
 * as writing the scene), cached beside the manifest: planning 6 000 scenes' skies takes seconds.
 */
function loadOrComputeStats(root: string, options: SampleOptions, tiles: Tile[], scenes: Scene[], sky: SkyModel): Map<string, SceneStats> {
  const file = path.join(root, "scene-stats.json");
  try {
    const cached = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, SceneStats>;
    if (scenes.every((s) => cached[s.id])) return new Map(Object.entries(cached));
  } catch {
    // No cache yet (or a torn one): compute below.
  }
  const covers = new Map(
    tiles.map((t) => {
      const res = (t.size * 10) / STATS_CELLS;
      return [t.code, landCover(options, t.epsg, { x0: t.ulx, y0: t.uly, res, width: STATS_CELLS, height: STATS_CELLS })];
    }),
  );
  const out = new Map<string, SceneStats>();
  for (const s of scenes) {
    const res = (s.tile.size * 10) / STATS_CELLS;
    const scl = sceneClassification(sky.skyOn(s, { x0: s.tile.ulx, y0: s.tile.uly, res, width: STATS_CELLS, height: STATS_CELLS }), covers.get(s.tile.code) as ReturnType<typeof landCover>);
    const count = new Array<number>(12).fill(0);
    for (const c of scl) count[c] = (count[c] as number) + 1;
    const valid = scl.length - (count[0] as number);
    const pct = (c: number) => (valid > 0 ? (100 * (count[c] as number)) / valid : 0);
    out.set(s.id, {
      nodata: (100 * (count[0] as number)) / scl.length,
      cloudShadow: pct(3),
      vegetation: pct(4),
      notVegetated: pct(5),
      water: pct(6),
      mediumClouds: pct(8),
      highClouds: pct(9),
      thinCirrus: pct(10),
    });
  }
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(out)));
  fs.renameSync(tmp, file);
  return out;
}
