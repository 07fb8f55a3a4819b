import { describe, expect, it } from "vitest";
import { DEFAULT_RGB, DEFAULT_STRETCH, outputFileUrl, outputTileUrlTemplate, parseOutputTileQuery } from "./tile-params";

const q = (s: string) => parseOutputTileQuery(new URLSearchParams(s));

describe("parseOutputTileQuery", () => {
  it("defaults to true colour, 0..3000, every task", () => {
    expect(q("")).toEqual({ bands: DEFAULT_RGB, stretch: DEFAULT_STRETCH });
    expect(DEFAULT_RGB).toEqual(["B04", "B03", "B02"]);
  });

  it("reads tasks, bands (any case) and stretch, and ignores the cache-buster v", () => {
    expect(q("tasks=304/68,-1/7&bands=b08,B04,B03&stretch=100,4000&v=3")).toEqual({
      tasks: [{ x: 304, y: 68 }, { x: -1, y: 7 }],
      bands: ["B08", "B04", "B03"],
      stretch: [100, 4000],
    });
    expect(q("tasks=")).toEqual({ tasks: [], bands: DEFAULT_RGB, stretch: DEFAULT_STRETCH });
  });

  it("says what is wrong with each parameter", () => {
    expect(() => q("task=1/2")).toThrow(/unknown parameter "task"/);
    expect(() => q("tasks=1,2")).toThrow(/"1" is not a grid tile; list tiles as x\/y/);
    expect(() => q("bands=B04,B03")).toThrow(/three reflectance bands/);
    expect(() => q("bands=B04,B03,SMAD")).toThrow(/three reflectance bands/);
    expect(() => q("stretch=0")).toThrow(/two DN values/);
    expect(() => q("stretch=0,70000")).toThrow(/<= 65535/);
    expect(() => q(`tasks=${Array.from({ length: 2001 }, () => "1/1").join(",")}`)).toThrow(/at most 2000/);
  });
});

describe("outputTileUrlTemplate", () => {
  it("builds the endpoint's path with MapLibre's placeholders and only the parameters that differ from the defaults", () => {
    expect(outputTileUrlTemplate({ environment: "dev", period: "2024--P1Y" })).toBe("/api/outputs/dev/gm_s2_annual/2024--P1Y/tiles/{z}/{x}/{y}.png");
    expect(outputTileUrlTemplate({ environment: "dev", period: "2024--P1Y", tasks: [{ x: 1, y: 2 }, { x: 3, y: 4 }], bands: ["B04", "B03", "B02"], stretch: [0, 2500], version: "a b" })).toBe(
      "/api/outputs/dev/gm_s2_annual/2024--P1Y/tiles/{z}/{x}/{y}.png?tasks=1/2,3/4&stretch=0,2500&v=a%20b",
    );
  });

  it("round-trips through the parser", () => {
    const url = new URL(outputTileUrlTemplate({ environment: "dev", period: "2024--P1Y", tasks: [{ x: 5, y: 6 }], bands: ["B08", "B04", "B03"] }), "http://x");
    expect(parseOutputTileQuery(url.searchParams)).toEqual({ tasks: [{ x: 5, y: 6 }], bands: ["B08", "B04", "B03"], stretch: DEFAULT_STRETCH });
  });
});

describe("outputFileUrl", () => {
  it("encodes each segment of the key", () => {
    expect(outputFileUrl("dev", "derived/a b/c#d.tif")).toBe("/api/outputs/dev/files/derived/a%20b/c%23d.tif");
  });
});
