import { describe, expect, it } from "vitest";
import { parseGridSpec, parseTaskId } from "~/lib/grid";
import { prepEo3 } from "~/server/odc/eo3";
import { GM_S2_ANNUAL, taskLayout } from "./layout";
import { eo3Document, eo3Yaml, outputDatasetId, stacItem } from "./metadata";
import type { SourceDataset } from "./plan";

const sources = ["f0f8c0c3-fc14-503d-b82f-f541a0c90498", "2d2304a5-5803-5b92-8fc4-66af104a859a", "55B54A98-502b-552a-a4ce-6426fbbb3ce3"];

describe("output metadata", () => {
  it("makes the dataset id as odc-stats' odc_uuid(name, version, sources, time=..., tile=(x, y))", () => {
    // Computed with odc-stats' `odc_uuid` (odc/stats/model.py) in Python.
    expect(outputDatasetId(GM_S2_ANNUAL, parseTaskId("2024--P1Y/288/68"), sources)).toBe("da85ab60-241b-54b1-8a54-9f512ac67704");
    expect(outputDatasetId(GM_S2_ANNUAL, parseTaskId("2024--P1Y/5/-3"), sources)).toBe("c96fa450-8cce-50a3-a1e4-dadf95b9bf69");
    expect(outputDatasetId(GM_S2_ANNUAL, parseTaskId("2024--P1Y/288/68"), [...sources].reverse())).toBe("da85ab60-241b-54b1-8a54-9f512ac67704");
  });

  const input = () => {
    const task = parseTaskId("2024--P1Y/288/68");
    const layout = taskLayout(GM_S2_ANNUAL, task, "derived");
    const ds = (id: string, platform: string): SourceDataset => ({ id, time: new Date("2024-03-01T03:20:10Z"), solarDay: "2024-03-01", crs: "EPSG:32748", hrefs: {}, offset: 0, platform, instrument: "MSI" });
    return {
      product: GM_S2_ANNUAL,
      grid: parseGridSpec("global_10"),
      task,
      layout,
      sources: [ds(sources[0]!, "sentinel-2b"), ds(sources[1]!, "sentinel-2a")],
      processed: new Date("2026-11-25T10:00:00.123Z"),
      stacUri: `s3://piksel-dev-data/${layout.stac}`,
    };
  };

  it("writes an EO3 document ODC can prepare: the tile's grid in EPSG:6933, relative paths, lineage", () => {
    const doc = eo3Document(input());
    expect(doc.crs).toBe("epsg:6933");
    expect(doc.grids.default).toEqual({ shape: [9600, 9600], transform: [10, 0, 288 * 96_000 - 17_376_000, 0, -10, 69 * 96_000 - 7_392_000, 0, 0, 1] });
    expect(doc.measurements.B02).toEqual({ path: "gm_s2_annual_x288y068_2024--P1Y_final_B02.tif" });
    expect(doc.lineage).toEqual({ s2_l2a: [sources[0], sources[1]] });
    expect(doc.properties).toMatchObject({
      "odc:region_code": "x288y068",
      "eo:platform": "sentinel-2a,sentinel-2b",
      "eo:instrument": "MSI",
      "odc:processing_datetime": "2026-11-25T10:00:00Z",
      "dtr:start_datetime": "2024-01-01T00:00:00.000000Z",
      "dtr:end_datetime": "2024-12-31T23:59:59.999999Z",
    });
    const prepared = prepEo3(doc);
    expect(prepared.extent.lon.begin).toBeCloseTo(106.7, 0);
    expect(prepared.extent.lat.end).toBeLessThan(0);
    expect(eo3Yaml(doc)).toMatch(/^---\n\$schema: https:\/\/schemas\.opendatacube\.org\/dataset\nid: /);
  });

  it("writes a STAC item with the projection, lon/lat footprint, lineage and one asset per band", () => {
    const item = stacItem(input()) as { bbox: number[]; properties: Record<string, unknown>; assets: Record<string, { href: string }>; links: { rel: string; href: string }[] };
    expect(item.properties["proj:epsg"]).toBe(6933);
    expect(item.properties["proj:shape"]).toEqual([9600, 9600]);
    expect(item.properties["odc:lineage"]).toEqual({ inputs: [sources[0], sources[1]] });
    expect(Object.keys(item.assets)).toHaveLength(14);
    expect(item.assets.COUNT!.href).toBe("gm_s2_annual_x288y068_2024--P1Y_final_COUNT.tif");
    expect(item.links).toEqual([{ rel: "self", type: "application/json", href: "s3://piksel-dev-data/derived/gm_s2_annual/1-0-0/x288/y068/2024--P1Y/gm_s2_annual_x288y068_2024--P1Y_final.stac-item.json" }]);
    expect(item.bbox[0]).toBeLessThan(item.bbox[2]!);
  });
});
