import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { formatG, odcUuid, processingBaseline, reflectanceOffset, StacConversionError, stacToEo3, uuid5 } from "./stac-to-eo3";

// Real Earth Search v1 items (bucket-copy form, baseline 02.14), vendored from odc-tools' test data.
const fixtures = path.resolve(import.meta.dirname, "../../../tests/reference/datacube/fixtures");
type Item = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- STAC JSON, edited freely by the tests
const load = (name: string): Item => JSON.parse(fs.readFileSync(path.join(fixtures, name), "utf8"));
const s2a28QCH = () => load("odc-tools__S2A_28QCH_20200714_0_L2A.json");
const s2b31QGB = () => load("odc-tools__S2B_31QGB_20200831_0_L2A.json");

/** The item as Earth Search's API returns it: https self link to the API, canonical to the bucket copy. */
function apiForm(item: Item, { canonical = true } = {}): Item {
  const api = "https://earth-search.aws.element84.com/v1";
  const bucketJson = item.links.find((l: Item) => l.rel === "self").href;
  item.links = [
    { rel: "self", type: "application/geo+json", href: `${api}/collections/sentinel-2-l2a/items/${item.id}` },
    ...(canonical ? [{ rel: "canonical", href: bucketJson, type: "application/json" }] : []),
    { rel: "parent", type: "application/json", href: `${api}/collections/sentinel-2-l2a` },
    { rel: "root", type: "application/json", href: api },
  ];
  return item;
}

function conversionError(fn: () => unknown): StacConversionError {
  try {
    fn();
  } catch (err) {
    if (err instanceof StacConversionError) return err;
    throw err;
  }
  throw new Error("expected a StacConversionError");
}

describe("stacToEo3 on the real Earth Search items (bucket-copy form)", () => {
  // Expected values are what odc-apps-dc-tools 0.2.20 `stac_transform` produces for these items.
  it("gives S2A_28QCH the dataset id, label, region code and geometry odc-tools gives it", () => {
    const { document, uri, product, itemId } = stacToEo3(s2a28QCH());
    expect(product).toBe("s2_l2a");
    expect(itemId).toBe("S2A_28QCH_20200714_0_L2A");
    expect(document.id).toBe("dee3c83f-fbdd-5979-8b08-25ba7f2ba303");
    expect(document.label).toBe("S2A_OPER_MSI_L2A_TL_SGS__20200714T191310_A026432_T28QCH_N02.14");
    expect(document.crs).toBe("EPSG:32628");
    expect(document.product).toEqual({ name: "s2_l2a" });
    expect(document.properties["odc:region_code"]).toBe("28QCH");
    expect(document.geometry).toEqual({
      type: "Polygon",
      coordinates: [[[300101, 2300039], [320356, 2300039], [300111, 2218486], [300101, 2300039]]],
    });
    expect(uri).toBe("s3://sentinel-cogs/sentinel-s2-l2a-cogs/28/Q/CH/2020/7/S2A_28QCH_20200714_0_L2A/S2A_28QCH_20200714_0_L2A.json");
  });

  it("gives S2B_31QGB its odc-tools id and a five-vertex geometry rounded to metres", () => {
    const { document } = stacToEo3(s2b31QGB());
    expect(document.id).toBe("697475a8-409b-5e25-9730-2bbb8b736aaa");
    expect(document.properties["odc:region_code"]).toBe("31QGB");
    expect(document.geometry?.coordinates).toEqual([[[699961, 2200019], [782806, 2200019], [758727, 2090221], [699961, 2090221], [699961, 2200019]]]);
  });

  it("names grids from the pixel size and makes the 10 m grid the default", () => {
    const { document } = stacToEo3(s2a28QCH());
    expect(Object.keys(document.grids).sort()).toEqual(["default", "g20m", "g60m"]);
    expect(document.grids.default).toEqual({ shape: [10980, 10980], transform: [10, 0, 300000, 0, -10, 2300040] });
    expect(document.grids.g20m).toEqual({ shape: [5490, 5490], transform: [20, 0, 300000, 0, -20, 2300040] });
    expect(document.grids.g60m).toEqual({ shape: [1830, 1830], transform: [60, 0, 300000, 0, -60, 2300040] });
  });

  it("makes every GeoTIFF asset a measurement, relative to the bucket folder, and skips the jp2 twins", () => {
    const { document } = stacToEo3(s2a28QCH());
    expect(Object.keys(document.measurements).sort()).toEqual(
      ["aot", "blue", "coastal", "green", "nir", "nir08", "nir09", "red", "rededge1", "rededge2", "rededge3", "scl", "swir16", "swir22", "visual", "wvp"],
    );
    expect(document.measurements.blue).toEqual({ path: "B02.tif" });
    expect(document.measurements.scl).toEqual({ path: "SCL.tif", grid: "g20m" });
    expect(document.measurements.coastal).toEqual({ path: "B01.tif", grid: "g60m" });
    expect(Object.keys(document.measurements).filter((k) => k.endsWith("-jp2"))).toEqual([]);
    expect(document.accessories).toEqual({
      granule_metadata: { path: "granule_metadata.xml" },
      thumbnail: { path: "thumbnail.jpg" },
      tileinfo_metadata: { path: "tileinfo_metadata.json" },
    });
  });

  it("maps STAC properties to EO3 names and adds processing datetime and file format", () => {
    const p = stacToEo3(s2a28QCH()).document.properties;
    expect(p["eo:platform"]).toBe("sentinel-2a");
    expect(p["eo:constellation"]).toBe("sentinel-2");
    expect(p["eo:instrument"]).toBe("MSI");
    expect(p["eo:sun_azimuth"]).toBe(82.5474507305508);
    expect(p["eo:sun_elevation"]).toBe(72.3265746876894);
    expect(p.platform).toBeUndefined();
    expect(p.datetime).toBe("2020-07-14T11:55:52.479000Z");
    expect(p["odc:processing_datetime"]).toBe("2022-11-03T06:10:59.240406+00:00");
    expect(p["odc:file_format"]).toBe("GeoTIFF");
    expect(p["eo:cloud_cover"]).toBe(5.01237);
  });

  it("keeps the processing baseline and the offset flag for the worker", () => {
    const p = stacToEo3(s2a28QCH()).document.properties;
    expect(p["s2:processing_baseline"]).toBe("02.14");
    expect(p["earthsearch:boa_offset_applied"]).toBe(false);
    expect(reflectanceOffset(p)).toBe(0);
  });

  it("is deterministic", () => {
    expect(stacToEo3(s2b31QGB())).toEqual(stacToEo3(s2b31QGB()));
  });
});

