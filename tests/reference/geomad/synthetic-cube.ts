/**
 * Deterministic, realistic-looking Sentinel-2 reflectance cubes for the reference comparison and the
 * benchmark: [band][time][pixel] float32, harmonised as the read stage delivers them
 * (DN x 0.0001 + offset, offset -0.1 for the later observations as for processing baseline >= 04.00),
 * NaN for masked observations.
 *
 * Each pixel mixes four endmember spectra (vegetation with a seasonal cycle, soil, water, built-up),
 * adds sensor noise and, per observation, masked clouds (all bands NaN), unmasked cloud and haze
 * residue, shadows and the odd NaN band (resampling at a 20 m band's edge). A few pixels per hundred
 * are edge cases on purpose: no valid observation, one, two, all identical, identical with gaps, and
 * a majority of identical observations, and (at row starts) an observation on the Weiszfeld seed.
 */

/** Bands in cube order (odc-stats `gm-s2`). */
export const S2_BANDS = ["blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "swir16", "swir22"] as const;

// Typical surface reflectance per band, S2_BANDS order.
const VEGETATION = [0.03, 0.06, 0.04, 0.1, 0.25, 0.3, 0.33, 0.34, 0.18, 0.09];
const SOIL = [0.08, 0.11, 0.15, 0.18, 0.21, 0.23, 0.25, 0.26, 0.32, 0.28];
const WATER = [0.06, 0.05, 0.03, 0.02, 0.015, 0.012, 0.01, 0.008, 0.005, 0.003];
const BUILT = [0.1, 0.12, 0.14, 0.16, 0.18, 0.19, 0.2, 0.21, 0.24, 0.22];

/** Shape and seed of a synthetic cube. */
export interface SyntheticCubeSpec {
  seed: number;
  times: number;
  height: number;
  width: number;
}

/** A cube with the dims that `geomedianWithMads` takes. */
export interface SyntheticCube {
  cube: Float32Array;
  dims: { bands: number; times: number; pixels: number; width: number };
  height: number;
}

/** mulberry32: small, fast, good enough for test data. Returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** Allocates and fills a cube. */
export function makeSyntheticCube(spec: SyntheticCubeSpec): SyntheticCube {
  const bands = S2_BANDS.length;
  const pixels = spec.height * spec.width;
  const cube = new Float32Array(bands * spec.times * pixels);
  fillSyntheticCube(cube, spec);
  return { cube, dims: { bands, times: spec.times, pixels, width: spec.width }, height: spec.height };
}

/** Fills `cube` (length bands x times x height x width) in place. */
export function fillSyntheticCube(cube: Float32Array, spec: SyntheticCubeSpec): void {
  const bands = S2_BANDS.length;
  const { times } = spec;
  const pixels = spec.height * spec.width;
  if (cube.length !== bands * times * pixels) throw new RangeError("fillSyntheticCube: cube length does not match the spec");
  const random = seededRandom(spec.seed);
  const base = new Float64Array(bands);
  const fixed = new Float32Array(bands);

  for (let p = 0; p < pixels; p++) {
    const mix = [random() ** 2, random() ** 2, random() ** 2 * 0.6, random() ** 2 * 0.4];
    const total = mix[0]! + mix[1]! + mix[2]! + mix[3]! + 1e-9;
    const phase = random() * 2 * Math.PI;
    const kind = random();
    // Edge cases: 0-2% no valid observation, 2-4% one, 4-6% two, 6-8% identical, 8-10% identical with
    // gaps, 10-13% mostly identical.
    const allMasked = kind < 0.02;
    const keepOnly = kind < 0.04 ? 1 : kind < 0.06 ? 2 : 0;
    const identical = kind >= 0.06 && kind < 0.1;
    const gapsInIdentical = kind >= 0.08;
    const mostlyIdentical = kind >= 0.1 && kind < 0.13;
    const kept = new Set<number>();
    while (kept.size < Math.min(keepOnly, times)) kept.add(Math.floor(random() * times));

    // At a row start, where geomad seeds with the nanmean, half the pixels hold four observations and
    // their mean, in binary fractions so that the mean is exact: the first Weiszfeld step then starts
    // on an observation, which takes geomad's zero-distance branch.
    if (p % spec.width === 0 && times >= 5 && random() < 0.5) {
      for (let b = 0; b < bands; b++) base[b] = (mix[0]! * VEGETATION[b]! + mix[1]! * SOIL[b]! + mix[2]! * WATER[b]! + mix[3]! * BUILT[b]!) / total;
      seedOnObservation(cube, p, pixels, times, base, random);
      continue;
    }

    for (let t = 0; t < times; t++) {
      // Later observations carry the -0.1 offset of processing baseline 04.00.
      const offset = t < times / 3 ? 0 : -0.1;
      const season = 1 + 0.35 * Math.sin((2 * Math.PI * t) / Math.max(times, 1) + phase);
      for (let b = 0; b < bands; b++) {
        base[b] = (mix[0]! * VEGETATION[b]! * season + mix[1]! * SOIL[b]! + mix[2]! * WATER[b]! + mix[3]! * BUILT[b]!) / total;
      }

      const roll = random();
      let masked = allMasked || (keepOnly > 0 && !kept.has(t));
      if (keepOnly === 0 && !allMasked && !identical) masked = roll < 0.3;
      if (identical && gapsInIdentical) masked = roll < 0.25;
      const repeat = (identical || (mostlyIdentical && random() < 0.6)) && !masked;
      const cloud = roll >= 0.3 && roll < 0.35;
      const shadow = roll >= 0.35 && roll < 0.39;
      const haze = roll >= 0.39 && roll < 0.44;
      const nanBand = !identical && roll >= 0.44 && roll < 0.45 ? Math.floor(random() * bands) : -1;
      const cloudLevel = 0.35 + 0.5 * random();

      for (let b = 0; b < bands; b++) {
        const at = (b * times + t) * pixels + p;
        if (masked || b === nanBand) {
          cube[at] = NaN;
          continue;
        }
        if (repeat) {
          if (fixed[b] === 0) fixed[b] = quantise(base[b]!, 0);
          cube[at] = fixed[b]!;
          continue;
        }
        let r = base[b]! + (random() + random() - 1) * 0.008;
        if (cloud) r = cloudLevel + 0.03 * (random() - 0.5) - 0.01 * (b / bands);
        else if (shadow) r *= 0.35;
        else if (haze) r += 0.06 * (1 - b / bands);
        cube[at] = quantise(r, offset);
      }
    }
    fixed.fill(0);
  }
}

/** Four observations around `base` and their exact mean at five random times; the rest masked. */
function seedOnObservation(cube: Float32Array, p: number, pixels: number, times: number, base: Float64Array, random: () => number): void {
  const bands = base.length;
  const at = new Set<number>();
  while (at.size < 5) at.add(Math.floor(random() * times));
  const [t0, t1, t2, t3, tMean] = [...at] as [number, number, number, number, number];
  for (let b = 0; b < bands; b++) {
    for (let t = 0; t < times; t++) cube[(b * times + t) * pixels + p] = NaN;
    let sum = 0;
    for (const t of [t0, t1, t2, t3]) {
      const v = Math.max(1, Math.round(base[b]! * (0.7 + 0.6 * random()) * 4096)) / 4096;
      cube[(b * times + t) * pixels + p] = v;
      sum += v;
    }
    cube[(b * times + tMean) * pixels + p] = sum / 4;
  }
}

/** Reflectance as the read stage produces it: an integer DN (1..65535), then DN x 0.0001 + offset in float32. */
function quantise(reflectance: number, offset: number): number {
  const dn = Math.min(65535, Math.max(1, Math.round((reflectance - offset) / 1e-4)));
  return Math.fround(dn * 1e-4 + offset);
}
