import { describe, expect, it } from "vitest";
import { AoiError, parseAoi, ringAreaKm2 } from "./aoi";

const square = (w: number, s: number, e: number, n: number) => ({ type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] });
const message = (input: unknown) => {
  try {
    parseAoi(input);
  } catch (err) {
    if (err instanceof AoiError) return err.message;
    throw err;
  }
  return "accepted";
};

describe("parseAoi", () => {
  it("accepts a polygon, a feature and a one-feature collection, and measures the area on the sphere", () => {
    const aoi = parseAoi(square(106.7, -6.6, 106.8, -6.5));
    // 0.1° x 0.1° near the equator: about 11.06 km x 11.06 km.
    expect(aoi.areaKm2).toBeGreaterThan(121);
    expect(aoi.areaKm2).toBeLessThan(124);
    expect(aoi.bbox).toEqual([106.7, -6.6, 106.8, -6.5]);
    expect(parseAoi({ type: "Feature", properties: {}, geometry: square(0, 0, 1, 1) }).type).toBe("Polygon");
    expect(parseAoi({ type: "FeatureCollection", features: [{ type: "Feature", properties: {}, geometry: square(0, 0, 1, 1) }] }).type).toBe("Polygon");
  });

  it("subtracts holes and adds the parts of a multipolygon", () => {
    const outer = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]];
    const hole = [[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75], [0.25, 0.25]];
    const full = ringAreaKm2(outer as [number, number][]);
    expect(parseAoi({ type: "Polygon", coordinates: [outer, hole] }).areaKm2).toBeCloseTo(full * 0.75, 0);
    expect(parseAoi({ type: "MultiPolygon", coordinates: [[outer], [[[2, 0], [3, 0], [3, 1], [2, 1], [2, 0]]]] }).areaKm2).toBeCloseTo(full * 2, -1);
  });

  it("refuses a self-intersecting ring and says which edges cross", () => {
    expect(message({ type: "Polygon", coordinates: [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]] })).toBe("The outer ring crosses itself (edges 1 and 3). Redraw it without crossing lines.");
  });

  it("refuses an open ring, too few positions, swapped or projected coordinates", () => {
    expect(message({ type: "Polygon", coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1]]] })).toBe("The outer ring is not closed: its last position must repeat the first (0, 0).");
    expect(message({ type: "Polygon", coordinates: [[[0, 0], [1, 0], [0, 0]]] })).toContain("needs at least 4");
    expect(message(square(-6.6, 106.7, -6.5, 106.8))).toContain("outside longitude -180..180 / latitude -90..90");
    expect(message(square(700000, 9200000, 710000, 9210000))).toContain("were they swapped or projected?");
  });

  it("refuses what is not a polygon, with what to do instead", () => {
    expect(message({ type: "Point", coordinates: [0, 0] })).toBe("The AOI is a Point; draw or upload a Polygon or MultiPolygon.");
    expect(message({ type: "FeatureCollection", features: [] })).toBe("The FeatureCollection holds 0 polygons; upload exactly one Polygon or MultiPolygon feature.");
    expect(message("hello")).toContain("not GeoJSON");
  });
});
