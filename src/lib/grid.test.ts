import { describe, expect, it } from "vitest";
import {
  chunkWindows,
  densifyRing,
  formatOdcDatetime,
  formatTaskId,
  GridError,
  lonLatToGrid,
  parseGridSpec,
  parsePeriod,
  parseTaskId,
  polygonMeetsBounds,
  regionCode,
  tileBounds,
  tileGeobox,
  tileLonLatBounds,
  tilePixels,
  tilesInBounds,
  tilesMeetingLonLat,
} from "./grid";

describe("grid specs", () => {
  it("global_10 is odc-dscache's global grid: EPSG:6933, 96 km tiles of 9 600 px, origin (-17 376 000, -7 392 000)", () => {
    const g = parseGridSpec("global_10");
    expect(g).toMatchObject({ crs: "EPSG:6933", resolution: 10, tileSize: 96_000, origin: { x: -17_376_000, y: -7_392_000 } });
    expect(tilePixels(g)).toBe(9600);
    expect(parseGridSpec("africa-10")).toMatchObject({ crs: "EPSG:6933", tileSize: 96_000 });
  });

  it("a tile size suffix keeps the origin, so small tiles nest in the 96 km ones", () => {
    const g = parseGridSpec("global_10:960");
    expect(g.tileSize).toBe(9600);
    expect(g.origin).toEqual({ x: -17_376_000, y: -7_392_000 });
    // Ten small tiles per big tile, along each axis.
    const big = tileBounds(parseGridSpec("global_10"), { x: 288, y: 68 });
    expect(tileBounds(g, { x: 2880, y: 680 }).left).toBe(big.left);
    expect(tileBounds(g, { x: 2889, y: 689 }).top).toBe(big.top);
  });

  it("the string form crs;res;pixels has its origin at 0, 0 (odc-dscache `_parse_gridspec_string`)", () => {
    expect(parseGridSpec("epsg:6933;10;9600")).toMatchObject({ crs: "EPSG:6933", resolution: 10, tileSize: 96_000, origin: { x: 0, y: 0 } });
    expect(parseGridSpec("epsg:32748;-20x20;500x500")).toMatchObject({ crs: "EPSG:32748", resolution: 20, tileSize: 10_000 });
  });

  it("refuses unknown names, odd tile sizes and unsupported CRSs with the reason", () => {
    expect(() => parseGridSpec("europe_10")).toThrow(/unknown grid "europe_10"/);
    expect(() => parseGridSpec("global_10:abc")).toThrow(GridError);
    expect(() => parseGridSpec("epsg:2193;10;100")).toThrow(/unsupported CRS EPSG:2193/);
    expect(() => parseGridSpec("epsg:6933;10x20;100")).toThrow(/square pixels/);
  });
});

