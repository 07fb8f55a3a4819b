/**
 * The geomedian kernel: Weiszfeld geometric median per pixel plus SMAD, EMAD, BCMAD and COUNT, as
 * odc-algo's `geomedian_with_mads` computes them with the `geomad` package (v1.0.0, formerly
 * hdstats; `geomad/pcm.pyx`, functions `__gm`, `__smad`, `__emad`, `__bcmad`, and odc-algo
 * `odc/algo/_geomedian.py` `_gm_mads_compute_f32`).
 *
 * Every exported function in this file is serialised with `Function.prototype.toString()` into the
 * source of the worker threads (`pool.ts`), so the same code runs under vitest, in the esbuild bundle
 * and in the workers. That imposes rules on this file: every function is exported; no imports, no
 * module-level values, no nested functions or closures (esbuild's `keepNames` would wrap them in a
 * `__name()` helper the worker does not have), and no syntax a bundler might lower into helper calls.
 * Functions only call each other and JavaScript built-ins.
 *
 * Numerics: geomad keeps its per-pixel working vectors (`y`, `y1`, `T`, `R`, `D`, `Dinv`, `W`) in
 * float32 and accumulates in float64, and some of its expressions are float32 arithmetic in C
 * (`float * float` is evaluated in float on x86-64). `Math.fround` and stores into Float32Array scratch
 * reproduce each of those roundings, so that results agree with the reference to the last bit (given the
 * same block geometry, see `CubeDims.width`); the comments quote the `pcm.pyx` expression each
 * rounding mirrors.
 *
 * Typed-array reads carry `!` because the project compiles with `noUncheckedIndexedAccess`; every
 * index here is in bounds by construction of the loops.
 */

/** Outputs of one chunk, planar: `median` is [band][pixel]; the others are [pixel]. */
export interface KernelOutput {
  median: Float32Array;
  smad: Float32Array;
  emad: Float32Array;
  bcmad: Float32Array;
  count: Uint16Array;
}

/**
 * Geomedian with MADs over a cube laid out [band][time][pixel] (element (b, t, p) at
 * `(b * times + t) * pixels + p`). Pixels are row-major with `width` pixels per row; a row start
 * resets the Weiszfeld seed the way geomad does (see `weiszfeldPixel`). Arguments are trusted:
 * `geomedian.ts` validates them.
 */
export function computeGeomedianWithMads(
  cube: Float32Array,
  bands: number,
  times: number,
  pixels: number,
  width: number,
  eps: number,
  maxiters: number,
  emadScale: number,
): KernelOutput {
  const out: KernelOutput = {
    median: new Float32Array(bands * pixels),
    smad: new Float32Array(pixels),
    emad: new Float32Array(pixels),
    bcmad: new Float32Array(pixels),
    count: new Uint16Array(pixels),
  };
  reduceChunk(cube, bands, times, pixels, width, eps, maxiters, emadScale, out.median, out.smad, out.emad, out.bcmad, out.count);
  return out;
}

/**
 * The pixel loop of `computeGeomedianWithMads`, writing into its outputs. A function of its own so
 * that V8's optimised code for the loop is reused from one chunk to the next (code that also built
 * the result object was deoptimised at the end of every chunk).
 */
