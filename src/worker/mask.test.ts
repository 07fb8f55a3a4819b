import { describe, expect, it } from "vitest";
import { badPixels, cleanupMask, dilate, erode, filterReach, GM_S2_MASK, SCL, squaredDistance } from "./mask";

const grid = (rows: number[][]) => ({ data: Uint8Array.from(rows.flat()), width: rows[0]!.length, height: rows.length });
const rowsOf = (data: Uint8Array, width: number) => Array.from({ length: data.length / width }, (_, r) => Array.from(data.subarray(r * width, (r + 1) * width)));

/** Brute force with a disk footprint x^2 + y^2 <= r^2; pixels outside the raster are ignored (scipy's EDT). */
function bruteForce(mask: Uint8Array, width: number, height: number, r: number, op: "dilation" | "erosion"): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let any = false;
      let all = true;
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++) {
          const [xx, yy] = [x + dx, y + dy];
          if (dx * dx + dy * dy > r * r || xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
          if (mask[yy * width + xx]) any = true;
          else all = false;
        }
      }
      out[y * width + x] = op === "dilation" ? (any ? 1 : 0) : all ? 1 : 0;
    }
  }
  return out;
}

function randomMask(width: number, height: number, seed: number, density: number): Uint8Array {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const m = new Uint8Array(width * height);
  // Blobs and specks, like clouds in an SCL band.
  for (let i = 0; i < m.length; i++) m[i] = next() < density ? 1 : 0;
  return dilate(m, width, height, 1).map((v) => (next() < 0.02 ? 1 - v : v));
}

describe("morphology (skimage isotropic operators, odc-algo mask_cleanup)", () => {
  it("reproduces scikit-image's isotropic_erosion docstring example", () => {
    const g = grid([[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]]);
    expect(rowsOf(erode(g.data, g.width, g.height, 1), g.width)).toEqual([[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]);
  });

  it("reproduces scikit-image's isotropic_dilation docstring example", () => {
    const g = grid([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 0]]);
    expect(rowsOf(dilate(g.data, g.width, g.height, 1), g.width)).toEqual([[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 1], [0, 0, 1, 1, 0]]);
  });

  it("reproduces scikit-image's isotropic_opening docstring example (a one-pixel bridge survives radius 1)", () => {
    const g = grid([[1, 0, 0, 0, 1], [1, 1, 0, 1, 1], [1, 1, 1, 1, 1], [1, 1, 0, 1, 1], [1, 0, 0, 0, 1]]);
    expect(rowsOf(cleanupMask(g.data, g.width, g.height, [["opening", 1]]), g.width)).toEqual(rowsOf(g.data, g.width));
  });

  it("equals a brute-force disk for radii 1 to 6 on random cloud-like masks, up to the raster's edges", () => {
    for (const [w, h, seed] of [[37, 23, 1], [64, 64, 2], [5, 80, 3]] as const) {
      const m = randomMask(w, h, seed, 0.03);
      for (let r = 1; r <= 6; r++) {
        expect(dilate(m, w, h, r), `dilation r=${r} ${w}x${h}`).toEqual(bruteForce(m, w, h, r, "dilation"));
        expect(erode(m, w, h, r), `erosion r=${r} ${w}x${h}`).toEqual(bruteForce(m, w, h, r, "erosion"));
      }
    }
  });

  it("gives exact squared distances, and 'none' when there is no target", () => {
    const g = grid([[1, 0, 0], [0, 0, 0]]);
    expect(Array.from(squaredDistance(g.data, 3, 2, 1))).toEqual([0, 1, 4, 1, 2, 5]);
    expect(squaredDistance(new Uint8Array(4), 2, 2, 1).every((d) => d >= 1e20)).toBe(true);
  });
});

describe("gm-s2 cloud and nodata mask", () => {
  it("uses odc-stats' gm-s2 rules: nodata SCL 0; clouds 3, 8, 9, 10 opened by 2 then dilated by 5", () => {
    expect(GM_S2_MASK.cloudClasses).toEqual([3, 8, 9, 10]);
    expect(GM_S2_MASK.cloudFilters).toEqual([["opening", 2], ["dilation", 5]]);
    expect(filterReach(GM_S2_MASK.cloudFilters)).toBe(9);
  });

  it("drops specks smaller than the opening disk, and buffers real clouds by 5 pixels", () => {
    const [w, h] = [40, 40];
    const scl = new Uint8Array(w * h).fill(SCL.VEGETATION);
    // A speck of high-probability cloud (2 x 2): removed by the opening, never masked.
    for (const [x, y] of [[5, 5], [6, 5], [5, 6], [6, 6]] as const) scl[y * w + x] = SCL.CLOUD_HIGH_PROBABILITY;
    // A 9 x 9 cloud shadow: kept and grown by 5.
    for (let y = 20; y < 29; y++) for (let x = 20; x < 29; x++) scl[y * w + x] = SCL.CLOUD_SHADOWS;
    const bad = badPixels(scl, w, h);
    expect(bad[5 * w + 5]).toBe(0);
    expect(bad[24 * w + 24]).toBe(1);
    expect(bad[24 * w + 33]).toBe(1); // 5 px east of the shadow's edge (x = 28)
    expect(bad[24 * w + 34]).toBe(0); // 6 px east
    expect(bad[33 * w + 33]).toBe(0); // the disk's corner: 5^2 + 5^2 > 25
  });

  it("masks nodata (SCL 0) without growing it, and leaves snow, water and dark areas valid", () => {
    const scl = Uint8Array.from([SCL.NO_DATA, SCL.SNOW, SCL.WATER, SCL.DARK_AREA, SCL.SATURATED_OR_DEFECTIVE, SCL.UNCLASSIFIED]);
    expect(Array.from(badPixels(scl, 6, 1))).toEqual([1, 0, 0, 0, 0, 0]);
  });

  it("masks thin cirrus and medium-probability cloud like the other cloud classes", () => {
    for (const c of [SCL.THIN_CIRRUS, SCL.CLOUD_MEDIUM_PROBABILITY]) {
      const scl = new Uint8Array(20 * 20).fill(c);
      expect(badPixels(scl, 20, 20).every((v) => v === 1)).toBe(true);
    }
  });
});
