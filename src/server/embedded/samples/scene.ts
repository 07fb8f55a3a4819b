import "server-only";
import fs from "node:fs";
import path from "node:path";
import type { Dataset } from "gdal-async";
import { sampleField, type GridWindow } from "./fields";
import { REFLECTANCE_BANDS, tileGrid, type BandKey, type SampleOptions, type Scene, type Tile } from "./layout";
import { GAUSSIAN_TABLE, hashInts, hashString, mulberry32 } from "./random";
import { CIRRUS_SPECTRUM, CLOUD_SPECTRUM, SHADOW_DEPTH, sceneClassification, type Sky, type SkyModel } from "./sky";
import { blockMean, landCover, reflectanceOf, type LandCover } from "./surface";
import { granuleMetadataXml, tileInfoJson, type SceneStats } from "./metadata";

/**
 * Pixels of one scene: truth, then shadow, cloud, cirrus and sensor noise, quantised to L2A digital
 * numbers (offset by +1000 from processing baseline 04.00), with SCL, AOT, WVP, a true-colour image
 * and a thumbnail; written as COGs by GDAL's COG driver into the scene's folder.
 */

/** The truth of one tile at each band's native grid, and its land cover at 20 m (for SCL). */
export interface TileSurface {
  truth: Map<BandKey, Float32Array>;
  cover20: LandCover;
}

/** Computes a tile's surface once: 10 m land cover, each band's reflectance averaged to its grid. */
export function computeTileSurface(opts: SampleOptions, tile: Tile): TileSurface {
  const grid10 = tileGrid(tile, 10);
  const cover10 = landCover(opts, tile.epsg, grid10);
  const truth = new Map<BandKey, Float32Array>();
  for (const b of REFLECTANCE_BANDS) truth.set(b.key, blockMean(reflectanceOf(cover10, b.key), grid10.width, grid10.height, b.res / 10));
  return { truth, cover20: landCover(opts, tile.epsg, tileGrid(tile, 20)) };
}

/** Reflectance -> L2A digital number: 0 is no data, so valid pixels are kept at 1 or more. */
const toDn = (reflectance: number, offsetDn: number) => {
  const dn = Math.round(reflectance * 10000) + offsetDn;
  return dn < 1 ? 1 : dn > 65535 ? 65535 : dn;
};

/** One band as the sensor records it on this scene, in digital numbers. */
export function observeBand(opts: SampleOptions, scene: Scene, band: BandKey, truth: Float32Array, sky: Sky): Uint16Array {
  const k = REFLECTANCE_BANDS.findIndex((b) => b.key === band);
  const cloudRef = CLOUD_SPECTRUM[k] as number;
  const cirrusRef = CIRRUS_SPECTRUM[k] as number;
  const next = mulberry32(hashInts(opts.seed, hashString(scene.id), k));
  const sigma = opts.noise;
  const out = new Uint16Array(truth.length);
  for (let p = 0; p < out.length; p++) {
    if (!sky.valid[p]) {
      // Keep the noise stream aligned with pixel positions whatever the swath covers.
      next();
      continue;
    }
    const a = sky.cloud[p] as number;
    const ground = (truth[p] as number) * (1 - SHADOW_DEPTH * (sky.shadow[p] as number));
    const seen = ground * (1 - a) + cloudRef * (sky.brightness[p] as number) * a + cirrusRef * (sky.cirrus[p] as number);
    out[p] = toDn(seen + sigma * (GAUSSIAN_TABLE[next() >>> 20] as number), scene.offsetDn);
  }
  return out;
}

/** Aerosol optical thickness (scale 0.001) and water vapour (scale 0.001 cm): smooth, per overpass. */
function atmosphereBands(opts: SampleOptions, scene: Scene, grid: GridWindow, valid: Uint8Array): { aot: Uint16Array; wvp: Uint16Array } {
  const seed = hashInts(opts.seed, hashString(`atmosphere:${scene.date}`));
  const a = sampleField({ seed, spacing: 30000, octaves: 2 }, grid);
  const w = sampleField({ seed: seed ^ 0x5bd1e995, spacing: 40000, octaves: 2 }, grid);
  const aot = new Uint16Array(a.length);
  const wvp = new Uint16Array(a.length);
  for (let p = 0; p < a.length; p++) {
    if (!valid[p]) continue;
    aot[p] = Math.round(1000 * (0.08 + 0.25 * (a[p] as number)));
    wvp[p] = Math.round(1000 * (1.8 + 2.4 * (w[p] as number)));
  }
  return { aot, wvp };
}

/** Sen2Cor's true-colour image: reflectance 0..0.2 stretched to 1..255, 0 for no data. */
function trueColour(dn: Uint16Array, offsetDn: number): Uint8Array {
  const out = new Uint8Array(dn.length);
  for (let p = 0; p < dn.length; p++) {
    const v = dn[p] as number;
    if (v === 0) continue;
    const scaled = Math.round(((v - offsetDn) / 2000) * 255);
    out[p] = scaled < 1 ? 1 : scaled > 255 ? 255 : scaled;
  }
  return out;
}

type Gdal = typeof import("gdal-async");
let gdalModule: Promise<Gdal> | undefined;
/** GDAL is loaded on first use: the console and the STAC server never need the native binding. */
function loadGdal(): Promise<Gdal> {
  gdalModule ??= import("gdal-async").then((m) => ((m as unknown as { default?: Gdal }).default ?? m) as Gdal);
  return gdalModule;
}

