import { describe, expect, it } from "vitest";
import { AppError } from "~/server/errors";
import { matchesIfNoneMatch, parseRangeHeader, withAppErrors } from "./http";

describe("parseRangeHeader", () => {
  it("reads a closed, an open and a suffix range", () => {
    expect(parseRangeHeader("bytes=0-16383")).toEqual({ start: 0, end: 16383 });
    expect(parseRangeHeader("bytes=500-")).toEqual({ start: 500 });
    expect(parseRangeHeader("bytes=-200")).toEqual({ suffix: 200 });
  });

  it("ignores what it may ignore: no header, other units, several ranges, reversed or empty ranges", () => {
    for (const v of [null, "items=0-1", "bytes=0-1,5-6", "bytes=9-3", "bytes=-", "bytes=-0", "bytes=a-b"]) expect(parseRangeHeader(v), String(v)).toBeUndefined();
  });
});

describe("matchesIfNoneMatch", () => {
  it("matches a listed tag, weak or strong, and the wildcard", () => {
    expect(matchesIfNoneMatch('"a", "b"', '"b"')).toBe(true);
    expect(matchesIfNoneMatch('W/"b"', '"b"')).toBe(true);
    expect(matchesIfNoneMatch("*", '"b"')).toBe(true);
    expect(matchesIfNoneMatch('"a"', '"b"')).toBe(false);
    expect(matchesIfNoneMatch(null, '"b"')).toBe(false);
  });
});

describe("withAppErrors", () => {
  it("answers an expected failure with its status and message", async () => {
    const res = await withAppErrors(async () => {
      throw new AppError("NOT_FOUND", "no such environment");
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "no such environment" });
  });

  it("lets a bug through instead of dressing it as an expected failure", async () => {
    await expect(
      withAppErrors(async () => {
        throw new TypeError("bug");
      }),
    ).rejects.toThrow("bug");
  });
});
