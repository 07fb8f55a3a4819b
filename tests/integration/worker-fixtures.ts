import fs from "node:fs";
import path from "node:path";
import gdal from "gdal-async";
import { uuid5 } from "~/features/indexing/stac-to-eo3";
import { parseGridSpec, parseTaskId, tileBounds, type GridSpec, type TaskId } from "~/lib/grid";
import type { IndexPort, NewDataset } from "~/server/drivers/index";
import { transformer } from "~/server/odc/crs";
import { parseOdcYaml } from "~/server/odc/definitions";
import { EO3_SCHEMA, type Eo3Document } from "~/server/odc/eo3";
import { eo3MetadataTypeYaml, s2L2aProductYaml } from "~/server/odc/standard-definitions";

/**
 * Synthetic Sentinel-2 L2A scenes with a known surface, for the worker's integration tests (the
 * sample generator of the embedded default replaces them in end-to-end runs): UTM zone 48S
 * (EPSG:32748) around 106.8 E, 6.5 S, ten 10 m and 20 m bands plus SCL as COGs in Earth Search's
 * layout (`B02.tif` ... `SCL.tif` beside the item), EO3 documents as stac-to-dc writes them, with
 * relative measurement paths.
 *
 * Each scene is the true surface with 1 % noise, plus clouds (bright, SCL 9, the flagged disc 20 m
 * smaller than the bright one, as Sen2Cor misses cloud edges), cloud shadows (dark, SCL 3, same),
 * thin cirrus (SCL 10), false-positive cloud specks over clear ground (SCL 9, one 20 m pixel: the
 * opening must drop them) and nodata (DN 0, SCL 0) beyond a swath edge.
 */

export const CRS = "EPSG:32748";
const SCENE_ID_NAMESPACE = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";

