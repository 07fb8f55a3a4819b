/**
 * Sentinel-2 L2A masking as odc-stats' gm-s2 plugin does it (`odc/stats/plugins/gm.py`,
 * `StatsGMS2` and `StatsGM.native_transform`), on the native-resolution grid of the scene, before
 * reprojection:
 * - `nodata_classes = ("no data",)`: SCL 0 is nodata;
 * - `cloud_filters = {(cloud shadows, cloud medium probability, cloud high probability, thin cirrus):
 *   [("opening", 2), ("dilation", 5)]}`: SCL in {3, 8, 9, 10}, then a binary opening of radius 2 and
 *   a binary dilation of radius 5, in that order (odc-algo `mask_cleanup`);
 * - every pixel that is nodata or in the cleaned cloud mask is erased (odc-algo `erase_bad`).
 *
 * The structuring element is a disk, x^2 + y^2 <= r^2: odc-algo applies skimage's
 * `binary_opening(mask, disk(r))` up to 1.2 and, from 1.3, the equivalent isotropic operators it
 * vendored from scikit-image (`_vendored_isotropic.py`: a threshold on the exact Euclidean distance
 * transform). Both are reproduced here with an exact integer squared-distance transform.
 */

/** Sen2Cor scene classification values (REFERENCE.md D). */
export const SCL = {
  NO_DATA: 0,
  SATURATED_OR_DEFECTIVE: 1,
  DARK_AREA: 2,
  CLOUD_SHADOWS: 3,
  VEGETATION: 4,
  NOT_VEGETATED: 5,
  WATER: 6,
  UNCLASSIFIED: 7,
  CLOUD_MEDIUM_PROBABILITY: 8,
  CLOUD_HIGH_PROBABILITY: 9,
  THIN_CIRRUS: 10,
  SNOW: 11,
} as const;

/** A morphological operation and its disk radius, as odc-algo's `mask_filters`. */
export type MaskFilter = readonly ["opening" | "closing" | "dilation" | "erosion", number];

/** What gm-s2 masks and how (odc-stats `StatsGMS2`). */
export interface MaskRules {
  nodataClasses: readonly number[];
  cloudClasses: readonly number[];
  cloudFilters: readonly MaskFilter[];
}

export const GM_S2_MASK: MaskRules = {
  nodataClasses: [SCL.NO_DATA],
  cloudClasses: [SCL.CLOUD_SHADOWS, SCL.CLOUD_MEDIUM_PROBABILITY, SCL.CLOUD_HIGH_PROBABILITY, SCL.THIN_CIRRUS],
  cloudFilters: [
    ["opening", 2],
    ["dilation", 5],
  ],
};

/**
 * How far (in pixels) the filters reach: a pixel of the result depends on input pixels at most this
 * far away (an opening or closing of radius r reaches 2r, a dilation or erosion r). The read stage
 * loads this much more around each chunk so that chunk edges do not change the mask.
 */
export function filterReach(filters: readonly MaskFilter[]): number {
  return filters.reduce((sum, [op, r]) => sum + (op === "opening" || op === "closing" ? 2 * r : r), 0);
}

// Larger than any squared distance in a raster Node can hold, and exact in float64.
const FAR = 1e20;

/**
 * Squared Euclidean distance from every pixel to the nearest pixel with `target[i] === want`, FAR
 * when there is none (Felzenszwalb and Huttenlocher's lower envelope of parabolas, rows then
 * columns; exact in integers). Like scipy's `distance_transform_edt`, nothing outside the raster
 * counts as a target.
 */
