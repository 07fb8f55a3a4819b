import { describe, expect, it } from "vitest";
import { defaultStacHttpPolicy, firstSearchRequest, nextRequest, retryAfterMs, retryDelayMs } from "./stac";

describe("Retry-After", () => {
  const now = Date.parse("2026-11-25T12:00:00Z");
  it("reads delta-seconds", () => expect(retryAfterMs("7", now)).toBe(7000));
  it("reads an HTTP date as the time left until then", () => expect(retryAfterMs("Wed, 25 Nov 2026 12:00:05 GMT", now)).toBe(5000));
  it("treats a date in the past as no wait", () => expect(retryAfterMs("Wed, 25 Nov 2026 11:00:00 GMT", now)).toBe(0));
  it("ignores what it cannot read", () => {
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryAfterMs("soon", now)).toBeUndefined();
  });
});

describe("retry delays", () => {
  const policy = { ...defaultStacHttpPolicy, retryBaseMs: 100, maxRetryDelayMs: 1000 };
  it("double per attempt, with jitter between half and all of the step", () => {
    expect([0, 1, 2].map((n) => retryDelayMs(policy, n, undefined, 0))).toEqual([50, 100, 200]);
    expect([0, 1, 2].map((n) => retryDelayMs(policy, n, undefined, 1))).toEqual([100, 200, 400]);
  });
  it("wait at least what Retry-After asks, and never longer than the cap", () => {
    expect(retryDelayMs(policy, 0, 700, 0)).toBe(700);
    expect(retryDelayMs(policy, 6, undefined, 1)).toBe(1000);
    expect(retryDelayMs(policy, 0, 30_000, 0)).toBe(1000);
  });
});

describe("the first search request", () => {
  const query = { bbox: [106.5, -6.8, 107.1, -6.2] as const, datetime: "2024-01-01/2024-12-31", collections: ["sentinel-2-l2a"], limit: 100 };
  it("puts the scope in the query string for GET", () => {
    const r = firstSearchRequest("https://earth-search.aws.element84.com/v1", query);
    expect(r).toEqual({ method: "GET", url: "https://earth-search.aws.element84.com/v1/search?collections=sentinel-2-l2a&bbox=106.5%2C-6.8%2C107.1%2C-6.2&datetime=2024-01-01%2F2024-12-31&limit=100" });
  });
  it("puts it in a JSON body for POST", () => {
    expect(firstSearchRequest("http://x/v1", { ...query, method: "POST" })).toEqual({
      method: "POST",
      url: "http://x/v1/search",
      body: { collections: ["sentinel-2-l2a"], bbox: [106.5, -6.8, 107.1, -6.2], datetime: "2024-01-01/2024-12-31", limit: 100 },
    });
  });
});

describe("next links", () => {
  const get = { method: "GET" as const, url: "https://api.example/v1/search?limit=10" };
  const post = { method: "POST" as const, url: "https://api.example/v1/search", body: { collections: ["c"], limit: 10 } };
  it("are absent at the end of a result", () => expect(nextRequest({ links: [{ rel: "self", href: "x" }] }, get)).toBeNull());
  it("resolve a relative GET href against the current URL", () => {
    expect(nextRequest({ links: [{ rel: "next", href: "search?limit=10&token=abc" }] }, get)).toEqual({ method: "GET", url: "https://api.example/v1/search?limit=10&token=abc" });
  });
  it("merge a POST body into the current one when merge is true", () => {
    expect(nextRequest({ links: [{ rel: "next", href: "/v1/search", method: "POST", body: { token: "t2" }, merge: true }] }, post)).toEqual({ method: "POST", url: "https://api.example/v1/search", body: { collections: ["c"], limit: 10, token: "t2" } });
  });
  it("replace the body when merge is false or absent", () => {
    expect(nextRequest({ links: [{ rel: "next", href: "/v1/search", method: "POST", body: { token: "t2" } }] }, post)?.body).toEqual({ token: "t2" });
  });
  it("repeat the current body for a POST link without one, and carry the link's headers", () => {
    expect(nextRequest({ links: [{ rel: "next", href: "/v1/search?page=2", method: "post", headers: { "x-token": "2", bad: 3 } }] }, post)).toEqual({
      method: "POST",
      url: "https://api.example/v1/search?page=2",
      body: { collections: ["c"], limit: 10 },
      headers: { "x-token": "2" },
    });
  });
});