interface RasterSpec {
  file: string;
  grid: GridWindow;
  bands: (Uint16Array | Uint8Array)[];
  type: "UInt16" | "Byte";
  resampling: "AVERAGE" | "NEAREST";
  /** Horizontal differencing before compression (helps smooth rasters; SCL and JPEG need none). */
  predictor: boolean;
  /** Lossy JPEG instead of the archive's codec (the 8-bit true-colour image, as a preview). */
  jpeg?: boolean;
}

async function writeCog(gdal: Gdal, opts: SampleOptions, epsg: number, spec: RasterSpec): Promise<Dataset> {
  const mem = gdal.open("", "w", "MEM", spec.grid.width, spec.grid.height, spec.bands.length, spec.type);
  mem.srs = gdal.SpatialReference.fromEPSG(epsg);
  mem.geoTransform = [spec.grid.x0, spec.grid.res, 0, spec.grid.y0, 0, -spec.grid.res];
  spec.bands.forEach((data, i) => {
    const band = mem.bands.get(i + 1);
    band.noDataValue = 0;
    band.pixels.write(0, 0, spec.grid.width, spec.grid.height, data);
  });
  const options = [
    ...(spec.jpeg
      ? ["COMPRESS=JPEG", "QUALITY=85"]
      : [
          `COMPRESS=${opts.compress}`,
          // Level 1: a third of the default's time for a few percent more bytes on noisy data.
          "LEVEL=1",
          `PREDICTOR=${spec.predictor ? "YES" : "NO"}`,
        ]),
    `BLOCKSIZE=${opts.blockSize}`,
    `OVERVIEW_RESAMPLING=${spec.resampling}`,
    // No creation time or software tag: the same options must give byte-identical files.
    "STATISTICS=NO",
  ];
  const out = await gdal.drivers.get("COG").createCopyAsync(spec.file, mem, options);
  mem.close();
  return out;
}

/** The files a scene folder holds (besides the item JSON, which the server makes). */
export const SCENE_FILES = [...REFLECTANCE_BANDS.map((b) => `${b.file}.tif`), "SCL.tif", "AOT.tif", "WVP.tif", "TCI.tif", "thumbnail.jpg", "tileinfo_metadata.json", "granule_metadata.xml"];

/**
 * Writes one scene into `dir` (created; must not exist). The caller renames a temporary folder into
 * place, so a folder that exists is complete.
 */
export async function writeScene(opts: SampleOptions, scene: Scene, surface: TileSurface, skyModel: SkyModel, stats: SceneStats, dir: string): Promise<void> {
  const gdal = await loadGdal();
  fs.mkdirSync(dir, { recursive: true });
  const { tile } = scene;
  const skies = new Map<number, Sky>();
  const skyAt = (res: number) => {
    let s = skies.get(res);
    if (!s) {
      s = skyModel.skyOn(scene, tileGrid(tile, res));
      skies.set(res, s);
    }
    return s;
  };
  const observed = new Map<BandKey, Uint16Array>();
  const pending: Promise<Dataset>[] = [];
  for (const b of REFLECTANCE_BANDS) {
    const dn = observeBand(opts, scene, b.key, surface.truth.get(b.key) as Float32Array, skyAt(b.res));
    observed.set(b.key, dn);
    pending.push(writeCog(gdal, opts, tile.epsg, { file: path.join(dir, `${b.file}.tif`), grid: tileGrid(tile, b.res), bands: [dn], type: "UInt16", resampling: "AVERAGE", predictor: true }));
  }
  const sky20 = skyAt(20);
  const grid20 = tileGrid(tile, 20);
  pending.push(writeCog(gdal, opts, tile.epsg, { file: path.join(dir, "SCL.tif"), grid: grid20, bands: [sceneClassification(sky20, surface.cover20)], type: "Byte", resampling: "NEAREST", predictor: false }));
  const { aot, wvp } = atmosphereBands(opts, scene, grid20, sky20.valid);
  pending.push(writeCog(gdal, opts, tile.epsg, { file: path.join(dir, "AOT.tif"), grid: grid20, bands: [aot], type: "UInt16", resampling: "AVERAGE", predictor: true }));
  pending.push(writeCog(gdal, opts, tile.epsg, { file: path.join(dir, "WVP.tif"), grid: grid20, bands: [wvp], type: "UInt16", resampling: "AVERAGE", predictor: true }));
  const tci = ["red", "green", "blue"].map((k) => trueColour(observed.get(k as BandKey) as Uint16Array, scene.offsetDn));
  const tciFile = path.join(dir, "TCI.tif");
  const tciDataset = await writeCog(gdal, opts, tile.epsg, { file: tciFile, grid: tileGrid(tile, 10), bands: tci, type: "Byte", resampling: "AVERAGE", predictor: false, jpeg: true });
  const thumb = Math.min(343, Math.max(64, Math.round(tile.size / 4)));
  const jpeg = await gdal.translateAsync(path.join(dir, "thumbnail.jpg"), tciDataset, ["-of", "JPEG", "-outsize", String(thumb), String(thumb), "-r", "average", "-co", "QUALITY=80"]);
  jpeg.close();
  tciDataset.close();
  for (const ds of await Promise.all(pending)) ds.close();
  // GDAL's JPEG driver leaves a .aux.xml beside a file it wrote from a georeferenced source.
  fs.rmSync(path.join(dir, "thumbnail.jpg.aux.xml"), { force: true });
  fs.writeFileSync(path.join(dir, "tileinfo_metadata.json"), `${JSON.stringify(tileInfoJson(scene, stats), null, 2)}\n`);
  fs.writeFileSync(path.join(dir, "granule_metadata.xml"), granuleMetadataXml(scene));
}