describe("stacToEo3 on the API form (https links)", () => {
  it("locates the dataset by its canonical bucket link and keeps COG hrefs absolute", () => {
    const { document, uri } = stacToEo3(apiForm(s2a28QCH()));
    expect(uri).toBe("s3://sentinel-cogs/sentinel-s2-l2a-cogs/28/Q/CH/2020/7/S2A_28QCH_20200714_0_L2A/S2A_28QCH_20200714_0_L2A.json");
    // The self link is on earth-search.aws.element84.com, the COGs on sentinel-cogs: not relative.
    expect(document.measurements.red?.path).toBe("https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/28/Q/CH/2020/7/S2A_28QCH_20200714_0_L2A/B04.tif");
    expect(document.accessories?.thumbnail?.path).toMatch(/^https:\/\/sentinel-cogs\./);
  });

  it("falls back to the https self link when there is no canonical link", () => {
    const item = apiForm(s2a28QCH(), { canonical: false });
    expect(stacToEo3(item).uri).toBe("https://earth-search.aws.element84.com/v1/collections/sentinel-2-l2a/items/S2A_28QCH_20200714_0_L2A");
  });

  it("gives the same dataset id and geometry in both forms", () => {
    const bucket = stacToEo3(s2b31QGB()).document;
    const api = stacToEo3(apiForm(s2b31QGB())).document;
    expect(api.id).toBe(bucket.id);
    expect(api.geometry).toEqual(bucket.geometry);
    expect(api.grids).toEqual(bucket.grids);
  });

  it("makes assets under the self link's folder relative for a local STAC server", () => {
    const item = s2a28QCH();
    item.links = [{ rel: "self", href: "http://127.0.0.1:8080/items/x/item.json" }];
    item.assets.blue.href = "http://127.0.0.1:8080/items/x/B02.tif";
    item.assets.red.href = "http://127.0.0.1:9090/elsewhere/B04.tif";
    const { document } = stacToEo3(item);
    expect(document.measurements.blue?.path).toBe("B02.tif");
    expect(document.measurements.red?.path).toBe("http://127.0.0.1:9090/elsewhere/B04.tif");
  });
});

