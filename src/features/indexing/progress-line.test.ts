import { describe, expect, it } from "vitest";
import { formatDuration, progressLine, type ProgressFigures } from "./progress-line";

const figures: ProgressFigures = { environment: "prod", pages: 45, items: 22_500, added: 22_400, updated: 0, skipped: 100, archived: 0, failed: 0, retries: 0, numberMatched: 50_000, itemsBefore: 0, itemsPerSecond: 2310.4, etaSeconds: 11.9 };

describe("the progress line", () => {
  it("shows a bar, counts, rate, pages and ETA when the total is known", () => {
    expect(progressLine(figures, 200)).toBe("prod [#########-----------] 45% | 22,500/50,000 items | 2,310/s | 45 pages | ETA 0:12 | 22,400 added, 0 updated, 100 skipped");
  });
  it("counts what resumed runs did towards the total", () => {
    expect(progressLine({ ...figures, itemsBefore: 25_000 })).toMatch(/^prod \[#{19}-\] 95% \| 47,500\/50,000 items/);
  });
  it("leaves the bar and ETA out when the catalogue gives no total, and shows problems", () => {
    expect(progressLine({ ...figures, numberMatched: null, etaSeconds: null, failed: 3, retries: 2, archived: 1, pages: 1 }, 200)).toBe("prod 22,500 items | 2,310/s | 1 page | 22,400 added, 0 updated, 100 skipped, 1 archived, 3 failed, 2 retried");
  });
  it("fits the terminal", () => {
    const line = progressLine(figures, 40);
    expect(line).toHaveLength(40);
    expect(line.endsWith("…")).toBe(true);
  });
  it("formats durations as m:ss or h:mm:ss", () => {
    expect([0, 75, 3725].map(formatDuration)).toEqual(["0:00", "1:15", "1:02:05"]);
  });
});
