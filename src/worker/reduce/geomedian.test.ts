import { describe, expect, it } from "vitest";

import { makeSyntheticCube } from "../../../tests/reference/geomad/synthetic-cube";

import { nanMedianInPlace } from "./geomedian-kernel";
import { geomedianWithMads, medianToDn, resolveGeomedianOptions, validateCube } from "./geomedian";

/** Builds a one-pixel cube [band][time] from observations given as rows of band values. */
function pixelCube(observations: number[][]): { cube: Float32Array; dims: { bands: number; times: number; pixels: number } } {
  const times = observations.length;
  const bands = observations[0]!.length;
  const cube = new Float32Array(bands * times);
  observations.forEach((values, t) => values.forEach((v, b) => (cube[b * times + t] = v)));
  return { cube, dims: { bands, times, pixels: 1 } };
}

function medianOf(observations: number[][], opts = {}): { median: number[]; smad: number; emad: number; bcmad: number; count: number } {
  const { cube, dims } = pixelCube(observations);
  const r = geomedianWithMads(cube, dims, opts);
  return { median: Array.from(r.median), smad: r.smad[0]!, emad: r.emad[0]!, bcmad: r.bcmad[0]!, count: r.count[0]! };
}

function expectClose(actual: number[], expected: number[], tolerance: number): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - expected[i]!), `band ${i}: ${v} vs ${expected[i]}`).toBeLessThanOrEqual(tolerance));
}

const SPECTRUM = [0.05, 0.08, 0.07, 0.12, 0.24, 0.28, 0.31, 0.32, 0.2, 0.11].map(Math.fround);

describe("geomedianWithMads on known cases", () => {
  it("returns the observation itself, zero MADs and count 1 for a single observation", () => {
    const r = medianOf([SPECTRUM]);
    expect(r.median).toEqual(SPECTRUM);
    expect(r.count).toBe(1);
    expect(r.emad).toBe(0);
    expect(r.bcmad).toBe(0);
    expect(Math.abs(r.smad)).toBeLessThan(1e-6);
  });

  it("returns the common value for identical observations", () => {
    const r = medianOf([SPECTRUM, SPECTRUM, SPECTRUM, SPECTRUM, SPECTRUM]);
    expect(r.median).toEqual(SPECTRUM);
    expect(r.count).toBe(5);
    expect(r.emad).toBe(0);
    expect(r.bcmad).toBe(0);
  });

  it("finds the middle point of collinear observations (the geometric median is the 1-D median)", () => {
    const direction = SPECTRUM.map((_, b) => 0.01 * (b + 1));
    const positions = [0, 1, 2, 7, 20];
    const observations = positions.map((s) => SPECTRUM.map((v, b) => Math.fround(v + s * direction[b]!)));
    const r = medianOf(observations);
    expectClose(r.median, observations[2]!, 1e-5);
  });

  it("finds the Fermat point of an equilateral triangle (its centroid)", () => {
    const h = Math.sqrt(3) / 2;
    const r = medianOf([
      [0.1, 0.1],
      [0.3, 0.1],
      [0.2, 0.1 + 0.2 * h],
    ]);
    expectClose(r.median, [0.2, 0.1 + (0.2 * h) / 3], 1e-5);
  });

  it("reports EMAD in DN, BCMAD and SMAD as medians of per-observation distances (one band)", () => {
    // One band: the geomedian is the ordinary median 0.2; distances |x - 0.2| = 0.1, 0, 0.3 -> EMAD
    // 0.1 reflectance = 1000 DN; Bray-Curtis 1/3, 0, 3/7 -> 1/3; cosine distance of positive scalars is 0.
    const r = medianOf([[0.1], [0.2], [0.5]]);
    expectClose(r.median, [0.2], 1e-6);
    expect(r.emad).toBeCloseTo(1000, 1);
    expect(r.bcmad).toBeCloseTo(1 / 3, 5);
    expect(Math.abs(r.smad)).toBeLessThan(1e-6);
  });

  it("ignores observations with any NaN band and does not count them", () => {
    const clean = [SPECTRUM, SPECTRUM.map((v) => v * 1.1), SPECTRUM.map((v) => v * 0.95), SPECTRUM.map((v) => v + 0.02)];
    const masked = SPECTRUM.map(() => NaN);
    const oneBandMissing = SPECTRUM.map((v, b) => (b === 3 ? NaN : v * 3));
    const noisy = medianOf([masked, clean[0]!, oneBandMissing, clean[1]!, clean[2]!, masked, clean[3]!]);
    const reference = medianOf(clean);
    expect(noisy.count).toBe(4);
    // The seed differs (geomad's nanmean also uses the valid bands of partly masked observations), so
    // the two agree to the convergence tolerance rather than to the bit.
    expectClose(noisy.median, reference.median, 1e-4);
  });

  it("returns NaN outputs and count 0 for a pixel without a valid observation", () => {
    const allNaN = medianOf([SPECTRUM.map(() => NaN), SPECTRUM.map(() => NaN)]);
    expect(allNaN.median.every(Number.isNaN)).toBe(true);
    expect([allNaN.smad, allNaN.emad, allNaN.bcmad].every(Number.isNaN)).toBe(true);
    expect(allNaN.count).toBe(0);

    const onlyPartial = medianOf([SPECTRUM.map((v, b) => (b === 0 ? NaN : v)), SPECTRUM.map((v, b) => (b === 9 ? NaN : v))]);
    expect(onlyPartial.median.every(Number.isNaN)).toBe(true);
    expect(onlyPartial.count).toBe(0);
  });

  it("handles a chunk without observations (times = 0) as all nodata", () => {
    const r = geomedianWithMads(new Float32Array(0), { bands: 10, times: 0, pixels: 4 });
    expect(Array.from(r.count)).toEqual([0, 0, 0, 0]);
    expect(Array.from(r.median).every(Number.isNaN)).toBe(true);
  });
});

