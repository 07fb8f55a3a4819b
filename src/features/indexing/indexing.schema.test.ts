import { describe, expect, it } from "vitest";
import { datetimeInput, parseBboxText, startRunInput } from "./indexing.schema";

describe("run inputs", () => {
  it("accept closed and half-open intervals", () => {
    for (const v of ["2024-01-01/2024-12-31", "2024-01-01T00:00:00Z/..", "../2024-06-30"]) expect(datetimeInput.safeParse(v).success).toBe(true);
  });
  it("refuse intervals that are not dates, reversed or open at both ends", () => {
    for (const v of ["2024", "yesterday/today", "2024-12-31/2024-01-01", "../.."]) expect(datetimeInput.safeParse(v).success).toBe(false);
  });
  it("read a bbox from the command line and judge it like the form's", () => {
    expect(startRunInput.safeParse({ environment: "dev", bbox: parseBboxText("106.5,-6.8,107.1,-6.2") }).success).toBe(true);
    expect(startRunInput.safeParse({ environment: "dev", bbox: parseBboxText("106.5,-6.8,,-6.2") }).success).toBe(false);
    expect(startRunInput.safeParse({ environment: "dev", bbox: parseBboxText("107,-6,106,-7") }).success).toBe(false);
  });
  it("default to continuing an unfinished run", () => expect(startRunInput.parse({ environment: "dev" }).restart).toBe(false));
});
