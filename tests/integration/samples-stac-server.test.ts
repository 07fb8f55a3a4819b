import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import gdal from "gdal-async";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stacToEo3 } from "~/features/indexing/stac-to-eo3";
import { createLogger } from "~/server/logger";
import { openSampleArchive, type SampleArchive, type SampleOptionsInput } from "~/server/embedded/samples";
import { startLocalStacServer, type LocalStacServer, type StacItem } from "~/server/embedded/stac-server";

// A catalogue big enough to page through (a few hundred items), small tiles so that reading a file
// (which writes its scene) stays quick.
const OPTIONS: SampleOptionsInput = {
  seed: 3,
  area: [106.7, -6.6, 106.85, -6.45],
  tileSize: 300,
  periods: [
    { start: "2024-01-01", end: "2024-03-31", everyDays: 5 },
    { start: "2021-06-01", end: "2021-07-31", everyDays: 10 },
  ],
  swathEdge: { lon: 106.8, lat: -6.5, tiltDegrees: 10, overlap: 1000, secondaryDelayDays: 2 },
  blockSize: 256,
};
const fixture = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, "../reference/datacube/fixtures/odc-tools__S2B_31QGB_20200831_0_L2A.json"), "utf8")) as StacItem;

let tmp: string;
let archive: SampleArchive;
let server: LocalStacServer;

type Collection = { type: string; features: StacItem[]; links: { rel: string; href: string; method?: string; body?: Record<string, unknown>; merge?: boolean }[]; numberMatched: number; numberReturned: number; context: Record<string, number> };

