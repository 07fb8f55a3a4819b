import { describe, expect, it } from "vitest";
import { composeRgba, stretchByte } from "./render";

describe("stretchByte", () => {
  it("maps min to black, max to white, linearly, clipped", () => {
    expect(stretchByte(0, 0, 3000)).toBe(0);
    expect(stretchByte(1500, 0, 3000)).toBe(128);
    expect(stretchByte(3000, 0, 3000)).toBe(255);
    expect(stretchByte(9000, 0, 3000)).toBe(255);
    expect(stretchByte(50, 100, 3000)).toBe(0);
  });
});

describe("composeRgba", () => {
  it("is opaque where the three bands have data and transparent where any is nodata", () => {
    const r = Uint16Array.from([3000, 0, 1500, 600]);
    const g = Uint16Array.from([3000, 10, 0, 300]);
    const b = Uint16Array.from([3000, 10, 10, 1]);
    const [R, G, B, A] = composeRgba([r, g, b], [0, 3000]);
    expect(Array.from(A!)).toEqual([255, 0, 0, 255]);
    expect([R![3], G![3], B![3]]).toEqual([51, 26, 0]);
    expect([R![0], G![0], B![0]]).toEqual([255, 255, 255]);
  });
});

describe("renderRgbTile", () => {
  it("mosaics neighbouring outputs into one map tile (each source's part survives the next one's warp)", async () => {
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const { PNG } = await import("pngjs");
    const gdal = (await import("gdal-async")).default;
    const { renderRgbTile } = await import("./render");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-render-"));
    try {
      // Two 4.8 km tiles of EPSG:6933, one above the other (tiles 5766/1366 and 5766/1367 of global_10:480).
      const paths = [-835_200, -830_400].map((bottom, i) => {
        const bands = ["r", "g", "b"].map((c) => {
          const file = path.join(dir, `t${i}-${c}.tif`);
          const ds = gdal.open(file, "w", "GTiff", 480, 480, 1, gdal.GDT_UInt16);
          ds.srs = gdal.SpatialReference.fromEPSG(6933);
          ds.geoTransform = [10_300_800, 10, 0, bottom + 4800, 0, -10];
          ds.bands.get(1).noDataValue = 0;
          ds.bands.get(1).pixels.write(0, 0, 480, 480, new Uint16Array(480 * 480).fill(1000 + 500 * i));
          ds.close();
          return file;
        });
        return { paths: bands as [string, string, string] };
      });
      // Map tile 13/6525/4244 straddles the two tiles' common edge.
      const png = PNG.sync.read((await renderRgbTile(paths, { z: 13, x: 6525, y: 4244 }, [0, 3000]))!);
      const opaqueRows = [8, 120, 216, 250].map((row) => png.data[(row * 256 + 128) * 4 + 3]);
      expect(opaqueRows).toEqual([255, 255, 255, 255]);
      const red = (row: number) => png.data[(row * 256 + 128) * 4]!;
      // North (top) from the upper tile (DN 1500), south from the lower one (DN 1000).
      expect(red(8)).toBe(128);
      expect(red(250)).toBe(85);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