describe("geomedianWithMads invariants on a realistic cube", () => {
  const { cube, dims } = makeSyntheticCube({ seed: 11, height: 12, width: 16, times: 30 });
  const result = geomedianWithMads(cube, dims);
  const { bands, times, pixels } = dims;

  it("keeps each band of the median within the range of the valid observations (convex hull)", () => {
    for (let p = 0; p < pixels; p++) {
      if (result.count[p] === 0) continue;
      for (let b = 0; b < bands; b++) {
        let lo = Infinity;
        let hi = -Infinity;
        for (let t = 0; t < times; t++) {
          let valid = true;
          for (let k = 0; k < bands; k++) if (Number.isNaN(cube[(k * times + t) * pixels + p]!)) valid = false;
          if (!valid) continue;
          const v = cube[(b * times + t) * pixels + p]!;
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        const m = result.median[b * pixels + p]!;
        expect(m).toBeGreaterThanOrEqual(lo - 1e-6);
        expect(m).toBeLessThanOrEqual(hi + 1e-6);
      }
    }
  });

  it("does not depend on the order of the observations (to the convergence tolerance)", () => {
    // Reverse time: the same observations, summed in a different order.
    const reversed = new Float32Array(cube.length);
    for (let b = 0; b < bands; b++) {
      for (let t = 0; t < times; t++) {
        reversed.set(cube.subarray((b * times + t) * pixels, (b * times + t + 1) * pixels), (b * times + (times - 1 - t)) * pixels);
      }
    }
    const other = geomedianWithMads(reversed, dims);
    expect(Array.from(other.count)).toEqual(Array.from(result.count));
    for (let i = 0; i < result.median.length; i++) {
      const a = result.median[i]!;
      const b = other.median[i]!;
      if (Number.isNaN(a)) expect(b).toBeNaN();
      else expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-4);
    }
  });

  it("restarts the seed at every row start: each row computed alone gives the same bits", () => {
    const width = dims.width;
    for (const row of [0, 5]) {
      const rowCube = new Float32Array(bands * times * width);
      for (let plane = 0; plane < bands * times; plane++) {
        rowCube.set(cube.subarray(plane * pixels + row * width, plane * pixels + (row + 1) * width), plane * width);
      }
      const alone = geomedianWithMads(rowCube, { bands, times, pixels: width });
      for (let b = 0; b < bands; b++) {
        expect(Array.from(alone.median.subarray(b * width, (b + 1) * width))).toEqual(
          Array.from(result.median.subarray(b * pixels + row * width, b * pixels + (row + 1) * width)),
        );
      }
      expect(Array.from(alone.emad)).toEqual(Array.from(result.emad.subarray(row * width, (row + 1) * width)));
    }
  });
});