async function getJson<T = Collection>(url: string, init?: RequestInit): Promise<{ status: number; body: T; type: string | null }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T, type: res.headers.get("content-type") };
}
const post = (url: string, body: unknown) => getJson(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** What a search should find, computed from the archive without the server's index. */
let everything: StacItem[] | undefined;
function expected(filter: { bbox?: number[]; start?: number; end?: number; collections?: string[]; ids?: string[] }): string[] {
  everything ??= [...archive.items({ stac: "", files: "" }), { ...fixture, collection: "other-collection" }] as StacItem[];
  return everything
    .filter((item) => {
      const t = Date.parse(item.properties.datetime);
      if (filter.start !== undefined && t < filter.start) return false;
      if (filter.end !== undefined && t > filter.end) return false;
      if (filter.collections && !filter.collections.includes(item.collection)) return false;
      if (filter.ids && !filter.ids.includes(item.id)) return false;
      if (filter.bbox) {
        const ring = (item.geometry as { coordinates: number[][][] }).coordinates[0] as number[][];
        const [w, s, e, n] = filter.bbox as [number, number, number, number];
        const xs = ring.map((p) => p[0] as number);
        const ys = ring.map((p) => p[1] as number);
        if (Math.min(...xs) > e || Math.max(...xs) < w || Math.min(...ys) > n || Math.max(...ys) < s) return false;
      }
      return true;
    })
    .map((item) => item.id)
    .sort();
}

/** Follows `next` links (GET or POST as the link says) and returns every page. */
async function allPages(first: { status: number; body: Collection }): Promise<Collection[]> {
  const pages = [first.body];
  expect(first.status).toBe(200);
  for (let guard = 0; guard < 1000; guard++) {
    const next = pages[pages.length - 1]!.links.find((l) => l.rel === "next");
    if (!next) return pages;
    const res = next.method === "POST" ? await post(next.href, next.body) : await getJson(next.href);
    expect(res.status).toBe(200);
    pages.push(res.body);
  }
  throw new Error("pagination did not end");
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-stac-"));
  const log = createLogger({ level: "warn" });
  archive = openSampleArchive({ cacheDir: tmp, options: OPTIONS, log });
  server = await startLocalStacServer({ port: 0, log, archive, items: () => [{ ...fixture, collection: "other-collection" }], maxLimit: 50 });
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("local STAC API", () => {
  it("has a landing page, conformance and collections in Earth Search's shape", async () => {
    const landing = await getJson<{ conformsTo: string[]; links: { rel: string; href: string; method?: string }[] }>(server.url);
    expect(landing.status).toBe(200);
    expect(landing.body.conformsTo).toEqual(expect.arrayContaining(["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search", "https://api.stacspec.org/v1.0.0/collections"]));
    expect(landing.body.links.filter((l) => l.rel === "search").map((l) => l.method)).toEqual(["GET", "POST"]);
    expect((await getJson<{ conformsTo: string[] }>(`${server.url}/conformance`)).body.conformsTo).toEqual(landing.body.conformsTo);
    const collections = await getJson<{ collections: { id: string }[] }>(`${server.url}/collections`);
    expect(collections.body.collections.map((c) => c.id)).toEqual(["other-collection", "sentinel-2-l2a"]);
    const s2 = await getJson<{ id: string; extent: { spatial: { bbox: number[][] }; temporal: { interval: string[][] } } }>(`${server.url}/collections/sentinel-2-l2a`);
    expect(s2.body.id).toBe("sentinel-2-l2a");
    const times = archive.scenes.map((s) => s.datetime).sort();
    expect(s2.body.extent.temporal.interval).toEqual([[times[0], times[times.length - 1]]]);
    expect((await getJson(`${server.url}/collections/nope`)).status).toBe(404);
    expect((await getJson(`${server.url}/nowhere`)).status).toBe(404);
  });

  it("finds exactly the items a bbox, datetime and collections search asks for", async () => {
    const cases: { query: string; filter: Parameters<typeof expected>[0] }[] = [
      { query: "bbox=106.72,-6.58,106.75,-6.55", filter: { bbox: [106.72, -6.58, 106.75, -6.55] } },
      { query: "bbox=106.72,-6.58,0,106.75,-6.55,100", filter: { bbox: [106.72, -6.58, 106.75, -6.55] } },
      { query: "datetime=2024-02-01T00:00:00Z/2024-02-15T23:59:59Z", filter: { start: Date.UTC(2024, 1, 1), end: Date.UTC(2024, 1, 15, 23, 59, 59) } },
      { query: "datetime=../2021-12-31T00:00:00Z", filter: { end: Date.UTC(2021, 11, 31) } },
      { query: "datetime=2024-03-20T00:00:00Z/..", filter: { start: Date.UTC(2024, 2, 20) } },
      { query: "datetime=/2021-06-15T00:00:00Z", filter: { end: Date.UTC(2021, 5, 15) } },
      { query: "datetime=2024-03-20T00:00:00Z/", filter: { start: Date.UTC(2024, 2, 20) } },
      { query: "datetime=2024-01-06", filter: { start: Date.UTC(2024, 0, 6), end: Date.UTC(2024, 0, 7) - 1 } },
      { query: "collections=other-collection", filter: { collections: ["other-collection"] } },
      { query: "collections=sentinel-2-l2a&datetime=2021-01-01T00:00:00Z/2021-12-31T23:59:59Z&bbox=106.7,-6.6,106.77,-6.5", filter: { collections: ["sentinel-2-l2a"], start: Date.UTC(2021, 0, 1), end: Date.UTC(2021, 11, 31, 23, 59, 59), bbox: [106.7, -6.6, 106.77, -6.5] } },
    ];
    for (const { query, filter } of cases) {
      const pages = await allPages(await getJson(`${server.url}/search?limit=50&${query}`));
      const ids = pages.flatMap((p) => p.features.map((f) => f.id));
      const want = expected(filter);
      expect(want.length, query).toBeGreaterThan(0);
      expect([...ids].sort(), query).toEqual(want);
      expect(pages[0]!.numberMatched, query).toBe(want.length);
    }
    // An exact instant matches the items sensed at that instant only.
    const one = archive.items({ stac: "", files: "" })[5] as StacItem;
    const exact = await getJson(`${server.url}/search?datetime=${encodeURIComponent(one.properties.datetime)}`);
    expect(exact.body.features.map((f) => f.id).sort()).toEqual(expected({ start: Date.parse(one.properties.datetime), end: Date.parse(one.properties.datetime) }));
    expect(exact.body.features.map((f) => f.id)).toContain(one.id);
    const ids = await getJson(`${server.url}/search?ids=${one.id},S2A_00XXX_20240101_0_L2A`);
    expect(ids.body.features.map((f) => f.id)).toEqual([one.id]);
  });

  it("tests intersects against the geometry's bounding box", async () => {
    const polygon = { type: "Polygon", coordinates: [[[106.72, -6.58], [106.75, -6.58], [106.75, -6.55], [106.72, -6.58]]] };
    const viaPost = await allPages(await post(`${server.url}/search`, { intersects: polygon, limit: 50 }));
    expect(viaPost.flatMap((p) => p.features.map((f) => f.id)).sort()).toEqual(expected({ bbox: [106.72, -6.58, 106.75, -6.55] }));
    const viaGet = await getJson(`${server.url}/search?limit=50&intersects=${encodeURIComponent(JSON.stringify(polygon))}`);
    expect(viaGet.body.numberMatched).toBe(viaPost[0]!.numberMatched);
  });

  it("pages a GET search with next links, each item once, newest first", async () => {
    const all = expected({});
    const pages = await allPages(await getJson(`${server.url}/search?limit=7`));
    const ids = pages.flatMap((p) => p.features.map((f) => f.id));
    expect(ids.length).toBe(all.length);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(all);
    for (const p of pages) {
      expect(p.numberMatched).toBe(all.length);
      expect(p.numberReturned).toBe(p.features.length);
      expect(p.context).toEqual({ limit: 7, matched: all.length, returned: p.features.length });
      expect(p.features.length).toBeLessThanOrEqual(7);
    }
    const times = pages.flatMap((p) => p.features.map((f) => Date.parse(f.properties.datetime)));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const next = pages[0]!.links.find((l) => l.rel === "next")!;
    expect(next.method).toBe("GET");
    expect(new URL(next.href).searchParams.get("limit")).toBe("7");
    expect(new URL(next.href).searchParams.get("next")).toBeTruthy();
  });

  it("pages a POST search with next links that carry the body, as Earth Search does", async () => {
    const body = { limit: 9, collections: ["sentinel-2-l2a"], datetime: "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z", bbox: [106.7, -6.6, 106.85, -6.45] };
    const pages = await allPages(await post(`${server.url}/search`, body));
    const next = pages[0]!.links.find((l) => l.rel === "next")!;
    expect(next).toMatchObject({ method: "POST", href: `${server.url}/search`, merge: false, body: { ...body, next: expect.any(String) } });
    const ids = pages.flatMap((p) => p.features.map((f) => f.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(expected({ collections: ["sentinel-2-l2a"], start: Date.UTC(2024, 0, 1), end: Date.UTC(2024, 11, 31, 23, 59, 59), bbox: body.bbox }));
  });

  it("serves a collection's items, paged, and single items", async () => {
    const pages = await allPages(await getJson(`${server.url}/collections/sentinel-2-l2a/items?limit=40&datetime=2024-01-01T00:00:00Z/..`));
    expect(pages.flatMap((p) => p.features.map((f) => f.id)).sort()).toEqual(expected({ collections: ["sentinel-2-l2a"], start: Date.UTC(2024, 0, 1) }));
    const id = archive.scenes[3]!.id;
    const one = await getJson<StacItem>(`${server.url}/collections/sentinel-2-l2a/items/${id}`);
    expect(one.status).toBe(200);
    expect(one.type).toBe("application/geo+json");
    expect(one.body.id).toBe(id);
    expect((await getJson(`${server.url}/collections/sentinel-2-l2a/items/S2A_00XXX_20240101_0_L2A`)).status).toBe(404);
  });

  it("clamps a limit above the maximum to the maximum", async () => {
    const res = await getJson(`${server.url}/search?limit=100000`);
    expect(res.status).toBe(200);
    expect(res.body.features).toHaveLength(50);
  });

  it("answers bad parameters with 400 and a STAC error body", async () => {
    const bad = [
      "limit=0",
      "limit=-3",
      "limit=ten",
      "limit=1.5",
      "bbox=1,2,3",
      "bbox=a,b,c,d",
      "bbox=106,-6,107,-7",
      "bbox=0,0,200,10",
      "datetime=yesterday",
      "datetime=2024-13-01T00:00:00Z",
      "datetime=2024-02-01T00:00:00Z/2024-01-01T00:00:00Z",
      "datetime=2024-01-01/2024-02-01/2024-03-01",
      "next=garbage",
      "intersects=%7Bnot%20json",
      "intersects=%7B%22type%22%3A%22Circle%22%7D",
      "bbox=0,0,1,1&intersects=%7B%22type%22%3A%22Point%22%2C%22coordinates%22%3A%5B0%2C0%5D%7D",
      "sortby=-properties.datetime",
      "query=%7B%7D",
    ];
    for (const query of bad) {
      const res = await getJson<{ code: string; description: string }>(`${server.url}/search?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.code, query).toBe("BadRequest");
      expect(res.body.description.length, query).toBeGreaterThan(5);
    }
    const broken = await fetch(`${server.url}/search`, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { code: string }).code).toBe("BadRequest");
    for (const body of [[1, 2], { limit: "many" }, { bbox: "1,2,3,4,5" }, { collections: [""] }, { datetime: 5 }]) {
      const res = await post(`${server.url}/search`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((await fetch(`${server.url}/search`, { method: "DELETE" })).status).toBe(405);
  });

  it("serves items whose links and hrefs lead to this server and convert with stacToEo3", async () => {
    const res = await getJson(`${server.url}/search?limit=20&collections=sentinel-2-l2a`);
    for (const item of res.body.features) {
      const { document, uri } = stacToEo3(item);
      const self = (item.links as { rel: string; href: string }[]).find((l) => l.rel === "self")!.href;
      expect(self).toBe(`${server.url}/collections/sentinel-2-l2a/items/${item.id}`);
      expect(uri.startsWith(`${server.filesUrl}/sentinel-s2-l2a-cogs/48/M/`)).toBe(true);
      expect(document.measurements.red?.path).toMatch(new RegExp(`^${server.filesUrl}/.*/B04\\.tif$`));
    }
  });

  it("serves the canonical item JSON and the COGs from /files, writing a scene on its first read", async () => {
    const scene = archive.scenes.find((s) => s.date === "2024-02-10")!;
    const item = (await getJson<StacItem>(`${server.url}/collections/sentinel-2-l2a/items/${scene.id}`)).body;
    const canonical = (item.links as { rel: string; href: string }[]).find((l) => l.rel === "canonical")!.href;
    const bucket = await getJson<StacItem>(canonical);
    expect(bucket.status).toBe(200);
    expect(bucket.body.id).toBe(scene.id);
    expect((bucket.body.links as { rel: string; href: string }[]).find((l) => l.rel === "self")!.href).toBe(canonical);
    expect(stacToEo3(bucket.body).document.id).toBe(stacToEo3(item).document.id);

    expect(fs.existsSync(path.join(archive.root, scene.dir))).toBe(false);
    const href = (item.assets as Record<string, { href: string }>).red!.href;
    const head = await fetch(href, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("accept-ranges")).toBe("bytes");
    const size = fs.statSync(path.join(archive.root, scene.dir, "B04.tif")).size;
    expect(Number(head.headers.get("content-length"))).toBe(size);

    // GDAL reads a window through HTTP ranges: the same pixels as the file, a fraction of its bytes.
    server.resetFileStats();
    gdal.config.set("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR");
    const remote = await gdal.openAsync(`/vsicurl/${href}`);
    const local = gdal.open(path.join(archive.root, scene.dir, "B04.tif"));
    const window = [40, 60, 50, 30] as const;
    const a = await remote.bands.get(1).pixels.readAsync(...window);
    const b = local.bands.get(1).pixels.read(...window);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    remote.close();
    local.close();
    const served = server.fileStats().files[`${scene.dir}/B04.tif`]!;
    expect(served.requests).toBeGreaterThan(0);
    expect(served.bytes).toBeLessThan(size);
    expect(served.ranges.length).toBeGreaterThan(0);

    expect((await fetch(`${server.filesUrl}/${scene.dir}/nothing.tif`)).status).toBe(404);
    expect((await fetch(`${server.filesUrl}/sentinel-s2-l2a-cogs/../../etc/passwd`)).status).toBe(404);
  });
});