export function reduceChunk(
  cube: Float32Array,
  bands: number,
  times: number,
  pixels: number,
  width: number,
  eps: number,
  maxiters: number,
  emadScale: number,
  median: Float32Array,
  smad: Float32Array,
  emad: Float32Array,
  bcmad: Float32Array,
  count: Uint16Array,
): void {
  // Transposition in blocks of pixels: reading one pixel's T x B values straight from the planes
  // touches T x B cache lines a plane apart, and with power-of-two plane sizes those all fall in the
  // same cache set and evict each other. Copying `blockPixels` neighbours at a time reads each line
  // once, into [pixel][band][time] order (so consecutive writes stay within a few lines).
  const blockPixels = 64;
  const pixelStride = times * bands;
  const block = new Float32Array(blockPixels * pixelStride);

  // Per-pixel scratch, allocated once per chunk: the valid observations of one pixel gathered
  // contiguously as [observation][band] (a few KiB, stays in L1 across Weiszfeld iterations). Values
  // that geomad holds in float32 but that are only read in the loops (observations, Dinv, W) are kept
  // as exact float64 copies, rounded with `Math.fround` where they are computed: it saves a conversion
  // per load.
  const obs = new Float64Array(times * bands);
  const y = new Float32Array(bands);
  const y1 = new Float32Array(bands);
  const weighted = new Float32Array(bands);
  const dinv = new Float64Array(times);
  const weights = new Float64Array(times);
  const squared = new Float64Array(times);
  const cosine = new Float32Array(times);
  const euclidean = new Float32Array(times);
  const brayCurtis = new Float32Array(times);
  const bandSums = new Float64Array(bands);
  const bandCounts = new Int32Array(bands);

  // geomad passes `eps` to a `const floating eps` (float32) parameter.
  const epsF32 = Math.fround(eps);
  let reseed = 1;

  for (let p = 0; p < pixels; p++) {
    // `__gm` sets `reseed = 1` at the start of each row of the block (`for row in prange(m)`).
    if (p % width === 0) reseed = 1;

    if (p % blockPixels === 0) {
      const n = pixels - p < blockPixels ? pixels - p : blockPixels;
      for (let b = 0; b < bands; b++) {
        for (let t = 0; t < times; t++) {
          const from = (b * times + t) * pixels + p;
          for (let k = 0, to = b * times + t; k < n; k++, to += pixelStride) block[to] = cube[from + k]!;
        }
      }
    }
    const at = (p % blockPixels) * pixelStride;

    for (let b = 0; b < bands; b++) {
      bandSums[b] = 0;
      bandCounts[b] = 0;
    }
    let nValid = 0;
    let finite = true;
    for (let t = 0; t < times; t++) {
      const base = nValid * bands;
      let valid = true;
      for (let b = 0; b < bands; b++) {
        const v = block[at + b * times + t]!;
        if (v === v) {
          // The seed is a per-band nanmean over every observation, including those that have a
          // NaN in another band and are otherwise ignored (`__gm`, "# nanmean").
          bandSums[b] = bandSums[b]! + v;
          bandCounts[b] = bandCounts[b]! + 1;
          if (v - v !== 0) finite = false;
        } else {
          valid = false;
        }
        obs[base + b] = v;
      }
      // An observation with any NaN band has D = NaN in `__gm`, so it never contributes; dropping it
      // here keeps the inner loops dense without changing the order of the remaining terms.
      if (valid) nValid++;
    }
    count[p] = nValid < 65535 ? nValid : 65535;

    let seedIsNaN = false;
    for (let b = 0; b < bands; b++) {
      if (reseed === 1) {
        // float64 total / int count, stored into float32 `y` (0 / 0 gives NaN for an all-NaN band).
        y[b] = bandSums[b]! / bandCounts[b]!;
      } else {
        // `__gm` zeroes `y` for every pixel ("zero everything just to be careful") before the
        // `if reseed == 1` nanmean, so after a pixel that converged the next one starts at the
        // origin, not at the previous result.
        y[b] = 0;
      }
      if (y[b] !== y[b]) seedIsNaN = true;
    }

    if (nValid === 0 || seedIsNaN) {
      // With no valid observation (or a NaN seed) every D is NaN, so `T` and then `y1` are NaN,
      // `dist` is NaN and `__gm` sets `reseed = 1`. The MADs are nanmedians of all-NaN rows.
      for (let b = 0; b < bands; b++) median[b * pixels + p] = NaN;
      smad[p] = NaN;
      emad[p] = NaN;
      bcmad[p] = NaN;
      reseed = 1;
      continue;
    }

    reseed = weiszfeldPixel(obs, nValid, times, bands, finite, y, y1, weighted, dinv, weights, squared, epsF32, maxiters, reseed);
    for (let b = 0; b < bands; b++) median[b * pixels + p] = y1[b]!;

    pixelMads(obs, nValid, bands, y1, cosine, euclidean, brayCurtis, emadScale, smad, emad, bcmad, p);
  }
}

/**
 * Weiszfeld iteration for one pixel, mirroring `__gm` in geomad `pcm.pyx` step by step: start at
 * `y`, stop when the step is shorter than `eps` or after `maxiters` steps. The result is left in
 * `y1`. Returns geomad's `reseed` flag for the next pixel of the row: 1 after a NaN step, unchanged
 * when every observation coincides with `y`, else 0.
 *
 * `nObs` is the number of observations including invalid ones: `__gm` compares its count of
 * zero distances with it, so "all observations coincide with y" never holds when one is masked.
 * `finite` says that no valid observation holds an infinity, which with finite weights rules out the
 * NaN products that `__gm` skips.
 *
 * Speed: `__gm` sums each distance over bands and each weighted band over observations in one long
 * float64 chain, so it waits on the adder's latency. Here the sums for four observations (distances)
 * and four bands (weighted mean) run side by side; each one still adds its terms in the reference's
 * order, so the results are the same bits.
 */
