import "server-only";
import { transformer } from "~/server/odc/crs";
import { ramp, sampleField, samplePoints, type GridWindow } from "./fields";
import { REFLECTANCE_BANDS, type BandKey, type SampleOptions, type Tile } from "./layout";
import { hashInts, hashString } from "./random";

/**
 * The known true surface: what a perfect, cloud-free, noise-free Sentinel-2 L2A would measure.
 * Four land covers (vegetation, bare soil, urban, water) mix smoothly over the map, each with a
 * plausible surface-reflectance spectrum, and a mild texture varies brightness within a cover. The
 * surface does not change over the year, so every acquisition of a pixel has the same truth: a
 * geomedian of the cloud-masked series should land on it within the noise.
 */

/** Surface reflectance spectra, in REFLECTANCE_BANDS order (coastal ... swir22). */
export const SIGNATURES = {
  vegetation: [0.025, 0.035, 0.07, 0.04, 0.11, 0.26, 0.33, 0.36, 0.38, 0.37, 0.2, 0.1],
  bare: [0.06, 0.075, 0.105, 0.135, 0.17, 0.2, 0.22, 0.24, 0.25, 0.25, 0.31, 0.26],
  urban: [0.09, 0.1, 0.115, 0.13, 0.145, 0.16, 0.17, 0.18, 0.19, 0.19, 0.23, 0.21],
  // Turbid inland water, as Java's rivers and reservoirs are.
  water: [0.06, 0.055, 0.06, 0.04, 0.035, 0.025, 0.02, 0.018, 0.015, 0.012, 0.011, 0.009],
} as const;

/** Land-cover weights (summing to 1) and texture at the centres of a grid's pixels. */
export interface LandCover {
  water: Float32Array;
  urban: Float32Array;
  vegetation: Float32Array;
  bare: Float32Array;
  /** Relative brightness variation within a cover, about +-10 %. */
  texture: Float32Array;
}

const fieldSeed = (seed: number, name: string) => hashInts(seed, hashString(`surface:${name}`));

const FIELDS = {
  lakes: { spacing: 4000, octaves: 3 },
  urban: { spacing: 5000, octaves: 4 },
  vegetation: { spacing: 1500, octaves: 4 },
  texture: { spacing: 240, octaves: 2 },
} as const;

/**
 * Mixes the covers from their fields at n positions, x(p) and y(p) in UTM metres: one rule for grids
 * and for arbitrary points.
 */
function mixCover(opts: SampleOptions, epsg: number, n: number, sample: (name: keyof typeof FIELDS) => Float32Array, xOf: (p: number) => number, yOf: (p: number) => number): LandCover {
  const lakes = sample("lakes");
  const urbanField = sample("urban");
  const vegField = sample("vegetation");
  const textureField = sample("texture");
  // A meandering river flowing north through the area, as the Ciliwung does from Bogor to Jakarta.
  const [riverX] = transformer("EPSG:4326", `EPSG:${epsg}`)([106.83, -6.5]);
  const phase = (k: number) => (hashInts(opts.seed, hashString("river"), k) % 6283) / 1000;
  const [p1, p2, p3] = [phase(1), phase(2), phase(3)];
  const water = new Float32Array(n);
  const urban = new Float32Array(n);
  const vegetation = new Float32Array(n);
  const bare = new Float32Array(n);
  const texture = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    const y = yOf(p);
    const centre = riverX + 1400 * Math.sin((2 * Math.PI * y) / 11000 + p1) + 500 * Math.sin((2 * Math.PI * y) / 3100 + p2) + 150 * Math.sin((2 * Math.PI * y) / 900 + p3);
    const river = 1 - ramp(Math.abs(xOf(p) - centre), 35, 20);
    const w = Math.max(river, ramp(lakes[p] as number, 0.74, 0.03));
    const u = ramp(urbanField[p] as number, 0.58, 0.08);
    const share = ramp(vegField[p] as number, 0.28, 0.24);
    water[p] = w;
    urban[p] = u * (1 - w);
    vegetation[p] = share * (1 - w) * (1 - u);
    bare[p] = (1 - share) * (1 - w) * (1 - u);
    texture[p] = ((textureField[p] as number) - 0.5) * 0.4 * (1 - w);
  }
  return { water, urban, vegetation, bare, texture };
}