/** Asset key -> file name, resolution (m) as Earth Search v1 (every measurement of the s2_l2a product). */
export const ASSETS: Readonly<Record<string, { file: string; res: 10 | 20 | 60 }>> = {
  coastal: { file: "B01.tif", res: 60 },
  blue: { file: "B02.tif", res: 10 },
  green: { file: "B03.tif", res: 10 },
  red: { file: "B04.tif", res: 10 },
  rededge1: { file: "B05.tif", res: 20 },
  rededge2: { file: "B06.tif", res: 20 },
  rededge3: { file: "B07.tif", res: 20 },
  nir: { file: "B08.tif", res: 10 },
  nir08: { file: "B8A.tif", res: 20 },
  swir16: { file: "B11.tif", res: 20 },
  swir22: { file: "B12.tif", res: 20 },
  nir09: { file: "B09.tif", res: 60 },
  scl: { file: "SCL.tif", res: 20 },
  aot: { file: "AOT.tif", res: 20 },
  wvp: { file: "WVP.tif", res: 20 },
};
export const REFLECTANCE = ["blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "swir16", "swir22"] as const;

const BASE = [0.04, 0.07, 0.06, 0.1, 0.18, 0.22, 0.26, 0.28, 0.2, 0.12];
const AMP = [0.02, 0.03, 0.04, 0.04, 0.06, 0.08, 0.1, 0.1, 0.06, 0.05];

/** The true surface reflectance of band `b` (REFLECTANCE order) at UTM (e, n): smooth, 6-7 km waves. */
export function truth(b: number, e: number, n: number): number {
  return BASE[b]! + AMP[b]! * Math.sin((2 * Math.PI * e) / 7000 + b) * Math.cos((2 * Math.PI * n) / 6000 + 0.5 * b);
}

/** A disc in UTM metres. */
export interface Disc {
  e: number;
  n: number;
  r: number;
}

/** One scene: an acquisition of the area. */
export interface SceneSpec {
  name: string;
  time: Date;
  baseline: "02.14" | "04.00" | "05.10";
  /** Earth Search's `earthsearch:boa_offset_applied`. */
  offsetApplied?: boolean;
  platform?: "sentinel-2a" | "sentinel-2b";
  clouds?: Disc[];
  shadows?: Disc[];
  cirrus?: Disc[];
  /** Single 20 m SCL pixels flagged as cloud over clear ground. */
  specks?: [number, number][];
  /** Nodata east of this easting (a swath edge), west of `dataFromE`. */
  dataUntilE?: number;
  dataFromE?: number;
  /** Nodata in this box for this scene (used for the corner no scene covers). */
  noData?: { e0: number; e1: number; n0: number; n1: number };
  /** The EO3 footprint, when it should differ from the raster's outline. */
  footprint?: number[][];
  seed: number;
}

/** The area the scenes cover: a UTM rectangle on the 20 m grid. */
export interface SceneExtent {
  x0: number;
  y0: number;
  /** Size in 10 m pixels (multiples of 6). */
  width: number;
  height: number;
  /** Block size of the COGs. */
  block: number;
}

/** A tile of a small grid over the area, and scene extents covering it with a margin. */
export interface Site {
  grid: GridSpec;
  task: TaskId;
  /** The tile's centre in UTM. */
  centre: { e: number; n: number };
  extent: SceneExtent;
}

/** The test site: a 512 px (5.12 km) tile of `global_10:512` at 106.8 E, 6.5 S, scenes covering it and 1.2 km more. */
export function testSite(opts: { tilePixels?: number; block?: number; marginM?: number } = {}): Site {
  const grid = parseGridSpec(`global_10:${opts.tilePixels ?? 512}`);
  const probe = transformer("EPSG:4326", grid.crs)([106.8, -6.5]);
  const tile = { x: Math.floor((probe[0] - grid.origin.x) / grid.tileSize), y: Math.floor((probe[1] - grid.origin.y) / grid.tileSize) };
  const task = parseTaskId(`2024--P1Y/${tile.x}/${tile.y}`);
  const b = tileBounds(grid, tile);
  const toUtm = transformer(grid.crs, CRS);
  const corners = [[b.left, b.bottom], [b.right, b.bottom], [b.right, b.top], [b.left, b.top]].map(([x, y]) => toUtm([x!, y!]));
  const margin = opts.marginM ?? 1200;
  const snap = 60;
  const e0 = Math.floor((Math.min(...corners.map((c) => c[0])) - margin) / snap) * snap;
  const e1 = Math.ceil((Math.max(...corners.map((c) => c[0])) + margin) / snap) * snap;
  const n0 = Math.floor((Math.min(...corners.map((c) => c[1])) - margin) / snap) * snap;
  const n1 = Math.ceil((Math.max(...corners.map((c) => c[1])) + margin) / snap) * snap;
  const [ce, cn] = toUtm([(b.left + b.right) / 2, (b.bottom + b.top) / 2]);
  return { grid, task, centre: { e: ce, n: cn }, extent: { x0: e0, y0: n1, width: (e1 - e0) / 10, height: (n1 - n0) / 10, block: opts.block ?? 256 } };
}

/** Deterministic uniform numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 2 ** 32);
}

const inDisc = (e: number, n: number, d: Disc, grow = 0) => (e - d.e) ** 2 + (n - d.n) ** 2 <= (d.r + grow) ** 2;

/** Whether the scene has data at (e, n) (inside its raster, its swath and outside its nodata box). */
export function hasData(s: SceneSpec, x: SceneExtent, e: number, n: number): boolean {
  if (e < x.x0 || e >= x.x0 + x.width * 10 || n > x.y0 || n <= x.y0 - x.height * 10) return false;
  if (s.dataUntilE !== undefined && e >= s.dataUntilE) return false;
  if (s.dataFromE !== undefined && e < s.dataFromE) return false;
  if (s.noData && e >= s.noData.e0 && e < s.noData.e1 && n >= s.noData.n0 && n < s.noData.n1) return false;
  return true;
}

/** The SCL class the scene has at (e, n) (clouds and shadows flagged 20 m inside their bright/dark extent). */
export function sclAt(s: SceneSpec, x: SceneExtent, e: number, n: number): number {
  if (!hasData(s, x, e, n)) return 0;
  if ((s.clouds ?? []).some((d) => inDisc(e, n, d, -20))) return 9;
  if ((s.shadows ?? []).some((d) => inDisc(e, n, d, -20))) return 3;
  if ((s.cirrus ?? []).some((d) => inDisc(e, n, d))) return 10;
  return 4;
}

/** The scene's reflectance of band b at (e, n), before noise; NaN for nodata. */
function sceneReflectance(s: SceneSpec, x: SceneExtent, b: number, e: number, n: number): number {
  if (!hasData(s, x, e, n)) return NaN;
  if ((s.clouds ?? []).some((d) => inDisc(e, n, d))) return 0.55 + 0.02 * b;
  if ((s.shadows ?? []).some((d) => inDisc(e, n, d))) return truth(b, e, n) * 0.25;
  if ((s.cirrus ?? []).some((d) => inDisc(e, n, d))) return truth(b, e, n) + 0.05;
  return truth(b, e, n);
}

/** The DN a scene stores for a reflectance (baseline 04.00+ adds 1000 unless already offset). */
export function offsetDn(s: SceneSpec): number {
  return Number(s.baseline) >= 4 && s.offsetApplied !== true ? 1000 : 0;
}

async function writeCog(file: string, width: number, height: number, type: string, gt: number[], data: Uint8Array | Uint16Array, block: number): Promise<void> {
  const mem = gdal.drivers.get("MEM").create("", width, height, 1, type);
  mem.geoTransform = gt;
  mem.srs = gdal.SpatialReference.fromEPSG(32748);
  const band = mem.bands.get(1);
  band.noDataValue = 0;
  band.pixels.write(0, 0, width, height, data);
  const cog = await gdal.translateAsync(file, mem, ["-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=YES", "-co", `BLOCKSIZE=${block}`, "-co", "OVERVIEW_RESAMPLING=AVERAGE"]);
  cog.close();
  mem.close();
}

/** Writes the scene's eleven COGs under `dir/<name>/`. */
export async function writeScene(dir: string, s: SceneSpec, x: SceneExtent): Promise<void> {
  const out = path.join(dir, s.name);
  fs.mkdirSync(out, { recursive: true });
  const rnd = random(s.seed);
  const offset = offsetDn(s);
  for (const [key, asset] of Object.entries(ASSETS)) {
    const res = asset.res;
    const [w, h] = [(x.width * 10) / res, (x.height * 10) / res];
    const gt = [x.x0, res, 0, x.y0, 0, -res];
    const b = REFLECTANCE.indexOf(key as (typeof REFLECTANCE)[number]);
    if (key === "scl") {
      const data = new Uint8Array(w * h);
      for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) data[j * w + i] = sclAt(s, x, x.x0 + (i + 0.5) * res, x.y0 - (j + 0.5) * res);
      for (const [e, n] of s.specks ?? []) {
        const [i, j] = [Math.floor((e - x.x0) / res), Math.floor((x.y0 - n) / res)];
        if (data[j * w + i] !== 0) data[j * w + i] = 9;
      }
      await writeCog(path.join(out, asset.file), w, h, gdal.GDT_Byte, gt, data, x.block);
      continue;
    }
    const data = new Uint16Array(w * h);
    if (b < 0) {
      // Bands the geomedian does not use: present (the product requires them), constant.
      data.fill(500);
      await writeCog(path.join(out, asset.file), w, h, gdal.GDT_UInt16, gt, data, x.block);
      continue;
    }
    for (let j = 0; j < h; j++) {
      for (let i = 0; i < w; i++) {
        const r = sceneReflectance(s, x, b, x.x0 + (i + 0.5) * res, x.y0 - (j + 0.5) * res);
        if (Number.isNaN(r)) continue;
        const noisy = r * (1 + 0.02 * (rnd() - 0.5));
        data[j * w + i] = Math.max(1, Math.min(65535, Math.round(noisy * 10_000) + offset));
      }
    }
    await writeCog(path.join(out, asset.file), w, h, gdal.GDT_UInt16, gt, data, x.block);
  }
}

