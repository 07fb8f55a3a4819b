import { describe, expect, it } from "vitest";
import { latestProgress } from "./progress";

describe("latestProgress", () => {
  it("takes the last progress line of the worker's JSON log", () => {
    const lines = [
      '{"level":30,"msg":"progress","stage":"read","chunk":1,"of":4,"percent":10}',
      '{"level":30,"msg":"progress","stage":"reduce","chunk":3,"of":4,"percent":62.5}',
      '{"level":30,"msg":"geomedian written"}',
    ];
    expect(latestProgress(lines)).toEqual({ stage: "reduce", fraction: 0.625 });
  });

  it("skips plain text, broken JSON and progress-like lines without a percentage", () => {
    expect(latestProgress(["starting", '{"msg":"progress", broken', '{"msg":"progress","stage":"read"}'])).toBeNull();
  });

  it("reads lines with a timestamp prefix and clamps to 0..1", () => {
    expect(latestProgress(['2026-11-25T10:00:00Z stdout F {"msg":"progress","stage":"write","percent":140}'])).toEqual({ stage: "write", fraction: 1 });
  });
});