/** Land cover at pixel centres of `win` (UTM metres of zone `epsg`). */
export function landCover(opts: SampleOptions, epsg: number, win: GridWindow): LandCover {
  return mixCover(
    opts,
    epsg,
    win.width * win.height,
    (name) => sampleField({ seed: fieldSeed(opts.seed, name), ...FIELDS[name] }, win),
    (p) => win.x0 + ((p % win.width) + 0.5) * win.res,
    (p) => win.y0 - (Math.floor(p / win.width) + 0.5) * win.res,
  );
}

/** Land cover at arbitrary positions (UTM metres of zone `epsg`). */
export function landCoverAt(opts: SampleOptions, epsg: number, xs: ArrayLike<number>, ys: ArrayLike<number>): LandCover {
  return mixCover(
    opts,
    epsg,
    xs.length,
    (name) => samplePoints({ seed: fieldSeed(opts.seed, name), ...FIELDS[name] }, xs, ys),
    (p) => xs[p] as number,
    (p) => ys[p] as number,
  );
}

const bandIndex = (band: BandKey) => REFLECTANCE_BANDS.findIndex((b) => b.key === band);

/** True reflectance of one band at the pixel centres the land cover was sampled at. */
export function reflectanceOf(cover: LandCover, band: BandKey): Float32Array {
  const k = bandIndex(band);
  const [sv, sb, su, sw] = [SIGNATURES.vegetation[k], SIGNATURES.bare[k], SIGNATURES.urban[k], SIGNATURES.water[k]] as [number, number, number, number];
  const out = new Float32Array(cover.water.length);
  for (let p = 0; p < out.length; p++) {
    const mix = (cover.vegetation[p] as number) * sv + (cover.bare[p] as number) * sb + (cover.urban[p] as number) * su + (cover.water[p] as number) * sw;
    out[p] = mix * (1 + (cover.texture[p] as number));
  }
  return out;
}

/** Mean over factor x factor blocks: a coarser pixel measures the average of the finer ones it covers. */
export function blockMean(values: Float32Array, width: number, height: number, factor: number): Float32Array {
  if (factor === 1) return values;
  const w = width / factor;
  const h = height / factor;
  const out = new Float32Array(w * h);
  const scale = 1 / (factor * factor);
  for (let r = 0; r < height; r++) {
    const orow = Math.floor(r / factor) * w;
    const irow = r * width;
    for (let c = 0; c < width; c++) out[orow + Math.floor(c / factor)] = (out[orow + Math.floor(c / factor)] as number) + (values[irow + c] as number);
  }
  for (let p = 0; p < out.length; p++) out[p] = (out[p] as number) * scale;
  return out;
}

/** A pixel window of a grid: column and row offsets and size, in that grid's pixels. */
export interface PixelWindow {
  col: number;
  row: number;
  width: number;
  height: number;
}

/**
 * The true surface reflectance of a band over a window of a tile's grid at `resolution` metres
 * (10, 20 or 60; default the band's native one): the mean of the 10 m truth over each pixel,
 * which is exactly what the generator measures before clouds and noise.
 */
export function trueSurface(opts: SampleOptions, tile: Tile, band: BandKey, resolution?: number, window?: PixelWindow): Float32Array {
  const res = resolution ?? REFLECTANCE_BANDS[bandIndex(band)]?.res ?? 10;
  if (![10, 20, 60].includes(res)) throw new Error(`resolution must be 10, 20 or 60 m, not ${res}`);
  const full = (tile.size * 10) / res;
  const w = window ?? { col: 0, row: 0, width: full, height: full };
  if (w.col < 0 || w.row < 0 || w.width <= 0 || w.height <= 0 || w.col + w.width > full || w.row + w.height > full) {
    throw new Error(`window ${JSON.stringify(w)} is outside the ${full} x ${full} grid of tile ${tile.code} at ${res} m`);
  }
  const f = res / 10;
  const grid10: GridWindow = { x0: tile.ulx + w.col * res, y0: tile.uly - w.row * res, res: 10, width: w.width * f, height: w.height * f };
  return blockMean(reflectanceOf(landCover(opts, tile.epsg, grid10), band), grid10.width, grid10.height, f);
}

/** The SCL class of the surface (4 vegetation, 5 not vegetated, 6 water) from land-cover weights. */
export function surfaceClass(cover: LandCover, p: number): number {
  if ((cover.water[p] as number) > 0.5) return 6;
  return (cover.vegetation[p] as number) >= (cover.urban[p] as number) + (cover.bare[p] as number) ? 4 : 5;
}
