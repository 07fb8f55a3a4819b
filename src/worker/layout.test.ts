import { describe, expect, it } from "vitest";
import { parseTaskId } from "~/lib/grid";
import { GM_S2_ANNUAL, OUTPUT_BANDS, taskLayout } from "./layout";

describe("task layout", () => {
  it("names files as odc-stats does for gm_s2_annual: <product>/<version>/x/y/<period>/<stem>_<band>.tif", () => {
    const l = taskLayout(GM_S2_ANNUAL, parseTaskId("2024--P1Y/304/68"), "derived");
    expect(l.dir).toBe("derived/gm_s2_annual/1-0-0/x304/y068/2024--P1Y");
    expect(l.stem).toBe("gm_s2_annual_x304y068_2024--P1Y_final");
    expect(l.bands.B02).toBe("derived/gm_s2_annual/1-0-0/x304/y068/2024--P1Y/gm_s2_annual_x304y068_2024--P1Y_final_B02.tif");
    expect(l.files.COUNT).toBe("gm_s2_annual_x304y068_2024--P1Y_final_COUNT.tif");
    expect(l.stac).toBe("derived/gm_s2_annual/1-0-0/x304/y068/2024--P1Y/gm_s2_annual_x304y068_2024--P1Y_final.stac-item.json");
    expect(l.eo3).toBe("derived/gm_s2_annual/1-0-0/x304/y068/2024--P1Y/gm_s2_annual_x304y068_2024--P1Y_final.odc-metadata.yaml");
  });

  it("has one file per measurement of the product, blue..swir22 as B02..B12, then SMAD, EMAD, BCMAD, COUNT", () => {
    expect(OUTPUT_BANDS.map((b) => b.name)).toEqual(["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "SMAD", "EMAD", "BCMAD", "COUNT"]);
    expect(OUTPUT_BANDS.slice(0, 10).map((b) => b.source)).toEqual(["blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "swir16", "swir22"]);
    expect(Object.keys(taskLayout(GM_S2_ANNUAL, parseTaskId("2024--P1Y/1/2")).files)).toHaveLength(14);
  });

  it("works without a prefix and with surrounding slashes", () => {
    expect(taskLayout(GM_S2_ANNUAL, parseTaskId("2024--P1Y/5/7")).dir).toBe("gm_s2_annual/1-0-0/x005/y007/2024--P1Y");
    expect(taskLayout(GM_S2_ANNUAL, parseTaskId("2024--P1Y/5/7"), "/a/b/").dir).toBe("a/b/gm_s2_annual/1-0-0/x005/y007/2024--P1Y");
  });

  it("splits the region code at y, so four-digit indices of small tiles still make x/y folders", () => {
    expect(taskLayout(GM_S2_ANNUAL, parseTaskId("2024--P1Y/2880/680")).dir).toBe("gm_s2_annual/1-0-0/x2880/y680/2024--P1Y");
    expect(taskLayout(GM_S2_ANNUAL, parseTaskId("2024--P1Y/5/-3")).dir).toBe("gm_s2_annual/1-0-0/x005/y-03/2024--P1Y");
  });
});