describe("processing baselines", () => {
  /** An item reprocessed at a given baseline, as Earth Search publishes items after 2022-01-25. */
  function atBaseline(baseline: string, offsetApplied: boolean | undefined): Item {
    const item = s2b31QGB();
    item.properties["s2:processing_baseline"] = baseline;
    item.properties["s2:product_uri"] = `S2B_MSIL2A_20230831T100559_N${baseline.replace(".", "")}_R022_T31QGB_20230831T145215.SAFE`;
    item.properties.datetime = "2023-08-31T10:25:34.438000Z";
    if (offsetApplied === undefined) delete item.properties["earthsearch:boa_offset_applied"];
    else item.properties["earthsearch:boa_offset_applied"] = offsetApplied;
    return item;
  }

  it("applies -0.1 from baseline 04.00 when the offset is not already applied", () => {
    const p = stacToEo3(atBaseline("05.09", false)).document.properties;
    expect(p["s2:processing_baseline"]).toBe("05.09");
    expect(reflectanceOffset(p)).toBe(-0.1);
    expect(reflectanceOffset(stacToEo3(atBaseline("04.00", undefined)).document.properties)).toBe(-0.1);
  });

  it("applies nothing when Earth Search already applied the offset", () => {
    expect(reflectanceOffset(stacToEo3(atBaseline("05.10", true)).document.properties)).toBe(0);
  });

  it("applies nothing before baseline 04.00 even if the flag claims otherwise", () => {
    expect(reflectanceOffset(stacToEo3(atBaseline("03.01", false)).document.properties)).toBe(0);
    expect(reflectanceOffset({ ...stacToEo3(atBaseline("02.14", true)).document.properties })).toBe(0);
  });

  it("recovers the baseline from the SAFE name when the property is missing", () => {
    const item = atBaseline("05.00", false);
    delete item.properties["s2:processing_baseline"];
    const p = stacToEo3(item).document.properties;
    expect(p["s2:processing_baseline"]).toBe("05.00");
    expect(processingBaseline(p)).toBe("05.00");
  });

  it("decides by acquisition date when no baseline is known", () => {
    expect(reflectanceOffset({ datetime: "2023-01-01T00:00:00Z" })).toBe(-0.1);
    expect(reflectanceOffset({ datetime: "2021-12-31T00:00:00Z" })).toBe(0);
  });
});

describe("stacToEo3 variants", () => {
  it("keeps an item id that already is a UUID", () => {
    const item = s2a28QCH();
    item.id = "0B1C6AF2-1d7e-4a54-9f66-4f4e33d2d0c8";
    expect(stacToEo3(item).document.id).toBe("0b1c6af2-1d7e-4a54-9f66-4f4e33d2d0c8");
  });

  it("uses the creation date of the item, else its acquisition date, as processing datetime", () => {
    const item = s2a28QCH();
    delete item.properties.created;
    expect(stacToEo3(item).document.properties["odc:processing_datetime"]).toBe("2020-07-14T11:55:52.479000Z");
  });

  it("turns a MultiPolygon into its convex hull in the native CRS", () => {
    const item = s2a28QCH();
    const [ring] = item.geometry.coordinates;
    item.geometry = { type: "MultiPolygon", coordinates: [[ring], [[[-16.8, 20.4], [-16.79, 20.4], [-16.79, 20.41], [-16.8, 20.4]]]] };
    const geometry = stacToEo3(item).document.geometry;
    expect(geometry?.type).toBe("Polygon");
    const hull = geometry?.coordinates[0] ?? [];
    expect(hull[0]).toEqual(hull[hull.length - 1]);
    // Starts at the lowest vertex and turns clockwise, as GEOS writes hulls.
    expect(hull[0]?.[1]).toBe(Math.min(...hull.map((p) => p[1] as number)));
    expect(hull).toEqual(expect.arrayContaining([[300101, 2300039], [320356, 2300039], [300111, 2218486]]));
  });

  it("maps other collections only when told which product they are", () => {
    const item = s2a28QCH();
    item.collection = "my-s2";
    expect(stacToEo3(item, { products: { "my-s2": "s2_l2a" } }).document.id).toBe("dee3c83f-fbdd-5979-8b08-25ba7f2ba303");
  });
});