export function weiszfeldPixel(
  obs: Float64Array,
  nValid: number,
  nObs: number,
  bands: number,
  finite: boolean,
  y: Float32Array,
  y1: Float32Array,
  weighted: Float32Array,
  dinv: Float64Array,
  weights: Float64Array,
  squared: Float64Array,
  eps: number,
  maxiters: number,
  reseedIn: number,
): number {
  let reseed = reseedIn;
  for (let b = 0; b < bands; b++) y1[b] = 0;

  for (let iteration = 0; iteration < maxiters; iteration++) {
    // Squared distances `sum_j (X[j, i] - y[j])^2`, float64 differences.
    let i = 0;
    for (; i + 4 <= nValid; i += 4) {
      const o0 = i * bands;
      const o1 = o0 + bands;
      const o2 = o1 + bands;
      const o3 = o2 + bands;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let b = 0; b < bands; b++) {
        const yb = y[b]!;
        const v0 = obs[o0 + b]! - yb;
        const v1 = obs[o1 + b]! - yb;
        const v2 = obs[o2 + b]! - yb;
        const v3 = obs[o3 + b]! - yb;
        s0 += v0 * v0;
        s1 += v1 * v1;
        s2 += v2 * v2;
        s3 += v3 * v3;
      }
      squared[i] = s0;
      squared[i + 1] = s1;
      squared[i + 2] = s2;
      squared[i + 3] = s3;
    }
    for (; i < nValid; i++) {
      const o = i * bands;
      let s = 0;
      for (let b = 0; b < bands; b++) {
        const v = obs[o + b]! - y[b]!;
        s += v * v;
      }
      squared[i] = s;
    }

    let dinvSum = 0;
    let nzeros = 0;
    for (i = 0; i < nValid; i++) {
      const di = Math.sqrt(squared[i]!);
      if (di === di) {
        // A step that lands on an observation gives it weight w[i] = 1 instead of 1 / 0
        // (`Dinv[i] = w[i]`); it is counted as a "zero" from the float32 `D[i]`.
        const d = Math.fround(di > 0 ? 1 / di : 1);
        dinv[i] = d;
        dinvSum += d;
        if (Math.fround(di) === 0) nzeros++;
      } else {
        dinv[i] = NaN;
      }
    }

    let weightsFinite = finite;
    for (i = 0; i < nValid; i++) {
      const w = Math.fround(dinv[i]! / dinvSum);
      weights[i] = w;
      if (w - w !== 0) weightsFinite = false;
    }

    // T[j] = sum_i W[i] * X[j, i], where `W[i] * X[...]` is a float32 product in C.
    if (weightsFinite) {
      let b = 0;
      for (; b + 4 <= bands; b += 4) {
        let t0 = 0;
        let t1 = 0;
        let t2 = 0;
        let t3 = 0;
        for (let k = 0, o = b; k < nValid; k++, o += bands) {
          const w = weights[k]!;
          t0 += Math.fround(w * obs[o]!);
          t1 += Math.fround(w * obs[o + 1]!);
          t2 += Math.fround(w * obs[o + 2]!);
          t3 += Math.fround(w * obs[o + 3]!);
        }
        weighted[b] = t0;
        weighted[b + 1] = t1;
        weighted[b + 2] = t2;
        weighted[b + 3] = t3;
      }
      if (b + 2 <= bands) {
        let t0 = 0;
        let t1 = 0;
        for (let k = 0, o = b; k < nValid; k++, o += bands) {
          const w = weights[k]!;
          t0 += Math.fround(w * obs[o]!);
          t1 += Math.fround(w * obs[o + 1]!);
        }
        weighted[b] = t0;
        weighted[b + 1] = t1;
        b += 2;
      }
      if (b < bands) {
        let t0 = 0;
        for (let k = 0, o = b; k < nValid; k++, o += bands) t0 += Math.fround(weights[k]! * obs[o]!);
        weighted[b] = t0;
      }
    } else {
      // The reference's NaN-skipping sum ("allnan"), for infinite inputs or weights.
      for (let b = 0; b < bands; b++) {
        let total = 0;
        let any = false;
        for (let k = 0, o = b; k < nValid; k++, o += bands) {
          const term = Math.fround(weights[k]! * obs[o]!);
          if (term === term) {
            total += term;
            any = true;
          }
        }
        weighted[b] = any ? total : NaN;
      }
    }

    if (nzeros === 0) {
      for (let b = 0; b < bands; b++) y1[b] = weighted[b]!;
    } else if (nzeros === nObs) {
      // Every observation equals y: `__gm` copies y and breaks before the step test, leaving
      // `reseed` as it was.
      for (let b = 0; b < bands; b++) y1[b] = y[b]!;
      return reseed;
    } else {
      // Vardi-Zhang step for a point that coincides with observations: R = (T - y) * Dinvs,
      // y1 = max(0, 1 - nzeros/|R|) * T + min(1, nzeros/|R|) * y. geomad keeps the coinciding
      // observations (weight 1) inside T and Dinvs, so this is its variant, not the textbook one.
      let r = 0;
      for (let b = 0; b < bands; b++) {
        const rb = Math.fround(Math.fround(weighted[b]! - y[b]!) * dinvSum);
        r += Math.fround(rb * rb);
      }
      r = Math.sqrt(r);
      const rinv = r > 0 ? nzeros / r : 0;
      const towardT = 1 - rinv > 0 ? 1 - rinv : 0;
      const towardY = rinv < 1 ? rinv : 1;
      for (let b = 0; b < bands; b++) y1[b] = towardT * weighted[b]! + towardY * y[b]!;
    }

    // `value = y[j] - y1[j]` is a float32 difference in C.
    let step = 0;
    for (let b = 0; b < bands; b++) {
      const v = Math.fround(y[b]! - y1[b]!);
      step += v * v;
      y[b] = y1[b]!;
    }
    step = Math.sqrt(step);

    if (step !== step) return 1;
    reseed = 0;
    if (step < eps) break;
  }
  return reseed;
}

