import { describe, expect, it } from "vitest";
import { parseGridSpec, tileLonLatBounds } from "~/lib/grid";
import { outputMaxZoom, outputMinZoom, outputRasterLayer } from "./output-layer";

const grid = parseGridSpec("global_10:480");

describe("outputRasterLayer", () => {
  it("points at the tile endpoint for the tasks, bounded by their tiles, with the opacity", () => {
    const tasks = [{ x: 2000, y: 1000 }, { x: 2001, y: 1001 }];
    const layer = outputRasterLayer({ environment: "staging", period: "2024--P1Y", tasks, grid, opacity: 0.6, version: 2 });
    expect(layer).toMatchObject({
      kind: "raster",
      id: "outputs",
      tiles: ["/api/outputs/staging/gm_s2_annual/2024--P1Y/tiles/{z}/{x}/{y}.png?tasks=2000/1000,2001/1001&v=2"],
      tileSize: 256,
      opacity: 0.6,
      minzoom: 0,
    });
    const [a, b] = tasks.map((t) => tileLonLatBounds(grid, t));
    expect(layer.bounds).toEqual([a!.west, a!.south, b!.east, b!.north]);
  });

  it("without a task list, starts where a map tile meets at most 256 grid tiles", () => {
    const layer = outputRasterLayer({ environment: "dev", period: "2024--P1Y", grid: "global_10:480" });
    expect(layer.bounds).toBeUndefined();
    expect(layer.minzoom).toBe(outputMinZoom(grid, [0, 0]));
  });
});

describe("zoom range", () => {
  it("needs closer zooms for smaller grid tiles, and stops one level past 10 m pixels", () => {
    const big = outputMinZoom(parseGridSpec("global_10"), [106.8, -6.5]);
    const small = outputMinZoom(grid, [106.8, -6.5]);
    expect(small).toBeGreaterThan(big);
    // 4.8 km tiles, 256 of them: 16 x 16 -> about 77 km across, zoom 9 (78 km tiles at the equator) holds fewer.
    expect(small).toBe(10);
    expect(outputMaxZoom(grid)).toBe(15);
  });
});
