import "server-only";
import { hashInts, unit } from "./random";

/**
 * Smooth random fields in world coordinates (UTM metres): fractal value noise. Because a field is a
 * function of the map position and not of the tile, two overlapping tiles see the same land cover
 * and, on the same date, the same clouds, as real neighbouring Sentinel-2 granules do.
 */

/** A north-up pixel grid: upper-left corner (x0, y0), square pixels of `res` metres. */
export interface GridWindow {
  x0: number;
  y0: number;
  res: number;
  width: number;
  height: number;
}

export interface FieldSpec {
  /** Seed of this field (derive one per field and date). */
  seed: number;
  /** Lattice spacing of the coarsest octave, metres: the size of the largest features. */
  spacing: number;
  octaves: number;
  /** Amplitude ratio between successive octaves; 0.5 gives the usual 1/f look. */
  persistence?: number;
  /** Spacing multiplier along x only (> 1 stretches features east-west, as cirrus streaks). */
  stretchX?: number;
}

const smooth = (t: number) => t * t * (3 - 2 * t);

/**
 * The field sampled at the centres of a grid's pixels, optionally displaced by (dx, dy) metres (the
 * value at pixel p is the field at p + (dx, dy)). Values lie in [0, 1), mean 0.5, roughly bell-shaped.
 */
export function sampleField(spec: FieldSpec, win: GridWindow, shift: [number, number] = [0, 0]): Float32Array {
  const { width, height } = win;
  const out = new Float32Array(width * height);
  const persistence = spec.persistence ?? 0.5;
  let amplitude = 1;
  let total = 0;
  const ci = new Int32Array(width);
  const cw = new Float32Array(width);
  for (let o = 0; o < spec.octaves; o++) {
    const sy = spec.spacing / 2 ** o;
    const sx = sy * (spec.stretchX ?? 1);
    const latticeSeed = hashInts(spec.seed, o);
    // Lattice coordinates of each column and row, from the map position alone (not from the window's
    // start plus steps), so a pixel gets bit-identical values whichever window contains it.
    const us = new Float64Array(width);
    for (let c = 0; c < width; c++) us[c] = (win.x0 + (c + 0.5) * win.res + shift[0]) / sx;
    const vs = new Float64Array(height);
    for (let r = 0; r < height; r++) vs[r] = (win.y0 - (r + 0.5) * win.res + shift[1]) / sy;
    const iMin = Math.floor(us[0] as number);
    const iMax = Math.floor(us[width - 1] as number) + 1;
    const jMin = Math.floor(vs[height - 1] as number);
    const jMax = Math.floor(vs[0] as number) + 1;
    const nx = iMax - iMin + 1;
    // The lattice values this window touches, hashed once rather than four times per pixel.
    const lattice = new Float32Array(nx * (jMax - jMin + 1));
    for (let j = jMin; j <= jMax; j++) for (let i = iMin; i <= iMax; i++) lattice[(j - jMin) * nx + (i - iMin)] = unit(hashInts(latticeSeed, i, j));
    for (let c = 0; c < width; c++) {
      const u = us[c] as number;
      const i = Math.floor(u);
      ci[c] = i - iMin;
      cw[c] = smooth(u - i);
    }
    for (let r = 0; r < height; r++) {
      const v = vs[r] as number;
      const j = Math.floor(v);
      const wy = smooth(v - j);
      const rowA = (j - jMin) * nx;
      const rowB = rowA + nx;
      const base = r * width;
      for (let c = 0; c < width; c++) {
        const k = ci[c] as number;
        const wx = cw[c] as number;
        const a = (lattice[rowA + k] as number) + wx * ((lattice[rowA + k + 1] as number) - (lattice[rowA + k] as number));
        const b = (lattice[rowB + k] as number) + wx * ((lattice[rowB + k + 1] as number) - (lattice[rowB + k] as number));
        out[base + c] = (out[base + c] as number) + amplitude * (a + wy * (b - a));
      }
    }
    total += amplitude;
    amplitude *= persistence;
  }
  for (let p = 0; p < out.length; p++) out[p] = (out[p] as number) / total;
  return out;
}

/** Clamp to [0, 1]. */
export const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/** A soft step from 0 (v <= edge) to 1 (v >= edge + width), smooth at both ends. */
export const ramp = (v: number, edge: number, width: number): number => smooth(clamp01((v - edge) / width));

