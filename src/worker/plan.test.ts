import { describe, expect, it } from "vitest";
import { centerTime, solarDay, solarOffsetHours } from "./plan";

describe("solar day grouping (odc-algo solar_offset, group_by_nothing)", () => {
  it("offsets UTC by whole hours from the tile centre's longitude, rounded half up as int(lon * 24 / 360 + 0.5)", () => {
    expect(solarOffsetHours(106.8)).toBe(7);
    expect(solarOffsetHours(112.5)).toBe(8);
    expect(solarOffsetHours(0)).toBe(0);
    // Python's int() truncates toward zero: -17.5 degrees gives int(-1.1667 + 0.5) = 0.
    expect(solarOffsetHours(-17.5)).toBe(0);
    expect(solarOffsetHours(-30)).toBe(-1);
  });

  it("puts an acquisition late in the UTC day on the next local day east of Greenwich", () => {
    expect(solarDay(new Date("2024-03-01T03:20:10Z"), 7)).toBe("2024-03-01");
    expect(solarDay(new Date("2024-03-01T17:30:00Z"), 7)).toBe("2024-03-02");
    expect(solarDay(new Date("2024-03-01T00:30:00Z"), -1)).toBe("2024-02-29");
  });

  it("takes datacube's center_time: the middle of dtr:start/end, else datetime", () => {
    expect(centerTime({ datetime: "2024-03-01T03:20:10Z" })?.toISOString()).toBe("2024-03-01T03:20:10.000Z");
    expect(centerTime({ "dtr:start_datetime": "2024-01-01T00:00:00Z", "dtr:end_datetime": "2024-01-03T00:00:00Z" })?.toISOString()).toBe("2024-01-02T00:00:00.000Z");
    expect(centerTime({})).toBeUndefined();
  });
});