describe("nanMedianInPlace (numpy nanmedian semantics)", () => {
  it("takes the middle value of an odd count and the float32 mean of the two middle values of an even count", () => {
    expect(nanMedianInPlace(Float32Array.from([5, 1, 3]), 3)).toBe(3);
    expect(nanMedianInPlace(Float32Array.from([4, 1, 3, 2]), 4)).toBe(2.5);
  });

  it("ignores NaN and returns NaN when nothing is left", () => {
    expect(nanMedianInPlace(Float32Array.from([NaN, 7, NaN, 1, 4]), 5)).toBe(4);
    expect(nanMedianInPlace(Float32Array.from([NaN, NaN]), 2)).toBeNaN();
    expect(nanMedianInPlace(new Float32Array(0), 0)).toBeNaN();
  });

  it("matches sorting on random inputs with ties", () => {
    let state = 12345;
    const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let round = 0; round < 200; round++) {
      const n = 1 + Math.floor(next() * 70);
      const values = Float32Array.from({ length: n }, () => Math.fround(Math.floor(next() * 20) / 7));
      const sorted = Array.from(values).sort((a, b) => a - b);
      const mid = sorted.length >> 1;
      const expected = sorted.length % 2 === 1 ? sorted[mid]! : Math.fround(sorted[mid - 1]! + sorted[mid]!) / 2;
      expect(nanMedianInPlace(values, n)).toBe(expected);
    }
  });
});

describe("input validation", () => {
  it("rejects a cube whose length does not match its dims", () => {
    expect(() => geomedianWithMads(new Float32Array(10), { bands: 10, times: 2, pixels: 1 })).toThrow(RangeError);
  });

  it("rejects a width that does not divide the pixels into rows", () => {
    expect(() => validateCube(new Float32Array(60), { bands: 1, times: 6, pixels: 10, width: 4 })).toThrow(/whole number of rows/);
  });

  it("rejects maxiters below 1 and a non-positive scale", () => {
    expect(() => resolveGeomedianOptions({ maxiters: 0 })).toThrow(RangeError);
    expect(() => resolveGeomedianOptions({ scale: 0 })).toThrow(RangeError);
  });

  it("uses odc-stats gm-s2 defaults and rescales EMAD only when scale is not 1", () => {
    expect(resolveGeomedianOptions({})).toEqual({ eps: 1e-5, maxiters: 1000, emadScale: 10000 });
    expect(resolveGeomedianOptions({ scale: 1 }).emadScale).toBe(1);
  });
});

describe("medianToDn", () => {
  it("writes NaN as nodata 0 and rounds reflectance to DN", () => {
    const dn = medianToDn(Float32Array.from([NaN, 0.1234, 0.5]));
    expect(Array.from(dn)).toEqual([0, 1234, 5000]);
  });

  it("applies the offset: reflectance = DN x scale + offset", () => {
    expect(Array.from(medianToDn(Float32Array.from([0.0234]), { offset: -0.1 }))).toEqual([1234]);
  });

  it("clamps valid values into 1..65535 so that none reads as nodata", () => {
    expect(Array.from(medianToDn(Float32Array.from([-0.05, 0, 0.00001, 7])))).toEqual([1, 1, 1, 65535]);
  });

  it("reproduces odc-algo's float32 truncation when asked", () => {
    const r = Float32Array.from([0.12339999]);
    expect(Array.from(medianToDn(r))).toEqual([1234]);
    expect(Array.from(medianToDn(r, { rounding: "truncate" }))).toEqual([1233]);
  });
});