/**
 * The three MADs of one pixel, written to `smad[p]`, `emad[p]` and `bcmad[p]`: nanmedians over its
 * valid observations of the distances to the geomedian `gm`, as geomad's `__smad`, `__emad` and
 * `__bcmad` compute them (observations with a NaN band give NaN distances there, which `nanmedian`
 * drops, so only valid observations are visited here):
 * - SMAD, cosine distance `1 - x.g / (|x| |g|)`; the products `x * g`, `x * x`, `g * g` are float32 in C;
 * - EMAD, euclidean distance `|x - g|` with float32 differences, then multiplied by `1 / scale` in
 *   float32 as `_gm_mads_compute_f32` does (`stats_bands[-1] *= 1 / scale`), i.e. reported in DN;
 *   `emadScale` is that `1 / scale`, or 1 for no scaling;
 * - BCMAD, Bray-Curtis distance `sum|x - g| / sum|x + g|` with float32 differences and sums.
 * The five sums per observation are computed in one pass (independent chains, each in the reference's
 * band order); the distances are stored as float32, as geomad's `result` arrays are.
 */
export function pixelMads(
  obs: Float64Array,
  nValid: number,
  bands: number,
  gm: Float32Array,
  cosine: Float32Array,
  euclidean: Float32Array,
  brayCurtis: Float32Array,
  emadScale: number,
  smad: Float32Array,
  emad: Float32Array,
  bcmad: Float32Array,
  p: number,
): void {
  let normb = 0;
  for (let b = 0; b < bands; b++) normb += Math.fround(gm[b]! * gm[b]!);
  const normbSqrt = Math.sqrt(normb);

  for (let i = 0, o = 0; i < nValid; i++, o += bands) {
    let numer = 0;
    let norma = 0;
    let squares = 0;
    let absDiff = 0;
    let absSum = 0;
    for (let b = 0; b < bands; b++) {
      const x = obs[o + b]!;
      const g = gm[b]!;
      const diff = Math.fround(x - g);
      numer += Math.fround(x * g);
      norma += Math.fround(x * x);
      squares += diff * diff;
      absDiff += Math.abs(diff);
      absSum += Math.abs(Math.fround(x + g));
    }
    cosine[i] = 1 - numer / (Math.sqrt(norma) * normbSqrt);
    euclidean[i] = Math.sqrt(squares);
    brayCurtis[i] = absDiff / absSum;
  }

  smad[p] = nanMedianInPlace(cosine, nValid);
  const e = nanMedianInPlace(euclidean, nValid);
  emad[p] = emadScale === 1 ? e : Math.fround(e * Math.fround(emadScale));
  bcmad[p] = nanMedianInPlace(brayCurtis, nValid);
}

/**
 * `np.nanmedian` of the first `n` values (reordered in place): NaN when none is a number; with an even
 * count the mean of the two middle values as numpy computes it for float32, `float32(a + b) / 2`.
 * Quickselect (Wirth), no allocation.
 */
export function nanMedianInPlace(values: Float32Array, n: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v === v) values[m++] = v;
  }
  if (m === 0) return NaN;

  const k = (m - 1) >> 1;
  let lo = 0;
  let hi = m - 1;
  while (lo < hi) {
    const pivot = values[k]!;
    let i = lo;
    let j = hi;
    do {
      while (values[i]! < pivot) i++;
      while (pivot < values[j]!) j--;
      if (i <= j) {
        const tmp = values[i]!;
        values[i] = values[j]!;
        values[j] = tmp;
        i++;
        j--;
      }
    } while (i <= j);
    if (j < k) lo = i;
    if (k < i) hi = j;
  }
  const lower = values[k]!;
  if ((m & 1) === 1) return lower;

  // After selection everything above k is >= values[k]; the upper middle is their minimum.
  let upper = values[k + 1]!;
  for (let i = k + 2; i < m; i++) {
    const v = values[i]!;
    if (v < upper) upper = v;
  }
  return Math.fround(lower + upper) / 2;
}
