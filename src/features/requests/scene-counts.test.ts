import { describe, expect, it } from "vitest";
import { countPerTile, type Box } from "./scene-counts";

const meets = (a: Box, b: Box) => a.west <= b.east && a.east >= b.west && a.south <= b.north && a.north >= b.south;

describe("countPerTile", () => {
  it("counts what a per-tile overlap search counts, edges included, on a random cylindrical grid", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    // Columns of equal width, rows of varying height (as EPSG:6933 rows are in latitude).
    const lats = [0];
    for (let i = 0; i < 30; i++) lats.push(lats[i]! + 0.04 + rand() * 0.02);
    const tiles: Box[] = [];
    for (let x = 0; x < 30; x++) for (let y = 0; y < 30; y++) if (rand() > 0.2) tiles.push({ west: 100 + x * 0.05, east: 100 + (x + 1) * 0.05, south: lats[y]!, north: lats[y + 1]! });
    const datasets: Box[] = Array.from({ length: 60 }, () => {
      const w = 99.8 + rand() * 1.6;
      const s = -0.2 + rand() * 1.6;
      return { west: w, east: w + rand() * 0.3, south: s, north: s + rand() * 0.3 };
    });
    // A dataset touching a tile edge exactly counts, as in ODC's inclusive ranges.
    datasets.push({ west: 100.05, east: 100.05, south: lats[3]!, north: lats[3]! });
    const expected = tiles.map((t) => datasets.filter((d) => meets(t, d)).length);
    expect(countPerTile(tiles, datasets)).toEqual(expected);
    expect(expected.some((n) => n === 0)).toBe(true);
  });

  it("returns zeros when nothing meets the tiles", () => {
    expect(countPerTile([{ west: 0, east: 1, south: 0, north: 1 }], [{ west: 5, east: 6, south: 5, north: 6 }])).toEqual([0]);
  });
});
