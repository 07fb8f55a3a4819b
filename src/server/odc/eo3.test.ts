import { describe, expect, it } from "vitest";
import { EO3_SCHEMA, eo3Sources, Eo3Error, lonLatBounds, prepEo3, type Eo3Document } from "./eo3";

const base = (): Eo3Document => ({
  $schema: EO3_SCHEMA,
  id: "dee3c83f-fbdd-5979-8b08-25ba7f2ba303",
  crs: "EPSG:32628",
  product: { name: "s2_l2a" },
  grids: {
    default: { shape: [10980, 10980], transform: [10, 0, 300000, 0, -10, 2300040] },
    g20m: { shape: [5490, 5490], transform: [20, 0, 300000, 0, -20, 2300040] },
  },
  geometry: { type: "Polygon", coordinates: [[[300101, 2300039], [320356, 2300039], [300111, 2218486], [300101, 2300039]]] },
  properties: { datetime: "2020-07-14T11:55:52.479000Z" },
  measurements: { blue: { path: "B02.tif" } },
});

// Expected values are what datacube 1.8.20 stored for the same documents (pyproj/PROJ); proj4js
// agrees to ~1e-14 degrees, so they are compared to 1e-9.
describe("prepEo3", () => {
  it("adds the lon/lat extent of the geometry as datacube does", () => {
    const { extent } = prepEo3(base());
    expect(extent.lat.begin).toBeCloseTo(20.052965966606223, 9);
    expect(extent.lat.end).toBeCloseTo(20.791551382575612, 9);
    expect(extent.lon.begin).toBeCloseTo(-16.92047119706923, 9);
    expect(extent.lon.end).toBeCloseTo(-16.72594753822017, 9);
  });

  it("adds grid_spatial: the CRS, the default grid's corners and the geometry as valid data", () => {
    const doc = base();
    const { grid_spatial } = prepEo3(doc);
    expect(grid_spatial.projection.spatial_reference).toBe("EPSG:32628");
    expect(grid_spatial.projection.geo_ref_points).toEqual({
      ul: { x: 300000, y: 2300040 },
      ur: { x: 409800, y: 2300040 },
      lr: { x: 409800, y: 2190240 },
      ll: { x: 300000, y: 2190240 },
    });
    expect(grid_spatial.projection.valid_data).toEqual(doc.geometry);
  });

  it("uses the grid outlines when there is no geometry", () => {
    const doc = { ...base(), grids: { default: { shape: [10, 10] as [number, number], transform: [10, 0, 300000, 0, -10, 2300040] } } };
    delete doc.geometry;
    const prepared = prepEo3(doc);
    expect(prepared.grid_spatial.projection.valid_data).toEqual({
      type: "Polygon",
      coordinates: [[[300000, 2300040], [300100, 2300040], [300100, 2299940], [300000, 2299940], [300000, 2300040]]],
    });
    expect(prepared.extent.lon.begin).toBeCloseTo(-16.92144122803426, 9);
    expect(prepared.extent.lon.end).toBeCloseTo(-16.9204694856197, 9);
    expect(prepared.extent.lat.begin).toBeCloseTo(20.78857960389732, 9);
    expect(prepared.extent.lat.end).toBeCloseTo(20.78949343104254, 9);
  });

  it("stores lineage as empty source_datasets (the sources go to agdc.dataset_source)", () => {
    const prepared = prepEo3({ ...base(), lineage: { s2_l2a: ["a0000000-0000-0000-0000-000000000001", "a0000000-0000-0000-0000-000000000002"] } });
    expect(prepared.lineage).toEqual({ source_datasets: {} });
    expect(eo3Sources({ lineage: { s2_l2a: ["x", "y"], dem: ["z"] } })).toEqual([
      { classifier: "s2_l2a1", id: "x" },
      { classifier: "s2_l2a2", id: "y" },
      { classifier: "dem", id: "z" },
    ]);
  });

  it("keeps everything else of the document", () => {
    const prepared = prepEo3(base());
    expect(prepared.measurements).toEqual({ blue: { path: "B02.tif" } });
    expect(prepared.properties).toEqual({ datetime: "2020-07-14T11:55:52.479000Z" });
    expect(prepared.id).toBe("dee3c83f-fbdd-5979-8b08-25ba7f2ba303");
  });

  it("refuses what datacube 1.8 cannot index", () => {
    expect(() => prepEo3({ ...base(), grids: { g20m: { shape: [1, 1], transform: [20, 0, 0, 0, -20, 0] } } })).toThrow("input must have grids.default");
    expect(() => prepEo3({ ...base(), grids: { default: { shape: [1, 1, 1] as unknown as [number, number], transform: [10, 0, 0, 0, -10, 0] } } })).toThrow(Eo3Error);
    expect(() => prepEo3({ ...base(), grids: { default: { shape: [1, 1], transform: [10, 0, 0, 0, -10, 0, 1, 0, 1] } } })).toThrow("valid affine matrix");
    expect(() => prepEo3({ ...base(), crs: "EPSG:2193" })).toThrow(Eo3Error);
    // prep_eo3 reads geometry.coordinates[0] as a ring and fails on a MultiPolygon.
    const multi = { type: "MultiPolygon", coordinates: [[[[300000, 2300000], [300100, 2300000], [300100, 2299900], [300000, 2300000]]]] };
    expect(() => prepEo3({ ...base(), geometry: multi as unknown as Eo3Document["geometry"] })).toThrow("geometry must be a Polygon");
    expect(() => prepEo3({ ...base(), $schema: "x" as typeof EO3_SCHEMA })).toThrow("not an EO3 document");
  });
});

describe("lonLatBounds", () => {
  it("returns lon/lat rings unchanged in EPSG:4326", () => {
    expect(lonLatBounds([[10, 1], [12, 3], [11, 2]], "EPSG:4326")).toEqual({ lon: { begin: 10, end: 12 }, lat: { begin: 1, end: 3 } });
  });

  it("unwraps a footprint that crosses the antimeridian", () => {
    // UTM zone 60 south, straddling 180 degrees (Fiji / Tonga): without unwrapping the span would be ~360.
    const b = lonLatBounds([[700000, 8100000], [850000, 8100000], [850000, 8000000], [700000, 8000000]], "EPSG:32760");
    expect(b.lon.end - b.lon.begin).toBeLessThan(2);
    expect(b.lon.begin).toBeGreaterThan(178);
    expect(b.lon.end).toBeGreaterThan(180);
  });
});