/**
 * The field at the pixel centres of a fine grid, interpolated bilinearly from its values on a global
 * lattice of `step`-metre cells (centres at k x step + step / 2 in both axes). Fields here vary over
 * hundreds of metres, so this differs from sampling every pixel by far less than the noise, at a
 * quarter of the cost for 10 m pixels from a 20 m lattice. The lattice is anchored to the map, not
 * the window, so any window of a grid gets exactly the values of the whole grid.
 */
export function sampleFieldInterpolated(spec: FieldSpec, win: GridWindow, step: number, shift: [number, number] = [0, 0]): Float32Array {
  if (win.res >= step) return sampleField(spec, win, shift);
  const half = step / 2;
  const xs = Array.from({ length: win.width }, (_, c) => (win.x0 + (c + 0.5) * win.res - half) / step);
  const ys = Array.from({ length: win.height }, (_, r) => (win.y0 - (r + 0.5) * win.res - half) / step);
  const k0 = Math.floor(xs[0] as number);
  const k1 = Math.floor(xs[xs.length - 1] as number) + 1;
  const mTop = Math.floor(ys[0] as number) + 1;
  const mBottom = Math.floor(ys[ys.length - 1] as number);
  // One row more than the span needs: a pixel exactly on the last lattice row still reads the row below.
  const lattice: GridWindow = { x0: k0 * step, y0: (mTop + 1) * step, res: step, width: k1 - k0 + 1, height: mTop - mBottom + 2 };
  const coarse = sampleField(spec, lattice, shift);
  const lw = lattice.width;
  const out = new Float32Array(win.width * win.height);
  const ci = new Int32Array(win.width);
  const cw = new Float32Array(win.width);
  xs.forEach((u, c) => {
    const i = Math.floor(u);
    ci[c] = i - k0;
    cw[c] = u - i;
  });
  for (let r = 0; r < win.height; r++) {
    // Lattice rows run north to south: row index = mTop - m.
    const v = mTop - (ys[r] as number);
    const j = Math.floor(v);
    const wy = v - j;
    const rowA = j * lw;
    const rowB = rowA + lw;
    const base = r * win.width;
    for (let c = 0; c < win.width; c++) {
      const k = ci[c] as number;
      const wx = cw[c] as number;
      const a = (coarse[rowA + k] as number) + wx * ((coarse[rowA + k + 1] as number) - (coarse[rowA + k] as number));
      const b = (coarse[rowB + k] as number) + wx * ((coarse[rowB + k + 1] as number) - (coarse[rowB + k] as number));
      out[base + c] = a + wy * (b - a);
    }
  }
  return out;
}

/**
 * The field at arbitrary map positions (same formula as `sampleField`, one point at a time): for
 * checking results on another grid, e.g. a geomedian tile in EPSG:6933, against the truth.
 */
export function samplePoints(spec: FieldSpec, xs: ArrayLike<number>, ys: ArrayLike<number>, shift: [number, number] = [0, 0]): Float32Array {
  const out = new Float32Array(xs.length);
  const persistence = spec.persistence ?? 0.5;
  let amplitude = 1;
  let total = 0;
  for (let o = 0; o < spec.octaves; o++) {
    const sy = spec.spacing / 2 ** o;
    const sx = sy * (spec.stretchX ?? 1);
    const latticeSeed = hashInts(spec.seed, o);
    for (let p = 0; p < out.length; p++) {
      const u = ((xs[p] as number) + shift[0]) / sx;
      const v = ((ys[p] as number) + shift[1]) / sy;
      const i = Math.floor(u);
      const j = Math.floor(v);
      const wx = smooth(u - i);
      const wy = smooth(v - j);
      const l00 = unit(hashInts(latticeSeed, i, j));
      const l10 = unit(hashInts(latticeSeed, i + 1, j));
      const l01 = unit(hashInts(latticeSeed, i, j + 1));
      const l11 = unit(hashInts(latticeSeed, i + 1, j + 1));
      const a = l00 + wx * (l10 - l00);
      const b = l01 + wx * (l11 - l01);
      out[p] = (out[p] as number) + amplitude * (a + wy * (b - a));
    }
    total += amplitude;
    amplitude *= persistence;
  }
  for (let p = 0; p < out.length; p++) out[p] = (out[p] as number) / total;
  return out;
}