export function squaredDistance(target: Uint8Array, width: number, height: number, want: 0 | 1): Float64Array {
  const d = new Float64Array(width * height);
  for (let i = 0; i < d.length; i++) d[i] = (target[i]! !== 0 ? 1 : 0) === want ? 0 : FAR;
  const n = Math.max(width, height);
  const f = new Float64Array(n);
  const out = new Float64Array(n);
  const v = new Int32Array(n);
  const z = new Float64Array(n + 1);
  const pass = (len: number) => {
    let k = 0;
    v[0] = 0;
    z[0] = -Infinity;
    z[1] = Infinity;
    for (let q = 1; q < len; q++) {
      if (f[q]! >= FAR) continue;
      if (f[v[k]!]! >= FAR) {
        // Only infinite parabolas so far: start the envelope here.
        v[k] = q;
        z[k] = -Infinity;
        z[k + 1] = Infinity;
        continue;
      }
      let s = (f[q]! + q * q - (f[v[k]!]! + v[k]! * v[k]!)) / (2 * q - 2 * v[k]!);
      while (s <= z[k]!) {
        k--;
        s = (f[q]! + q * q - (f[v[k]!]! + v[k]! * v[k]!)) / (2 * q - 2 * v[k]!);
      }
      k++;
      v[k] = q;
      z[k] = s;
      z[k + 1] = Infinity;
    }
    if (f[v[0]!]! >= FAR) {
      for (let q = 0; q < len; q++) out[q] = FAR;
      return;
    }
    k = 0;
    for (let q = 0; q < len; q++) {
      while (z[k + 1]! < q) k++;
      const dq = q - v[k]!;
      out[q] = dq * dq + f[v[k]!]!;
    }
  };
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) f[x] = d[row + x]!;
    pass(width);
    for (let x = 0; x < width; x++) d[row + x] = out[x]!;
  }
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) f[y] = d[y * width + x]!;
    pass(height);
    for (let y = 0; y < height; y++) d[y * width + x] = Math.min(out[y]!, FAR);
  }
  return d;
}

/** Binary dilation by a disk of radius r (skimage `isotropic_dilation`: distance to the mask <= r). */
export function dilate(mask: Uint8Array, width: number, height: number, r: number): Uint8Array {
  const d = squaredDistance(mask, width, height, 1);
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < out.length; i++) out[i] = d[i]! <= r * r ? 1 : 0;
  return out;
}

/** Binary erosion by a disk of radius r (skimage `isotropic_erosion`: distance to the background > r). */
export function erode(mask: Uint8Array, width: number, height: number, r: number): Uint8Array {
  const d = squaredDistance(mask, width, height, 0);
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < out.length; i++) out[i] = d[i]! > r * r ? 1 : 0;
  return out;
}

/** Applies filters in order (odc-algo `mask_cleanup_np`); radius 0 leaves the mask as it is. */
export function cleanupMask(mask: Uint8Array, width: number, height: number, filters: readonly MaskFilter[]): Uint8Array {
  let m = mask;
  for (const [op, r] of filters) {
    if (r <= 0) continue;
    if (op === "dilation") m = dilate(m, width, height, r);
    else if (op === "erosion") m = erode(m, width, height, r);
    else if (op === "opening") m = dilate(erode(m, width, height, r), width, height, r);
    else m = erode(dilate(m, width, height, r), width, height, r);
  }
  return m;
}

/**
 * The pixels to erase (1) from an SCL raster: nodata classes, or the cloud classes after the filters
 * (odc-stats `StatsGM.native_transform`: `bad = nodata | mask_cleanup(cloud)`).
 */
export function badPixels(scl: Uint8Array, width: number, height: number, rules: MaskRules = GM_S2_MASK): Uint8Array {
  const nodata = new Uint8Array(256);
  for (const c of rules.nodataClasses) nodata[c] = 1;
  const cloudy = new Uint8Array(256);
  for (const c of rules.cloudClasses) cloudy[c] = 1;
  const cloud = new Uint8Array(scl.length);
  let anyCloud = false;
  for (let i = 0; i < scl.length; i++) {
    if (cloudy[scl[i]!] === 1) {
      cloud[i] = 1;
      anyCloud = true;
    }
  }
  const cleaned = anyCloud ? cleanupMask(cloud, width, height, rules.cloudFilters) : cloud;
  const bad = new Uint8Array(scl.length);
  for (let i = 0; i < scl.length; i++) bad[i] = nodata[scl[i]!]! | cleaned[i]!;
  return bad;
}