/** The scene's dataset id (a UUID, as Earth Search items are indexed by stac-to-dc's uuid5). */
export const sceneId = (name: string) => uuid5(SCENE_ID_NAMESPACE, name);

/** The scene's EO3 document, located at `<baseUrl>/<name>/<name>.json` with relative measurement paths. */
export function sceneDataset(s: SceneSpec, x: SceneExtent, baseUrl: string): NewDataset {
  const [e0, e1, n1, n0] = [x.x0, x.x0 + x.width * 10, x.y0, x.y0 - x.height * 10];
  const document: Eo3Document = {
    $schema: EO3_SCHEMA,
    id: sceneId(s.name),
    label: s.name,
    product: { name: "s2_l2a" },
    crs: CRS,
    grids: {
      default: { shape: [x.height, x.width], transform: [10, 0, e0, 0, -10, n1] },
      g20m: { shape: [x.height / 2, x.width / 2], transform: [20, 0, e0, 0, -20, n1] },
      g60m: { shape: [x.height / 6, x.width / 6], transform: [60, 0, e0, 0, -60, n1] },
    },
    geometry: { type: "Polygon", coordinates: [s.footprint ?? [[e0, n1], [e1, n1], [e1, n0], [e0, n0], [e0, n1]]] },
    properties: {
      datetime: s.time.toISOString(),
      "eo:platform": s.platform ?? "sentinel-2a",
      "eo:instrument": "MSI",
      "eo:cloud_cover": 10,
      "odc:region_code": "48MYU",
      "odc:processing_datetime": s.time.toISOString(),
      "odc:file_format": "GeoTIFF",
      "s2:processing_baseline": s.baseline,
      ...(s.offsetApplied !== undefined && { "earthsearch:boa_offset_applied": s.offsetApplied }),
    },
    measurements: Object.fromEntries(Object.entries(ASSETS).map(([k, a]) => [k, { path: a.file, ...(a.res !== 10 && { grid: `g${a.res}m` }) }])),
    lineage: {},
  };
  return { document, uris: [`${baseUrl}/${s.name}/${s.name}.json`] };
}

