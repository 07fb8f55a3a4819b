import { describe, expect, it } from "vitest";
import { isXyzTile, MERCATOR_HALF, MERCATOR_MAX_LAT, xyzLonLatBounds, xyzMercatorBounds } from "./web-mercator";

describe("XYZ tiles", () => {
  it("makes tile 0/0/0 the whole EPSG:3857 square", () => {
    expect(xyzMercatorBounds({ z: 0, x: 0, y: 0 })).toEqual({ left: -MERCATOR_HALF, bottom: -MERCATOR_HALF, right: MERCATOR_HALF, top: MERCATOR_HALF });
    const [w, s, e, n] = xyzLonLatBounds({ z: 0, x: 0, y: 0 });
    expect([w, e]).toEqual([-180, 180]);
    expect(n).toBeCloseTo(MERCATOR_MAX_LAT, 9);
    expect(s).toBeCloseTo(-MERCATOR_MAX_LAT, 9);
  });

  it("numbers y from the north: 1/0/0 is the north-west quarter", () => {
    expect(xyzLonLatBounds({ z: 1, x: 0, y: 0 }).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([-180, 0, 0, 85.051129]);
    expect(xyzMercatorBounds({ z: 1, x: 1, y: 1 })).toEqual({ left: 0, bottom: -MERCATOR_HALF, right: MERCATOR_HALF, top: 0 });
  });

  it("accepts only whole coordinates inside the zoom's range", () => {
    expect(isXyzTile({ z: 3, x: 7, y: 7 })).toBe(true);
    expect(isXyzTile({ z: 3, x: 8, y: 0 })).toBe(false);
    expect(isXyzTile({ z: 3, x: -1, y: 0 })).toBe(false);
    expect(isXyzTile({ z: 1.5, x: 0, y: 0 })).toBe(false);
    expect(isXyzTile({ z: 25, x: 0, y: 0 })).toBe(false);
  });
});