describe("tiles", () => {
  const g = parseGridSpec("global_10");

  it("numbers tiles as datacube's GridSpec: x east, y north, geobox anchored at the top-left", () => {
    // GDAL/PROJ put (106.8 E, 6.5 S) at x = 10 304 734.73, y = -827 496.15 in EPSG:6933.
    const [x, y] = lonLatToGrid(g, 106.8, -6.5);
    expect(x).toBeCloseTo(10_304_734.73, 1);
    expect(y).toBeCloseTo(-827_496.15, 1);
    expect(tilesInBounds(g, { left: x, right: x, bottom: y, top: y + 1 })).toEqual([{ x: 288, y: 68 }]);
    expect(tileGeobox(g, { x: 288, y: 68 })).toEqual({
      crs: "EPSG:6933",
      transform: [10, 0, 288 * 96_000 - 17_376_000, 0, -10, 69 * 96_000 - 7_392_000],
      width: 9600,
      height: 9600,
    });
  });

  it("puts (0, 0) at the corner of tiles 181/77 and Dakar in tile 163/96 (Digital Earth Africa's numbering)", () => {
    expect(tilesMeetingLonLat(g, [0.001, 0.001, 0.002, 0.002])).toEqual([{ x: 181, y: 77 }]);
    expect(tilesMeetingLonLat(g, [-17.5, 14.7, -17.499, 14.701])).toEqual([{ x: 163, y: 96 }]);
  });

  it("finds the tiles a lon/lat polygon meets, not every tile of its bounding box", () => {
    const centre = (x: number, y: number) => {
      const b = tileLonLatBounds(g, { x, y });
      return [(b.west + b.east) / 2, (b.south + b.north) / 2] as const;
    };
    // An L from the centre of tile 288/68 north to 288/69, then east to 289/69: its bounding box
    // covers four tiles, the L misses 289/68.
    const [x0, y0] = centre(288, 68);
    const [x1, y1] = centre(289, 69);
    const d = 0.01;
    const l = { type: "Polygon" as const, coordinates: [[[x0 - d, y0 - d], [x0 + d, y0 - d], [x0 + d, y1 - d], [x1, y1 - d], [x1, y1 + d], [x0 - d, y1 + d], [x0 - d, y0 - d]]] };
    expect(tilesMeetingLonLat(g, l)).toEqual([{ x: 288, y: 68 }, { x: 288, y: 69 }, { x: 289, y: 69 }]);
    expect(tilesMeetingLonLat(g, [x0 - d, y0 - d, x1, y1 + d])).toHaveLength(4);
  });

  it("finds the same tiles as testing every tile of the box against the whole polygon (concave, with a hole)", () => {
    const g = parseGridSpec("global_10:480");
    // A U-shaped polygon with a hole in one arm, about 40 x 30 km around Bogor.
    const outer = [[106.6, -6.8], [107.0, -6.8], [107.0, -6.5], [106.9, -6.5], [106.9, -6.7], [106.7, -6.7], [106.7, -6.5], [106.6, -6.5], [106.6, -6.8]];
    const hole = [[106.92, -6.75], [106.98, -6.75], [106.98, -6.6], [106.92, -6.6], [106.92, -6.75]];
    const area = { type: "Polygon" as const, coordinates: [outer, hole] };
    const step = g.tileSize / 64 / 111_000;
    const rings = [outer, hole].map((r) => densifyRing(r as [number, number][], step).map(([lon, lat]) => lonLatToGrid(g, lon, lat)));
    const xs = rings[0]!.map((p) => p[0]);
    const ys = rings[0]!.map((p) => p[1]);
    const brute = tilesInBounds(g, { left: Math.min(...xs), right: Math.max(...xs), bottom: Math.min(...ys), top: Math.max(...ys) })
      .filter((t) => polygonMeetsBounds(rings, tileBounds(g, t)))
      .sort((a, b) => a.y - b.y || a.x - b.x);
    const found = tilesMeetingLonLat(g, area);
    expect(found).toEqual(brute);
    expect(found.length).toBeGreaterThan(20);
  });

  it("treats a rectangle inside a hole as outside and a rectangle inside the polygon as inside", () => {
    const outer: [number, number][] = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]];
    const hole: [number, number][] = [[2, 2], [8, 2], [8, 8], [2, 8], [2, 2]];
    expect(polygonMeetsBounds([outer, hole], { left: 4, bottom: 4, right: 6, top: 6 })).toBe(false);
    expect(polygonMeetsBounds([outer], { left: 4, bottom: 4, right: 6, top: 6 })).toBe(true);
    expect(polygonMeetsBounds([outer], { left: 11, bottom: 4, right: 12, top: 6 })).toBe(false);
  });

  it("visits chunks group by group, so that neighbours sharing source blocks come one after the other", () => {
    const order = chunkWindows(8, 4, 2, 2).map((w) => `${w.col},${w.row}`);
    expect(order).toEqual(["0,0", "2,0", "0,2", "2,2", "4,0", "6,0", "4,2", "6,2"]);
    // Every pixel exactly once, whatever the grouping.
    const cover = (ws: { col: number; row: number; width: number; height: number }[]) => ws.reduce((n, w) => n + w.width * w.height, 0);
    expect(cover(chunkWindows(1000, 700, 256, 4))).toBe(700_000);
    expect(chunkWindows(1000, 700, 256, 4)).toHaveLength(chunkWindows(1000, 700, 256).length);
  });

  it("cuts a tile into chunks row by row, the last ones smaller", () => {
    expect(chunkWindows(5, 3, 2)).toEqual([
      { col: 0, row: 0, width: 2, height: 2 },
      { col: 2, row: 0, width: 2, height: 2 },
      { col: 4, row: 0, width: 1, height: 2 },
      { col: 0, row: 2, width: 2, height: 1 },
      { col: 2, row: 2, width: 2, height: 1 },
      { col: 4, row: 2, width: 1, height: 1 },
    ]);
  });
});

describe("periods and task ids", () => {
  it("parses odc-stats periods with [start, end) bounds and the canonical short form", () => {
    const p = parsePeriod("2024--P1Y");
    expect(p.text).toBe("2024--P1Y");
    expect(p.start.toISOString()).toBe("2024-01-01T00:00:00.000Z");
    expect(p.end.toISOString()).toBe("2025-01-01T00:00:00.000Z");
    expect(parsePeriod("2024-04--P3M").end.toISOString()).toBe("2024-07-01T00:00:00.000Z");
    expect(parsePeriod("2024-02-25--P10D").end.toISOString()).toBe("2024-03-06T00:00:00.000Z");
    expect(() => parsePeriod("2024")).toThrow(/2024--P1Y/);
    expect(() => parsePeriod("2024-02-30--P1D")).toThrow(/not a valid date/);
  });

  it("writes ODC datetimes with microseconds, the period end as its last instant", () => {
    const p = parsePeriod("2024--P1Y");
    expect(formatOdcDatetime(p.start)).toBe("2024-01-01T00:00:00.000000Z");
    expect(formatOdcDatetime(p.end, true)).toBe("2024-12-31T23:59:59.999999Z");
  });

  it("parses and renders task ids as odc-stats' parse_task / render_task", () => {
    const t = parseTaskId("2024--P1Y/304/68");
    expect(t.tile).toEqual({ x: 304, y: 68 });
    expect(formatTaskId(t)).toBe("2024--P1Y/304/68");
    expect(formatTaskId(parseTaskId("x05/y07/2024--P1Y"))).toBe("2024--P1Y/05/07");
    expect(formatTaskId(parseTaskId("2024--P1Y,3,-4"))).toBe("2024--P1Y/03/-4");
    expect(() => parseTaskId("2024--P1Y/304")).toThrow(/<period>\/<x>\/<y>/);
    expect(() => parseTaskId("2024--P1Y/a/1")).toThrow(/whole numbers/);
  });

  it("formats region codes with three digits, as gm_s2_annual's x{x:03d}y{y:03d}", () => {
    expect(regionCode({ x: 304, y: 68 })).toBe("x304y068");
    expect(regionCode({ x: 5, y: -3 })).toBe("x005y-03");
  });
});
