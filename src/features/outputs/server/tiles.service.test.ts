import { describe, expect, it } from "vitest";
import { lonLatToGrid, parseGridSpec } from "~/lib/grid";
import { AppError } from "~/server/errors";
import { gridTilesMeeting } from "./tiles.service";

const grid = parseGridSpec("global_10:480");

/** The XYZ tile holding a lon/lat at zoom z. */
function xyz(lon: number, lat: number, z: number) {
  const n = 2 ** z;
  const rad = (lat * Math.PI) / 180;
  return { z, x: Math.floor(((lon + 180) / 360) * n), y: Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n) };
}

describe("gridTilesMeeting", () => {
  it("finds the grid tile under a point among those a map tile meets", () => {
    const [x, y] = lonLatToGrid(grid, 106.8, -6.5);
    const here = { x: Math.floor((x - grid.origin.x) / grid.tileSize), y: Math.floor((y - grid.origin.y) / grid.tileSize) };
    const met = gridTilesMeeting(grid, xyz(106.8, -6.5, 13), undefined);
    expect(met).toContainEqual(here);
    // A 4.8 km map tile at zoom 13 meets a 2 x 2 or 2 x 3 block of 4.8 km grid tiles.
    expect(met.length).toBeGreaterThanOrEqual(1);
    expect(met.length).toBeLessThanOrEqual(9);
  });

  it("keeps only the listed tasks that the map tile meets", () => {
    const met = gridTilesMeeting(grid, xyz(106.8, -6.5, 13), undefined);
    expect(gridTilesMeeting(grid, xyz(106.8, -6.5, 13), [met[0]!, { x: 0, y: 0 }])).toEqual([met[0]]);
  });

  it("refuses a zoomed-out tile over a fine grid without enumerating it", () => {
    const started = performance.now();
    expect(() => gridTilesMeeting(grid, { z: 0, x: 0, y: 0 }, undefined)).toThrow(AppError);
    expect(() => gridTilesMeeting(grid, { z: 0, x: 0, y: 0 }, undefined)).toThrow(/zoom in, or list the tasks/);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
