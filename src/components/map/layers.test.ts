import type { FeatureCollection } from "geojson";
import { describe, expect, it } from "vitest";
import {
  absoluteUrl,
  bboxEquals,
  bboxToPolygon,
  countColor,
  countColorExpression,
  countStops,
  COUNT_RAMP,
  featureCollection,
  normalizeViewBbox,
  planLayerChanges,
  unwrapBbox,
  type MapLayer,
} from "./layers";

const aoi = featureCollection([bboxToPolygon([106.5, -6.8, 107.1, -6.2])]);
const fill = (id: string, extra: Partial<MapLayer> = {}): MapLayer => ({ id, kind: "fill", data: aoi, ...extra }) as MapLayer;
const raster = (id: string, extra: Partial<MapLayer> = {}): MapLayer =>
  ({ id, kind: "raster", tiles: ["/api/tiles/a/{z}/{x}/{y}.png"], ...extra }) as MapLayer;

describe("bboxToPolygon", () => {
  it("returns a closed counter-clockwise ring over the bbox corners", () => {
    const ring = bboxToPolygon([106.5, -6.8, 107.1, -6.2]).geometry.coordinates[0]!;
    expect(ring).toEqual([[106.5, -6.8], [107.1, -6.8], [107.1, -6.2], [106.5, -6.2], [106.5, -6.8]]);
    const signedArea = ring.slice(1).reduce((sum, [x, y], i) => sum + (ring[i]![0]! * y! - x! * ring[i]![1]!), 0);
    expect(signedArea).toBeGreaterThan(0);
  });

  it("draws a bbox across the antimeridian the short way round", () => {
    const ring = bboxToPolygon([178, -20, -178, -15]).geometry.coordinates[0]!;
    expect(ring.map(([x]) => x)).toEqual([178, 182, 182, 178, 178]);
  });

  it("keeps the properties it is given", () => {
    expect(bboxToPolygon([0, 0, 1, 1], { cell: "x001y002" }).properties).toEqual({ cell: "x001y002" });
  });
});

describe("unwrapBbox", () => {
  it("leaves an ordinary bbox alone", () => {
    expect(unwrapBbox([106.5, -6.8, 107.1, -6.2])).toEqual([106.5, -6.8, 107.1, -6.2]);
  });

  it("moves the east edge of an antimeridian-crossing bbox past 180", () => {
    expect(unwrapBbox([170, -20, -170, -10])).toEqual([170, -20, 190, -10]);
  });
});

describe("bboxEquals", () => {
  it("compares by value", () => {
    expect(bboxEquals([1, 2, 3, 4], [1, 2, 3, 4])).toBe(true);
    expect(bboxEquals([1, 2, 3, 4], [1, 2, 3, 5])).toBe(false);
  });

  it("treats two missing boxes as equal and one missing as different", () => {
    expect(bboxEquals(undefined, undefined)).toBe(true);
    expect(bboxEquals([1, 2, 3, 4], undefined)).toBe(false);
  });
});

describe("normalizeViewBbox", () => {
  it("leaves a view inside the world unchanged", () => {
    expect(normalizeViewBbox([100, -10, 120, 5])).toEqual([100, -10, 120, 5]);
  });

  it("brings a view of the next world copy back into [-180, 180]", () => {
    expect(normalizeViewBbox([460, -10, 480, 5])).toEqual([100, -10, 120, 5]);
  });

  it("returns the whole world for a view wider than the world", () => {
    expect(normalizeViewBbox([-300, -95, 300, 95])).toEqual([-180, -90, 180, 90]);
  });

  it("gives a view across the antimeridian west > east, as RFC 7946 does", () => {
    expect(normalizeViewBbox([170, -20, 190, -10])).toEqual([170, -20, -170, -10]);
    expect(normalizeViewBbox([-190, -20, -170, -10])).toEqual([170, -20, -170, -10]);
  });

  it("keeps an east edge on the antimeridian at 180", () => {
    expect(normalizeViewBbox([0, -10, 180, 10])).toEqual([0, -10, 180, 10]);
    expect(normalizeViewBbox([-180, -10, 0, 10])).toEqual([-180, -10, 0, 10]);
  });
});

describe("absoluteUrl", () => {
  it("prefixes a site-root path with the origin and keeps the tile placeholders", () => {
    expect(absoluteUrl("/api/tiles/{z}/{x}/{y}.png", "https://console.example")).toBe("https://console.example/api/tiles/{z}/{x}/{y}.png");
  });

  it("leaves absolute and protocol-relative URLs alone", () => {
    expect(absoluteUrl("https://tiles.example/{z}/{x}/{y}.png", "https://console.example")).toBe("https://tiles.example/{z}/{x}/{y}.png");
    expect(absoluteUrl("//tiles.example/{z}.png", "https://console.example")).toBe("//tiles.example/{z}.png");
  });
});

