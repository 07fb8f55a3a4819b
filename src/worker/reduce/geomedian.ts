import { computeGeomedianWithMads, type KernelOutput } from "./geomedian-kernel";

/**
 * Shape of one chunk. The cube is [band][time][pixel]: one plane per band and observation, as the
 * read stage produces them; pixels are row-major, `width` per row (a chunk is a block of rows).
 */
export interface CubeDims {
  bands: number;
  times: number;
  pixels: number;
  /**
   * Pixels per row of the chunk (default: all pixels form one row). geomad seeds Weiszfeld with the
   * nanmean only at the start of each row of the block it is given (odc-stats uses 400 x 400 work
   * chunks) and from the origin elsewhere, so matching it to the last bit needs the same block
   * geometry. Otherwise medians differ within the convergence tolerance (a few times `eps`), except
   * for pixels with exactly two observations, whose geometric median is any point between them.
   */
  width?: number;
}

/** Parameters of the reduction; the defaults are odc-stats `gm-s2` (`StatsGM.reduce`). */
export interface GeomedianOptions {
  /** Weiszfeld stops when a step is shorter than this, in reflectance units. Default 1e-5 (0.1 DN). */
  eps?: number;
  /** Maximum Weiszfeld steps per pixel. Default 1000. */
  maxiters?: number;
  /** Reflectance per DN; EMAD is reported in DN, i.e. divided by this. Default 1e-4. */
  scale?: number;
}

/** Per-pixel outputs of one chunk; `median` is [band][pixel] reflectance, NaN where `count` is 0. */
export type GeomedianResult = KernelOutput;

/** Options after defaults and validation, as the kernel takes them. */
export interface ResolvedGeomedianOptions {
  eps: number;
  maxiters: number;
  /** `1 / scale`, or exactly 1 when odc-algo would not rescale EMAD (|scale - 1| < 1e-10). */
  emadScale: number;
}

/** The odc-stats `gm-s2` parameters (odc-stats `plugins/gm.py` `StatsGM.reduce`). */
export const GM_S2_DEFAULTS = { eps: 1e-5, maxiters: 1000, scale: 1e-4 } as const;

/** Geometric median and MADs of one chunk on the calling thread. */
export function geomedianWithMads(cube: Float32Array, dims: CubeDims, opts: GeomedianOptions = {}): GeomedianResult {
  const d = validateCube(cube, dims);
  const o = resolveGeomedianOptions(opts);
  return computeGeomedianWithMads(cube, d.bands, d.times, d.pixels, d.width, o.eps, o.maxiters, o.emadScale);
}

/** Checks dims against the cube; returns them with `width` filled in. Throws RangeError. */
export function validateCube(cube: Float32Array, dims: CubeDims): Required<CubeDims> {
  const { bands, times, pixels } = dims;
  const width = dims.width ?? pixels;
  for (const [name, value] of [["bands", bands], ["times", times], ["pixels", pixels], ["width", width]] as const) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`geomedian: ${name} must be a non-negative integer, got ${value}`);
  }
  if (bands === 0) throw new RangeError("geomedian: bands must be at least 1");
  if (pixels > 0 && (width === 0 || pixels % width !== 0)) {
    throw new RangeError(`geomedian: pixels (${pixels}) must be a whole number of rows of width ${width}`);
  }
  if (cube.length !== bands * times * pixels) {
    throw new RangeError(`geomedian: cube has ${cube.length} values, expected bands x times x pixels = ${bands * times * pixels}`);
  }
  return { bands, times, pixels, width: width === 0 ? 1 : width };
}

/** Applies the defaults and checks the values. Throws RangeError. */
export function resolveGeomedianOptions(opts: GeomedianOptions): ResolvedGeomedianOptions {
  const eps = opts.eps ?? GM_S2_DEFAULTS.eps;
  const maxiters = opts.maxiters ?? GM_S2_DEFAULTS.maxiters;
  const scale = opts.scale ?? GM_S2_DEFAULTS.scale;
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new RangeError(`geomedian: eps must be a finite number >= 0, got ${eps}`);
  // geomad with maxiters = 0 returns zeros, not a median; refuse it rather than reproduce it.
  if (!Number.isInteger(maxiters) || maxiters < 1) throw new RangeError(`geomedian: maxiters must be an integer >= 1, got ${maxiters}`);
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`geomedian: scale must be a finite number > 0, got ${scale}`);
  // `_gm_mads_compute_f32` rescales EMAD only when `abs(scale - 1) >= 1e-10`.
  return { eps, maxiters, emadScale: Math.abs(scale - 1) >= 1e-10 ? 1 / scale : 1 };
}

/** How `medianToDn` turns a reflectance into an integer. */
export type DnRounding = "nearest" | "truncate";

/** Conversion of median reflectance to stored DN. */
export interface DnOptions {
  /** Reflectance per DN. Default 1e-4. */
  scale?: number;
  /** Reflectance of DN 0: reflectance = DN x scale + offset. Default 0. */
  offset?: number;
  /**
   * "nearest" (default) rounds `(r - offset) / scale` to the nearest integer in float64 (halves up). "truncate" reproduces odc-algo:
   * `from_float_np` computes `x * (1/scale) + (-offset/scale)` in float32 (numexpr) and
   * `geomedian_with_mads` casts with `.astype(uint16)`, which truncates, so a value that is
   * 1233.9999 after float32 rounding is stored as 1233.
   */
  rounding?: DnRounding;
}

/**
 * Band medians (reflectance) to uint16 DN for the product (nodata 0): NaN becomes 0 and valid values
 * are clamped to [1, 65535] so that a dark but valid pixel is never written as nodata. (odc-algo does
 * not clamp; with its inputs, DN >= 1, the median cannot fall below 1 except through truncation.)
 */
export function medianToDn(median: Float32Array, opts: DnOptions = {}): Uint16Array {
  const scale = opts.scale ?? GM_S2_DEFAULTS.scale;
  const offset = opts.offset ?? 0;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`medianToDn: scale must be a finite number > 0, got ${scale}`);
  if (!Number.isFinite(offset)) throw new RangeError(`medianToDn: offset must be finite, got ${offset}`);
  const out = new Uint16Array(median.length);
  const truncate = opts.rounding === "truncate";
  const invScaleF32 = Math.fround(1 / scale);
  const shiftF32 = Math.fround(-offset / scale);
  for (let i = 0; i < median.length; i++) {
    const r = median[i]!;
    if (r !== r) continue;
    const dn = truncate ? Math.trunc(Math.fround(Math.fround(r * invScaleF32) + shiftF32)) : Math.round((r - offset) / scale);
    out[i] = dn < 1 ? 1 : dn > 65535 ? 65535 : dn;
  }
  return out;
}
