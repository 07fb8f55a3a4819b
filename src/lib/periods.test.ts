import { describe, expect, it } from "vitest";
import { addDays, decomposeRange, explorerPathRange, isDay, nextPeriod, periodRange, type DayRange, type PeriodSpan } from "./periods";

/** Every day a decomposition covers, for comparing with the range it came from. */
function daysOf(spans: PeriodSpan[]): string[] {
  const out: string[] = [];
  for (const s of spans) for (let d = s.start; d < s.end; d = addDays(d, 1)) out.push(d);
  return out;
}
function daysBetween({ from, to }: DayRange): string[] {
  const out: string[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) out.push(d);
  return out;
}

describe("decomposing a day range into years, months and days", () => {
  it("a range inside one month is days only", () => {
    expect(decomposeRange({ from: "2024-03-05", to: "2024-03-20" })).toEqual([{ level: "d", start: "2024-03-05", end: "2024-03-21" }]);
  });

  it("whole months stay months and a whole year a year", () => {
    expect(decomposeRange({ from: "2024-02-01", to: "2024-04-30" })).toEqual([{ level: "m", start: "2024-02-01", end: "2024-05-01" }]);
    expect(decomposeRange({ from: "2023-01-01", to: "2023-12-31" })).toEqual([{ level: "y", start: "2023-01-01", end: "2024-01-01" }]);
  });

  it("a range across years is days, months, years, months, days", () => {
    expect(decomposeRange({ from: "2021-11-20", to: "2024-02-10" })).toEqual([
      { level: "d", start: "2021-11-20", end: "2021-12-01" },
      { level: "m", start: "2021-12-01", end: "2022-01-01" },
      { level: "y", start: "2022-01-01", end: "2024-01-01" },
      { level: "m", start: "2024-01-01", end: "2024-02-01" },
      { level: "d", start: "2024-02-01", end: "2024-02-11" },
    ]);
  });

  it("covers exactly the days of the range, each once, for ranges starting and ending anywhere", () => {
    const starts = ["2023-12-31", "2024-01-01", "2024-02-29", "2024-07-15"];
    const lengths = [0, 1, 30, 61, 400, 800];
    for (const from of starts) {
      for (const n of lengths) {
        const range = { from, to: addDays(from, n) };
        expect(daysOf(decomposeRange(range))).toEqual(daysBetween(range));
      }
    }
  });
});

describe("explorer time paths", () => {
  it("year, month and day become their day ranges; none is all time", () => {
    expect(explorerPathRange([])).toBeNull();
    expect(explorerPathRange(["2024"])).toEqual({ from: "2024-01-01", to: "2024-12-31" });
    expect(explorerPathRange(["2024", "2"])).toEqual({ from: "2024-02-01", to: "2024-02-29" });
    expect(explorerPathRange(["2024", "2", "9"])).toEqual({ from: "2024-02-09", to: "2024-02-09" });
  });

  it("a wrong part is refused with what is wrong", () => {
    expect(() => explorerPathRange(["24x"])).toThrow('year must be a whole number, got "24x"');
    expect(() => explorerPathRange(["2024", "13"])).toThrow("month must be 1 to 12, got 13");
    expect(() => explorerPathRange(["2023", "2", "29"])).toThrow("2023-02-29 is not a day of the calendar");
    expect(() => explorerPathRange(["2024", "1", "1", "1"])).toThrow("expected /<year>[/<month>[/<day>]]");
  });
});

describe("calendar helpers", () => {
  it("knows real days and period ends", () => {
    expect(isDay("2024-02-29")).toBe(true);
    expect(isDay("2023-02-29")).toBe(false);
    expect(nextPeriod("2024-12-01", "m")).toBe("2025-01-01");
    expect(periodRange("2023-02-01", "m")).toEqual({ from: "2023-02-01", to: "2023-02-28" });
  });
});