describe("count ramp", () => {
  it("spreads the stops over [0, max] in ascending order", () => {
    expect(countStops(100).map((s) => s.value)).toEqual([0, 25, 50, 75, 100]);
  });

  it("still ascends when nothing has been counted yet", () => {
    const values = countStops(0).map((s) => s.value);
    expect(values.every((v, i) => i === 0 || v > values[i - 1]!)).toBe(true);
  });

  it("gives the end colours at the ends and clamps outside", () => {
    expect(countColor(0, 10)).toBe(COUNT_RAMP[0]);
    expect(countColor(10, 10)).toBe(COUNT_RAMP[4]);
    expect(countColor(-3, 10)).toBe(COUNT_RAMP[0]);
    expect(countColor(99, 10)).toBe(COUNT_RAMP[4]);
  });

  it("interpolates between stops", () => {
    expect(countColor(25, 100)).toBe(COUNT_RAMP[1]);
    // Halfway between #ffffcc and #a1dab4.
    expect(countColor(12.5, 100)).toBe("#d0edc0");
  });

  it("builds an interpolate expression with the same stops", () => {
    expect(countColorExpression("datasets", 4)).toEqual([
      "interpolate", ["linear"], ["to-number", ["get", "datasets"], 0],
      0, COUNT_RAMP[0], 1, COUNT_RAMP[1], 2, COUNT_RAMP[2], 3, COUNT_RAMP[3], 4, COUNT_RAMP[4],
    ]);
  });
});

describe("planLayerChanges", () => {
  it("adds every layer in order on a fresh style", () => {
    const next = [fill("cells"), raster("output")];
    expect(planLayerChanges([], next)).toEqual([
      { op: "add", layer: next[0] },
      { op: "add", layer: next[1] },
    ]);
  });

  it("does nothing when the props are unchanged", () => {
    const layers = [fill("cells", { paint: { "fill-color": "#f00" } }), raster("output", { opacity: 0.5 })];
    expect(planLayerChanges(layers, [...layers.map((l) => ({ ...l }))])).toEqual([]);
  });

  it("removes a layer that is gone", () => {
    expect(planLayerChanges([fill("a"), fill("b")], [fill("a")])).toEqual([{ op: "remove", id: "b" }]);
  });

  it("replaces the data of a vector layer when a new collection is passed", () => {
    const data: FeatureCollection = featureCollection([bboxToPolygon([0, 0, 1, 1])]);
    expect(planLayerChanges([fill("a")], [fill("a", { data } as Partial<MapLayer>)])).toEqual([{ op: "setData", id: "a", data }]);
  });

  it("updates tiles and opacity of a raster layer in place", () => {
    const tiles = ["/api/tiles/b/{z}/{x}/{y}.png"];
    expect(planLayerChanges([raster("r")], [raster("r", { tiles, opacity: 0.4 } as Partial<MapLayer>)])).toEqual([
      { op: "setTiles", id: "r", tiles },
      { op: "paint", id: "r", name: "raster-opacity", value: 0.4 },
    ]);
  });

  it("sets changed paint properties and resets removed ones", () => {
    const prev = fill("a", { paint: { "fill-color": "#f00", "fill-opacity": 0.5 } });
    const next = fill("a", { paint: { "fill-color": "#00f" } });
    expect(planLayerChanges([prev], [next])).toEqual([
      { op: "paint", id: "a", name: "fill-color", value: "#00f" },
      { op: "paint", id: "a", name: "fill-opacity", value: undefined },
    ]);
  });

  it("toggles visibility without touching the source", () => {
    expect(planLayerChanges([raster("r")], [raster("r", { visible: false })])).toEqual([{ op: "visibility", id: "r", visible: false }]);
  });

  it("re-creates a layer whose kind changes", () => {
    const next = { id: "a", kind: "line", data: aoi } as MapLayer;
    expect(planLayerChanges([fill("a")], [next])).toEqual([
      { op: "remove", id: "a" },
      { op: "add", layer: next },
    ]);
  });

  it("re-creates a raster layer whose bounds change", () => {
    const next = raster("r", { bounds: [0, 0, 1, 1] });
    expect(planLayerChanges([raster("r")], [next])).toEqual([
      { op: "remove", id: "r" },
      { op: "add", layer: next },
    ]);
  });

  it("appends a new top layer without restacking the others", () => {
    const next = [fill("a"), fill("b"), fill("c")];
    expect(planLayerChanges(next.slice(0, 2), next)).toEqual([{ op: "add", layer: next[2] }]);
  });

  it("restacks the group when a layer is inserted below existing ones", () => {
    const next = [fill("a"), fill("new"), fill("b")];
    expect(planLayerChanges([fill("a"), fill("b")], next)).toEqual([
      { op: "add", layer: next[1] },
      { op: "move", id: "a", beforeId: undefined },
      { op: "move", id: "new", beforeId: undefined },
      { op: "move", id: "b", beforeId: undefined },
    ]);
  });

  it("restacks when the order of the array changes", () => {
    const ops = planLayerChanges([fill("a"), fill("b")], [fill("b"), fill("a")]);
    expect(ops).toEqual([
      { op: "move", id: "b", beforeId: undefined },
      { op: "move", id: "a", beforeId: undefined },
    ]);
  });

  it("moves a layer whose beforeId changes", () => {
    const ops = planLayerChanges([raster("r")], [raster("r", { beforeId: "borders" })]);
    expect(ops).toEqual([{ op: "move", id: "r", beforeId: "borders" }]);
  });

  it("refuses two layers with the same id", () => {
    expect(() => planLayerChanges([], [fill("a"), raster("a")])).toThrow(/two layers share the id "a"/);
  });
});
