import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CatalogError, type CatalogPort, type StacPage, type StacRetryEvent, type StacSearchOptions, type StacSearchQuery } from "~/server/drivers/catalog";
import { createStacCatalog, type StacHttpPolicy } from "~/server/drivers/catalog/stac";
import { generateItems } from "../support/stac/items";
import { startStacTestServer, type StacTestServer } from "../support/stac/server";

const items = generateItems(95, { tiles: 10 });
const scope: StacSearchQuery = { bbox: [-20, 15, 10, 25], datetime: "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z", collections: ["sentinel-2-l2a"], limit: 20 };
const policy: Partial<StacHttpPolicy> = { retries: 3, retryBaseMs: 5, timeoutMs: 5000 };

let server: StacTestServer;
beforeAll(async () => {
  server = await startStacTestServer({ items, maxLimit: 100 });
});
afterEach(() => {
  server.setFault(undefined);
  server.requests.length = 0;
});
afterAll(() => server.close());

async function collect(catalog: CatalogPort, query: StacSearchQuery = scope, options: StacSearchOptions = {}): Promise<StacPage[]> {
  const pages: StacPage[] = [];
  for await (const page of catalog.search(query, options)) pages.push(page);
  return pages;
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("STAC API client: search and pagination", () => {
  it("follows GET next links to the end, with numberMatched, and sends the scope as query parameters", async () => {
    const pages = await collect(createStacCatalog({ url: server.url, policy }));
    expect(pages.map((p) => p.items.length)).toEqual([20, 20, 20, 20, 15]);
    expect(pages.map((p) => p.number)).toEqual([1, 2, 3, 4, 5]);
    expect(pages.every((p) => p.numberMatched === 95)).toBe(true);
    expect(pages.at(-1)!.next).toBeNull();
    expect(new Set(pages.flatMap((p) => p.items.map((i) => (i as { id: string }).id))).size).toBe(95);
    const first = new URL(server.requests[0]!.url);
    expect(Object.fromEntries(first.searchParams)).toEqual({ collections: "sentinel-2-l2a", bbox: "-20,15,10,25", datetime: scope.datetime, limit: "20" });
  });

  it("follows POST next links, merging their body into the current one", async () => {
    const pages = await collect(createStacCatalog({ url: server.url, policy }), { ...scope, method: "POST" });
    expect(pages).toHaveLength(5);
    expect(server.requests.map((r) => r.method)).toEqual(["POST", "POST", "POST", "POST", "POST"]);
    expect(server.requests[0]!.body).toEqual({ collections: ["sentinel-2-l2a"], bbox: [-20, 15, 10, 25], datetime: scope.datetime, limit: 20 });
    expect(server.requests[3]!.body).toEqual({ collections: ["sentinel-2-l2a"], bbox: [-20, 15, 10, 25], datetime: scope.datetime, limit: 20, token: "next:60" });
    expect(pages[2]!.next).toEqual({ method: "POST", url: `${server.url}/search`, body: { ...server.requests[0]!.body, token: "next:60" } });
  });

  it("stops after maxPages and reports where to continue; continuing from there gives the rest", async () => {
    const catalog = createStacCatalog({ url: server.url, policy });
    const head = await collect(catalog, scope, { maxPages: 2 });
    expect(head).toHaveLength(2);
    expect(head[1]!.next?.url).toContain("token=next%3A40");
    const tail = await collect(catalog, scope, { startAt: head[1]!.next! });
    expect(tail.map((p) => p.items.length)).toEqual([20, 20, 15]);
  });

  it("reports progress page by page (pages, items, numberMatched) while prefetching the next page", async () => {
    const catalog = createStacCatalog({ url: server.url, policy });
    const seen: number[] = [];
    for await (const page of catalog.search(scope)) {
      seen.push(page.items.length);
      // The next page is already on its way when a page is handed over.
      if (page.next) await expect.poll(() => server.requests.length).toBe(page.number + 1);
    }
    expect(seen.reduce((a, b) => a + b, 0)).toBe(95);
  });
});

describe("STAC API client: failures", () => {
  it("retries 429 honouring Retry-After in seconds", async () => {
    server.setFault(({ pageNo, attempt }) => (pageNo === 2 && attempt === 1 ? { status: 429, retryAfter: "1" } : undefined));
    const retries: StacRetryEvent[] = [];
    const pages = await collect(createStacCatalog({ url: server.url, policy }), scope, { onRetry: (e) => retries.push(e) });
    expect(pages).toHaveLength(5);
    expect(retries).toEqual([expect.objectContaining({ attempt: 1, reason: "429", delayMs: 1000 })]);
    const [, refused, retried] = server.requests;
    expect(retried!.at - refused!.at).toBeGreaterThanOrEqual(990);
  });

  it("honours Retry-After given as an HTTP date", async () => {
    server.setFault(({ pageNo, attempt }) => (pageNo === 1 && attempt === 1 ? { status: 503, retryAfter: new Date(Date.now() + 2000).toUTCString() } : undefined));
    const retries: StacRetryEvent[] = [];
    await collect(createStacCatalog({ url: server.url, policy }), scope, { maxPages: 1, onRetry: (e) => retries.push(e) });
    // An HTTP date has whole seconds: the wait is between one and two seconds.
    expect(retries[0]!.delayMs).toBeGreaterThan(900);
    expect(retries[0]!.delayMs).toBeLessThanOrEqual(2000);
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(retries[0]!.delayMs - 10);
  });

  it("retries 5xx with exponential backoff and gives up with an error naming the URL", async () => {
    server.setFault(({ pageNo }) => (pageNo === 3 ? { status: 500 } : undefined));
    const retries: StacRetryEvent[] = [];
    const err = await failure(collect(createStacCatalog({ url: server.url, policy: { ...policy, retryBaseMs: 20 } }), scope, { onRetry: (e) => retries.push(e) }));
    expect(err).toBeInstanceOf(CatalogError);
    expect(err).toMatchObject({ kind: "http", status: 500, url: expect.stringContaining("token=next%3A40") });
    expect((err as Error).message).toMatch(/^STAC API GET http:\/\/127\.0\.0\.1:\d+\/v1\/search\?.+ answered 500 Internal Server Error \(4 attempts\)$/);
    // 20 ms x 2^n, with jitter between half and all of it.
    expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3]);
    retries.forEach((r, n) => {
      expect(r.delayMs).toBeGreaterThanOrEqual(10 * 2 ** n);
      expect(r.delayMs).toBeLessThanOrEqual(20 * 2 ** n);
    });
  });

  it("retries a page of broken JSON like a 5xx, then names the URL", async () => {
    server.setFault(({ pageNo, attempt }) => (pageNo === 2 && attempt <= 2 ? { brokenJson: true } : undefined));
    const retries: StacRetryEvent[] = [];
    expect(await collect(createStacCatalog({ url: server.url, policy }), scope, { onRetry: (e) => retries.push(e) })).toHaveLength(5);
    expect(retries.map((r) => r.reason)).toEqual(["invalid JSON", "invalid JSON"]);

    server.setFault(({ pageNo }) => (pageNo === 2 ? { brokenJson: true } : undefined));
    const err = await failure(collect(createStacCatalog({ url: server.url, policy })));
    expect(err).toMatchObject({ kind: "invalid-json", url: expect.stringContaining("token=next%3A20") });
    expect((err as Error).message).toMatch(/the page is not valid JSON \(.+\) \(4 attempts\)$/);
  });

  it("does not retry a 400, and shows the server's description", async () => {
    server.setFault(() => ({ status: 400, body: JSON.stringify({ code: "BadRequest", description: "Invalid bbox" }) }));
    const err = await failure(collect(createStacCatalog({ url: server.url, policy })));
    expect(err).toMatchObject({ kind: "http", status: 400 });
    expect((err as Error).message).toMatch(/answered 400 Bad Request: Invalid bbox$/);
    expect(server.requests).toHaveLength(1);
  });

  it("times out a stalled request and retries it", async () => {
    server.setFault(({ pageNo, attempt }) => (pageNo === 1 && attempt === 1 ? { stallMs: 30_000 } : undefined));
    const retries: StacRetryEvent[] = [];
    const pages = await collect(createStacCatalog({ url: server.url, policy: { ...policy, timeoutMs: 300 } }), scope, { maxPages: 1, onRetry: (e) => retries.push(e) });
    expect(pages).toHaveLength(1);
    expect(retries).toMatchObject([{ reason: "timeout", attempt: 1 }]);
  });

  it("stops at once when aborted, even while waiting to retry", async () => {
    server.setFault(({ pageNo }) => (pageNo === 2 ? { status: 503, retryAfter: "30" } : undefined));
    const controller = new AbortController();
    const started = performance.now();
    const err = await failure(collect(createStacCatalog({ url: server.url, policy }), scope, { signal: controller.signal, onRetry: () => controller.abort(new Error("Ctrl-C")) }));
    expect(err).toMatchObject({ message: "Ctrl-C" });
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe("STAC API client: pagination loops", () => {
  it("detects a next link that repeats an earlier request", async () => {
    const looping = await startStacTestServer({ items, loop: "repeat-link" });
    try {
      const err = await failure(collect(createStacCatalog({ url: looping.url, policy })));
      expect(err).toMatchObject({ kind: "pagination-loop" });
      expect((err as Error).message).toMatch(/^STAC API pagination loop: the next link of page 2 repeats the request of page 2 \(GET http:/);
    } finally {
      await looping.close();
    }
  });

  it("detects a server that serves the same page under new links", async () => {
    const looping = await startStacTestServer({ items, loop: "repeat-page" });
    try {
      const err = await failure(collect(createStacCatalog({ url: looping.url, policy })));
      expect(err).toMatchObject({ kind: "pagination-loop" });
      expect((err as Error).message).toMatch(/page 2 \(GET .+token=next%3A20.*\) has the same items as page 1\.$/);
    } finally {
      await looping.close();
    }
  });

  it("ends at an empty page even when the server adds a next link", async () => {
    const empty = await startStacTestServer({ items: [], alwaysNext: true });
    try {
      const pages = await collect(createStacCatalog({ url: empty.url, policy }));
      expect(pages).toMatchObject([{ items: [], next: null, numberMatched: 0 }]);
    } finally {
      await empty.close();
    }
  });
});