/** An index with the eo3 type and s2_l2a (gm_s2_annual is left for the worker to add). */
export async function prepareIndex(index: IndexPort, datasets: NewDataset[]): Promise<void> {
  await index.init({ withPermissions: false });
  await index.addMetadataType(parseOdcYaml(eo3MetadataTypeYaml)[0]);
  await index.addProduct(parseOdcYaml(s2L2aProductYaml)[0]);
  const result = await index.addDatasets(datasets);
  if (result.rejected.length > 0) throw new Error(`fixture datasets rejected: ${JSON.stringify(result.rejected)}`);
}

const at = (day: number, minute = 20, second = 10) => new Date(Date.UTC(2024, 0, 1 + day, 3, minute, second));

/**
 * The year of scenes over the test site: ten solar days (four at baseline 02.14, three at 05.10 with
 * the offset, one at 05.10 already offset, one at 04.00, one day made of two granules that overlap),
 * plus one scene of the year before and one whose footprint misses the tile, which must be left out.
 * Features sit at fixed offsets from the tile centre; a "persistent" cloud covers one spot on seven
 * of the ten days; a corner of the tile is nodata in every scene.
 */
export function yearOfScenes(site: Site): { scenes: SceneSpec[]; persistent: Disc; corner: { e0: number; e1: number; n0: number; n1: number }; splitE: number } {
  const { e, n } = site.centre;
  const persistent: Disc = { e: e - 1200, n: n + 900, r: 500 };
  const corner = { e0: e + 2000, e1: e + 1e5, n0: n + 1400, n1: n + 1e5 };
  const splitE = e + 300;
  const cloud = (de: number, dn: number, r: number): Disc => ({ e: e + de, n: n + dn, r });
  const common = { noData: corner };
  const scenes: SceneSpec[] = [
    { name: "S2A_48MYU_20240115_0_L2A", time: at(14), baseline: "02.14", clouds: [persistent, cloud(1500, -1200, 400)], shadows: [cloud(1000, -1300, 350)], seed: 1, ...common },
    { name: "S2B_48MYU_20240220_0_L2A", time: at(50), baseline: "02.14", platform: "sentinel-2b", clouds: [persistent], specks: [[e + 200, n - 200], [e - 700, n + 100], [e + 900, n + 600]], seed: 2, ...common },
    { name: "S2A_48MYU_20240326_0_L2A", time: at(85), baseline: "02.14", clouds: [persistent, cloud(-300, -800, 600)], shadows: [cloud(-900, -1000, 400)], seed: 3, ...common },
    { name: "S2B_48MYU_20240430_0_L2A", time: at(120), baseline: "02.14", platform: "sentinel-2b", cirrus: [cloud(400, 300, 700)], dataUntilE: e + 1700, seed: 4, ...common },
    { name: "S2A_48MYU_20240604_0_L2A", time: at(155), baseline: "05.10", clouds: [persistent, cloud(2000, 0, 500)], seed: 5, ...common },
    { name: "S2B_48MYU_20240709_0_L2A", time: at(190), baseline: "05.10", platform: "sentinel-2b", clouds: [persistent], shadows: [cloud(-1800, -600, 450)], seed: 6, ...common },
    // One solar day, two granules 5 s apart: the first has data west of splitE + 400 m, the second east of splitE - 400 m.
    { name: "S2A_48MYU_20240813_0_L2A", time: at(225), baseline: "05.10", dataUntilE: splitE + 400, clouds: [persistent], seed: 7, ...common },
    { name: "S2A_48MXU_20240813_0_L2A", time: at(225, 20, 15), baseline: "05.10", dataFromE: splitE - 400, clouds: [persistent], seed: 8, ...common },
    { name: "S2B_48MYU_20240917_0_L2A", time: at(260), baseline: "05.10", platform: "sentinel-2b", offsetApplied: true, clouds: [persistent, cloud(-600, 1200, 300)], seed: 9, ...common },
    { name: "S2A_48MYU_20241022_0_L2A", time: at(295), baseline: "04.00", offsetApplied: false, clouds: [cloud(600, -300, 500)], seed: 10, ...common },
    { name: "S2B_48MYU_20241126_0_L2A", time: at(330), baseline: "05.10", platform: "sentinel-2b", seed: 11, ...common },
    // Left out: the year before; a footprint away from the tile (its lon/lat extent still meets the tile's).
    { name: "S2A_48MYU_20231220_0_L2A", time: new Date(Date.UTC(2023, 11, 20, 3, 20, 10)), baseline: "05.10", seed: 12, ...common },
    {
      name: "S2B_48MYU_20240601_0_L2A",
      time: at(152),
      baseline: "05.10",
      seed: 13,
      footprint: (() => {
        const [x0, y0] = [site.extent.x0, site.extent.y0];
        return [[x0, y0], [x0 + 400, y0], [x0, y0 - 400], [x0, y0]];
      })(),
      ...common,
    },
  ];
  return { scenes, persistent, corner, splitE };
}

/** Solar days the year's scenes make (the split granules share one). */
export const SOLAR_DAYS = 10;
