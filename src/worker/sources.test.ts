import { describe, expect, it } from "vitest";
import { datasetOffset, dnToReflectance, gdalPath, resolveHref } from "./sources";

describe("measurement hrefs", () => {
  it("resolves the bucket-copy form's relative paths against the dataset location", () => {
    const location = "s3://sentinel-cogs/sentinel-s2-l2a-cogs/48/M/XU/2024/1/S2A_48MXU_20240105_0_L2A/S2A_48MXU_20240105_0_L2A.json";
    expect(resolveHref(location, "B04.tif")).toBe("s3://sentinel-cogs/sentinel-s2-l2a-cogs/48/M/XU/2024/1/S2A_48MXU_20240105_0_L2A/B04.tif");
  });

  it("keeps absolute hrefs (the API form) as they are", () => {
    const href = "https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/48/M/XU/2024/1/S2A_48MXU_20240105_0_L2A/B04.tif";
    expect(resolveHref("https://earth-search.aws.element84.com/v1/collections/sentinel-2-l2a/items/S2A_48MXU_20240105_0_L2A", href)).toBe(href);
  });

  it("refuses a relative path without a location", () => {
    expect(() => resolveHref(undefined, "B04.tif")).toThrow(/relative/);
  });

  it("reads Earth Search's public bucket over https, other buckets through /vsis3/, files directly", () => {
    expect(gdalPath("s3://sentinel-cogs/sentinel-s2-l2a-cogs/x/B04.tif")).toBe("/vsicurl/https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/x/B04.tif");
    expect(gdalPath("s3://piksel-dev-data/derived/a.tif")).toBe("/vsis3/piksel-dev-data/derived/a.tif");
    expect(gdalPath("http://127.0.0.1:8080/s/B04.tif")).toBe("/vsicurl/http://127.0.0.1:8080/s/B04.tif");
    expect(gdalPath("file:///data/scene%201/B04.tif")).toBe("/data/scene 1/B04.tif");
    expect(gdalPath("/data/B04.tif")).toBe("/data/B04.tif");
    expect(() => gdalPath("ftp://x/B04.tif")).toThrow(/unsupported href/);
  });
});

describe("harmonisation", () => {
  it("subtracts 0.1 from baseline 04.00 on, unless Earth Search already applied it", () => {
    expect(datasetOffset({ "s2:processing_baseline": "05.10" })).toBe(-0.1);
    expect(datasetOffset({ "s2:processing_baseline": "05.10", "earthsearch:boa_offset_applied": true })).toBe(0);
    expect(datasetOffset({ "s2:processing_baseline": "02.14", "earthsearch:boa_offset_applied": true })).toBe(0);
    expect(datasetOffset({ "s2:processing_baseline": "04.00", "earthsearch:boa_offset_applied": false })).toBe(-0.1);
  });

  it("makes DN 0 nodata and scales the rest", () => {
    expect(dnToReflectance(0, -0.1)).toBeNaN();
    expect(dnToReflectance(1500, -0.1)).toBeCloseTo(0.05, 12);
    expect(dnToReflectance(1500, 0)).toBeCloseTo(0.15, 12);
  });
});