describe("stacToEo3 refuses bad input with the item and the reason", () => {
  it("missing geometry", () => {
    const item = s2a28QCH();
    delete item.geometry;
    const err = conversionError(() => stacToEo3(item));
    expect(err.problem).toBe("missing-geometry");
    expect(err.itemId).toBe("S2A_28QCH_20200714_0_L2A");
    expect(err.message).toBe("STAC item S2A_28QCH_20200714_0_L2A: has no geometry");
  });

  it("geometry that is not a polygon", () => {
    const item = s2a28QCH();
    item.geometry = { type: "Point", coordinates: [-16.9, 20.5] };
    expect(conversionError(() => stacToEo3(item)).problem).toBe("missing-geometry");
  });

  it("no assets", () => {
    const item = s2a28QCH();
    item.assets = {};
    const err = conversionError(() => stacToEo3(item));
    expect(err.problem).toBe("no-assets");
    expect(err.message).toContain("S2A_28QCH_20200714_0_L2A");
  });

  it("only jp2 and metadata assets", () => {
    const item = s2a28QCH();
    item.assets = Object.fromEntries(Object.entries(item.assets).filter(([k]) => k.endsWith("-jp2") || k === "thumbnail"));
    expect(conversionError(() => stacToEo3(item)).problem).toBe("no-assets");
  });

  it("missing proj:epsg", () => {
    const item = s2a28QCH();
    delete item.properties["proj:epsg"];
    const err = conversionError(() => stacToEo3(item));
    expect(err.problem).toBe("missing-proj");
    expect(err.message).toContain("proj:epsg");
  });

  it("an asset without proj:transform", () => {
    const item = s2a28QCH();
    delete item.assets.red["proj:transform"];
    const err = conversionError(() => stacToEo3(item));
    expect(err.problem).toBe("missing-proj");
    expect(err.message).toBe("STAC item S2A_28QCH_20200714_0_L2A: asset red has no proj:transform");
  });

  it("an asset without proj:shape", () => {
    const item = s2a28QCH();
    delete item.assets.nir08["proj:shape"];
    expect(conversionError(() => stacToEo3(item)).message).toContain("asset nir08 has no proj:shape");
  });

  it("a CRS we cannot reproject to", () => {
    const item = s2a28QCH();
    item.properties["proj:epsg"] = 2193;
    expect(conversionError(() => stacToEo3(item)).problem).toBe("unsupported-crs");
  });

  it("unknown collection", () => {
    const item = s2a28QCH();
    item.collection = "landsat-c2-l2";
    const err = conversionError(() => stacToEo3(item));
    expect(err.problem).toBe("unknown-collection");
    expect(err.message).toBe("STAC item S2A_28QCH_20200714_0_L2A: collection landsat-c2-l2 maps to no product");
  });

  it("no links to locate it by", () => {
    const item = s2a28QCH();
    item.links = [];
    expect(conversionError(() => stacToEo3(item)).problem).toBe("missing-link");
  });

  it("not an item at all", () => {
    expect(conversionError(() => stacToEo3("<html>")).problem).toBe("invalid-item");
    expect(conversionError(() => stacToEo3({ type: "Feature" })).message).toBe("STAC item (without id): has no id");
  });
});

describe("helpers that mirror Python", () => {
  it("uuid5 matches Python's uuid.uuid5", () => {
    // uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")
    expect(uuid5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org")).toBe("886313e1-3b8a-5372-9b90-0c9aee199e5d");
  });

  it("odcUuid hashes lower-cased lines", () => {
    expect(odcUuid("sentinel-2_stac_process", "1.0.0", ["S2A_OPER_MSI_L2A_TL_SGS__20200714T191310_A026432_T28QCH_N02.14"])).toBe("dee3c83f-fbdd-5979-8b08-25ba7f2ba303");
  });

  it("formatG writes numbers as Python's format(x, 'g')", () => {
    expect([10, 20.0, 60, 0.5, 30.000001, 123456.7, 1e6, 1e-5, 0.0001, -15].map(formatG)).toEqual(["10", "20", "60", "0.5", "30", "123457", "1e+06", "1e-05", "0.0001", "-15"]);
  });
});
