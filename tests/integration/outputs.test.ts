import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import gdal from "gdal-async";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { outputFileResponse } from "~/features/outputs/server/downloads.service";
import { withAppErrors } from "~/features/outputs/server/http";
import { ByteLru } from "~/features/outputs/server/lru";
import { listTaskOutputs, pythonSnippet } from "~/features/outputs/server/outputs.service";
import { renderRgbTile, stretchByte } from "~/features/outputs/server/render";
import { outputTileResponse, type OutputsContext } from "~/features/outputs/server/tiles.service";
import { outputFileUrl, outputTileUrlTemplate } from "~/features/outputs/tile-params";
import { MERCATOR_HALF, xyzMercatorBounds, type XyzTile } from "~/features/outputs/web-mercator";
import { gridToLonLat, lonLatToGrid, parseTaskId, tileBounds, type TaskId } from "~/lib/grid";
import type { IndexPort } from "~/server/drivers/index";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import type { ObjectsPort } from "~/server/drivers/objects";
import { createLocalObjects } from "~/server/drivers/objects/local";
import { createS3Objects } from "~/server/drivers/objects/s3";
import { transformer } from "~/server/odc/crs";
import { OUTPUT_BANDS } from "~/worker/layout";
import { runGeomedianTask, type GeomedianTaskResult } from "~/worker/run";
import { createTestDatabase } from "../support/databases";
import { startRangeServer, type RangeServer } from "../support/range-server";
import { startS3Server, type S3TestServer } from "../support/s3";
import { CRS, prepareIndex, sceneDataset, testSite, truth, writeScene, yearOfScenes } from "./worker-fixtures";

/**
 * The outputs endpoints on real worker outputs: a geomedian of the synthetic year over the test
 * site, computed once into a directory bucket and copied into s3rver, then drawn as web-mercator
 * tiles and downloaded through both drivers.
 */

const run = promisify(execFile);
const VALIDATOR = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py";

const site = testSite();
const year = yearOfScenes(site);
let dir: string;
let scenes: RangeServer;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let index: IndexPort;
let result: GeomedianTaskResult;
let local: ObjectsPort;
let s3server: S3TestServer;
let s3: ObjectsPort;
const bucketDir = () => path.join(dir, "objects", "piksel-test-data");

const worker = (overwrite = false) =>
  runGeomedianTask({ env: "test", index, objects: local, prefix: "derived", grid: site.grid, task: site.task, chunk: 256, threads: 2, overwrite, read: { httpRetryDelay: 0.05 } });

/** Copies the task's outputs from the directory bucket into s3rver, the EO3 document last (as the worker writes). */
async function copyToS3(): Promise<void> {
  const keys = (await local.list(`${result.layout.dir}/`)).map((o) => o.key).sort((a, b) => Number(a === result.layout.eo3) - Number(b === result.layout.eo3));
  for (const key of keys) await s3.put(key, { file: path.join(bucketDir(), key) });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-outputs-"));
  const scenesDir = path.join(dir, "scenes");
  await Promise.all(year.scenes.map((s) => writeScene(scenesDir, s, site.extent)));
  scenes = await startRangeServer(scenesDir);
  db = await createTestDatabase("outputs");
  index = createPostgresIndex(db.url);
  await prepareIndex(index, year.scenes.map((s) => sceneDataset(s, site.extent, scenes.url)));
  local = createLocalObjects({ root: path.join(dir, "objects"), bucket: "piksel-test-data" });
  result = await worker();
  s3server = await startS3Server();
  s3 = createS3Objects(s3server.objects);
  await copyToS3();
}, 300_000);

afterAll(async () => {
  await s3server?.stop();
  await index?.close();
  await db?.drop();
  await scenes?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const contexts = (): Record<"local" | "s3", OutputsContext> => ({
  local: { environments: new Map([["dev", local]]), grid: site.grid, cache: new ByteLru(8 << 20) },
  s3: { environments: new Map([["dev", s3]]), grid: site.grid, cache: new ByteLru(8 << 20) },
});

/** The web-mercator tile at zoom z that holds the output tile's centre. */
function tileAtSiteCentre(z: number): XyzTile {
  const b = tileBounds(site.grid, site.task.tile);
  const [lon, lat] = gridToLonLat(site.grid, (b.left + b.right) / 2, (b.bottom + b.top) / 2);
  const n = 2 ** z;
  const x = Math.floor(((lon + 180) / 360) * n);
  const rad = (lat * Math.PI) / 180;
  const y = Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n);
  return { z, x, y };
}

/** GET of the tile endpoint, as the route handler calls it. */
function getTile(ctx: OutputsContext, t: XyzTile, opts: { query?: string; headers?: Record<string, string>; environment?: string; product?: string; period?: string; y?: string } = {}) {
  const params = { environment: opts.environment ?? "dev", product: opts.product ?? "gm_s2_annual", period: opts.period ?? "2024--P1Y", z: String(t.z), x: String(t.x), y: opts.y ?? `${t.y}.png` };
  const req = new Request(`http://console.test/api/outputs/${params.environment}/${params.product}/${params.period}/tiles/${params.z}/${params.x}/${params.y}${opts.query ?? ""}`, { headers: opts.headers });
  return withAppErrors(() => outputTileResponse(ctx, params, req));
}

function decode(buf: ArrayBuffer): PNG {
  return PNG.sync.read(Buffer.from(buf));
}

/** Lon/lat of the centre of pixel (i, j) of a tile. */
function pixelLonLat(t: XyzTile, i: number, j: number): [number, number] {
  const b = xyzMercatorBounds(t);
  const res = (b.right - b.left) / 256;
  const [x, y] = [b.left + (i + 0.5) * res, b.top - (j + 0.5) * res];
  return [(x / MERCATOR_HALF) * 180, ((2 * Math.atan(Math.exp((y / MERCATOR_HALF) * Math.PI)) - Math.PI / 2) * 180) / Math.PI];
}

/**
 * Checks a rendered tile against the truth of the synthetic surface: true colour (B04, B03, B02
 * stretched 0..3000) where the output has data, transparent outside the output tile and in the
 * corner no scene covers. Returns how many pixels of each kind it checked.
 */
function checkTile(png: PNG, t: XyzTile, margin: number): { opaque: number; transparent: number; off: string[] } {
  const g = tileBounds(site.grid, site.task.tile);
  const toUtm = transformer("EPSG:4326", CRS);
  const { corner } = year;
  let opaque = 0;
  let transparent = 0;
  const off: string[] = [];
  for (let j = 0; j < 256; j++) {
    for (let i = 0; i < 256; i++) {
      const [lon, lat] = pixelLonLat(t, i, j);
      const [gx, gy] = lonLatToGrid(site.grid, lon, lat);
      const [e, n] = toUtm([lon, lat]);
      const p = (j * 256 + i) * 4;
      const outside = gx < g.left - margin || gx > g.right + margin || gy < g.bottom - margin || gy > g.top + margin;
      const inCorner = e > corner.e0 + margin && n > corner.n0 + margin;
      const inside = gx > g.left + margin && gx < g.right - margin && gy > g.bottom + margin && gy < g.top - margin && (e < corner.e0 - margin || n < corner.n0 - margin);
      if (outside || (inCorner && !outside)) {
        transparent++;
        if (png.data[p + 3] !== 0) off.push(`(${i}, ${j}) should be transparent, alpha ${png.data[p + 3]}`);
      } else if (inside) {
        opaque++;
        // red B04 (REFLECTANCE index 2), green B03 (1), blue B02 (0)
        const want = [2, 1, 0].map((b) => stretchByte(truth(b, e, n) * 10_000, 0, 3000));
        const got = [png.data[p]!, png.data[p + 1]!, png.data[p + 2]!];
        if (png.data[p + 3] !== 255 || got.some((v, k) => Math.abs(v - want[k]!) > 4)) off.push(`(${i}, ${j}) rgba ${[...got, png.data[p + 3]]} vs ${want},255`);
      }
    }
  }
  return { opaque, transparent, off };
}

describe.each(["local", "s3"] as const)("output tiles, %s driver", (driver) => {
  let ctx: OutputsContext;
  beforeAll(() => {
    ctx = contexts()[driver];
  });

  it("draws the output in true colour where it has data and leaves the rest transparent (zoom 12 and 14)", async () => {
    for (const z of [12, 14]) {
      const t = tileAtSiteCentre(z);
      const res = await getTile(ctx, t);
      expect(res.status, await res.clone().text()).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/png");
      const png = decode(await res.arrayBuffer());
      expect([png.width, png.height]).toEqual([256, 256]);
      // One web pixel (38 m at zoom 12, 9.5 m at 14) plus the overview's 20 m either side of an edge.
      const { opaque, transparent, off } = checkTile(png, t, z === 12 ? 80 : 40);
      expect(off.slice(0, 5)).toEqual([]);
      expect(opaque).toBeGreaterThan(2000);
      if (z === 12) expect(transparent).toBeGreaterThan(2000);
    }
  });

  it("serves a repeat from the cache with the same ETag, and answers 304 to If-None-Match", async () => {
    const t = tileAtSiteCentre(13);
    const first = await getTile(ctx, t);
    expect(first.headers.get("x-piksel-tile-cache")).toBe("miss");
    const etag = first.headers.get("etag")!;
    expect(first.headers.get("cache-control")).toBe("private, no-cache");
    const again = await getTile(ctx, t);
    expect(again.headers.get("x-piksel-tile-cache")).toBe("hit");
    expect(again.headers.get("etag")).toBe(etag);
    expect(Buffer.from(await again.arrayBuffer())).toEqual(Buffer.from(await first.arrayBuffer()));
    const revalidated = await getTile(ctx, t, { headers: { "if-none-match": etag } });
    expect(revalidated.status).toBe(304);
  });

  it("draws nothing for tasks left out by ?tasks=, and the output for its own task", async () => {
    const t = tileAtSiteCentre(12);
    const other = await getTile(ctx, t, { query: `?tasks=${site.task.tile.x + 1}/${site.task.tile.y}` });
    expect(other.status).toBe(200);
    expect(decode(await other.arrayBuffer()).data.every((v, i) => i % 4 !== 3 || v === 0)).toBe(true);
    const own = decode(await (await getTile(ctx, t, { query: `?tasks=${site.task.tile.x}/${site.task.tile.y}` })).arrayBuffer());
    expect(own.data.some((v, i) => i % 4 === 3 && v === 255)).toBe(true);
  });

  it("takes other bands and another stretch: near-infrared as red is brighter than red", async () => {
    const t = tileAtSiteCentre(12);
    const tc = decode(await (await getTile(ctx, t)).arrayBuffer());
    const false_ = decode(await (await getTile(ctx, t, { query: "?bands=B08,B04,B03&stretch=0,4000" })).arrayBuffer());
    const mean = (png: PNG, c: number) => {
      let [sum, n] = [0, 0];
      for (let p = 0; p < png.data.length; p += 4) if (png.data[p + 3] === 255) [sum, n] = [sum + png.data[p + c]!, n + 1];
      return sum / n;
    };
    // The synthetic NIR (0.26 +- 0.10) is four times the red (0.06 +- 0.04).
    expect(mean(false_, 0)).toBeGreaterThan(2 * mean(tc, 0));
  });
});

describe("output tiles after a recompute", () => {
  it("are drawn again: a new ETag, a cache miss, the new pixels (directory and S3)", async () => {
    const ctx = contexts();
    const t = tileAtSiteCentre(12);
    const before = { local: await getTile(ctx.local, t), s3: await getTile(ctx.s3, t) };
    const redBefore = decode(await before.local.clone().arrayBuffer());

    // A real recompute through the worker: same sources, new files under the same keys.
    const recomputed = await worker(true);
    expect(recomputed.status).toBe("done");
    const afterRecompute = await getTile(ctx.local, t, { headers: { "if-none-match": before.local.headers.get("etag")! } });
    expect(afterRecompute.status).toBe(200);
    expect(afterRecompute.headers.get("x-piksel-tile-cache")).toBe("miss");

    // Then outputs whose red band differs: a constant DN 3000 (white) in B04, written as the worker
    // writes (bands, then the EO3 document last).
    const b04 = path.join(bucketDir(), result.layout.bands.B04!);
    const src = gdal.open(b04);
    const { x, y } = src.rasterSize;
    const mem = gdal.drivers.get("MEM").create("", x, y, 1, gdal.GDT_UInt16);
    mem.geoTransform = src.geoTransform;
    mem.srs = src.srs;
    mem.bands.get(1).noDataValue = 0;
    const px = src.bands.get(1).pixels.read(0, 0, x, y) as Uint16Array;
    mem.bands.get(1).pixels.write(0, 0, x, y, px.map((v) => (v === 0 ? 0 : 3000)));
    src.close();
    const tmp = path.join(dir, "B04-white.tif");
    gdal.translate(tmp, mem, ["-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=256"]).close();
    mem.close();
    const eo3 = fs.readFileSync(path.join(bucketDir(), result.layout.eo3));
    for (const objects of [local, s3]) {
      await objects.delete(result.layout.eo3);
      await objects.put(result.layout.bands.B04!, { file: tmp });
      await objects.put(result.layout.eo3, Buffer.concat([eo3, Buffer.from("# recomputed\n")]));
    }
    for (const driver of ["local", "s3"] as const) {
      const res = await getTile(ctx[driver], t, { headers: { "if-none-match": before[driver].headers.get("etag")! } });
      expect(res.status, driver).toBe(200);
      expect(res.headers.get("x-piksel-tile-cache"), driver).toBe("miss");
      const png = decode(await res.arrayBuffer());
      let white = 0;
      for (let p = 0; p < png.data.length; p += 4) {
        if (png.data[p + 3] !== 255) continue;
        expect(png.data[p], driver).toBe(255);
        expect(redBefore.data[p]).toBeLessThan(255);
        white++;
      }
      expect(white, driver).toBeGreaterThan(2000);
    }
    // Leave the true outputs for the other tests.
    await worker(true);
    await copyToS3();
  }, 240_000);
});

describe("output tiles: what the client gets wrong", () => {
  const cases: [string, Parameters<typeof getTile>[2], XyzTile, number, RegExp][] = [
    ["x beyond the zoom", {}, { z: 3, x: 8, y: 1 }, 400, /x and y run from 0 to 7/],
    ["a zoom beyond 24", {}, { z: 25, x: 0, y: 0 }, 400, /beyond 24/],
    ["no .png", { y: "5" }, { z: 3, x: 1, y: 5 }, 400, /<z>\/<x>\/<y>\.png/],
    ["a name for a number", { y: "abc.png" }, { z: 3, x: 1, y: 0 }, 400, /whole numbers/],
    ["an unknown environment", { environment: "qa" }, { z: 3, x: 1, y: 1 }, 404, /unknown environment "qa": expected one of dev/],
    ["an unknown product", { product: "gm_ls8" }, { z: 3, x: 1, y: 1 }, 404, /unknown product "gm_ls8": outputs exist for gm_s2_annual/],
    ["a bad period", { period: "2024" }, { z: 3, x: 1, y: 1 }, 400, /expected a form such as 2024--P1Y/],
    ["an unknown parameter", { query: "?colour=red" }, { z: 3, x: 1, y: 1 }, 400, /unknown parameter "colour"/],
    ["a malformed task list", { query: "?tasks=304-68" }, { z: 3, x: 1, y: 1 }, 400, /list tiles as x\/y/],
    ["bands that are not reflectance", { query: "?bands=B04,B03,COUNT" }, { z: 3, x: 1, y: 1 }, 400, /three reflectance bands/],
    ["a reversed stretch", { query: "?stretch=3000,0" }, { z: 3, x: 1, y: 1 }, 400, /0 <= min < max/],
  ];
  it.each(cases)("refuses %s with a message saying what to fix", async (_name, opts, t, status, message) => {
    const res = await getTile(contexts().local, t, opts);
    expect(res.status).toBe(status);
    expect((await res.json()).error).toMatch(message);
  });

  it("refuses a zoomed-out tile that meets too many grid tiles, and says to zoom in or name the tasks", async () => {
    const res = await getTile(contexts().local, tileAtSiteCentre(5));
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatch(/meets \d+ tiles of grid global_10:512, more than the 256 .*zoom in, or list the tasks/);
    // With the task named, the same tile is drawn.
    const named = await getTile(contexts().local, tileAtSiteCentre(5), { query: `?tasks=${site.task.tile.x}/${site.task.tile.y}` });
    expect(named.status).toBe(200);
  });
});

describe("output tiles read the COGs' overviews when zoomed out", () => {
  it("fetches the 20 m overview, not the full resolution, for a zoom-11 tile (76 m pixels)", async () => {
    const files = await startRangeServer(bucketDir());
    try {
      const bands = ["B04", "B03", "B02"].map((b) => result.layout.bands[b]!);
      const sources = [{ paths: bands.map((k) => `/vsicurl/${files.url}/${k}`) as [string, string, string] }];
      const whole = bands.reduce((sum, k) => sum + fs.statSync(path.join(bucketDir(), k)).size, 0);
      const png = await renderRgbTile(sources, tileAtSiteCentre(11), [0, 3000]);
      expect(png).toBeDefined();
      // The overview holds a quarter of the pixels; the whole output tile lies in this map tile, so
      // reading full resolution would fetch nearly every byte of the three files.
      expect(files.bytes()).toBeLessThan(0.45 * whole);
      expect(files.bytes()).toBeGreaterThan(0);
    } finally {
      await files.close();
    }
  });
});

/** A download through the route logic. */
function download(ctx: OutputsContext, key: string[], init: RequestInit = {}, environment = "dev") {
  const req = new Request(`http://console.test${outputFileUrl(environment, key.join("/"))}`, init);
  return withAppErrors(() => outputFileResponse(ctx, { environment, key }, req));
}

describe("downloads, directory driver", () => {
  let ctx: OutputsContext;
  let b04: Buffer;
  let key: string[];
  beforeAll(() => {
    ctx = contexts().local;
    key = result.layout.bands.B04!.split("/");
    b04 = fs.readFileSync(path.join(bucketDir(), result.layout.bands.B04!));
  });

  it("streams the whole file with its type, length and ETag", async () => {
    const res = await download(ctx, key);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/tiff; application=geotiff; profile=cloud-optimized");
    expect(res.headers.get("content-length")).toBe(String(b04.length));
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("etag")).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(b04);
    const stac = await download(ctx, result.layout.stac.split("/"));
    expect(stac.headers.get("content-type")).toBe("application/geo+json");
    expect((await stac.json()).id).toBe(result.id);
  });

  it("answers ranges with 206 and exactly those bytes, 416 beyond the end, 304 to a matching If-None-Match", async () => {
    const part = await download(ctx, key, { headers: { range: "bytes=100-16483" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 100-16483/${b04.length}`);
    expect(part.headers.get("content-length")).toBe("16384");
    expect(Buffer.from(await part.arrayBuffer())).toEqual(b04.subarray(100, 16484));
    const tail = await download(ctx, key, { headers: { range: "bytes=-100" } });
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(b04.subarray(b04.length - 100));
    const beyond = await download(ctx, key, { headers: { range: `bytes=${b04.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get("content-range")).toBe(`bytes */${b04.length}`);
    const etag = (await download(ctx, key, { method: "HEAD" })).headers.get("etag")!;
    expect((await download(ctx, key, { headers: { "if-none-match": etag } })).status).toBe(304);
    // If-Range with a stale tag: the whole (current) file instead of a range of another version.
    const stale = await download(ctx, key, { headers: { range: "bytes=0-9", "if-range": '"0-0"' } });
    expect(stale.status).toBe(200);
    expect(Buffer.from(await stale.arrayBuffer())).toEqual(b04);
  });

  it("answers HEAD with the length and no body", async () => {
    const res = await download(ctx, key, { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(b04.length));
    expect(res.body).toBeNull();
  });

  it("refuses traversal, keys outside the outputs and unknown environments; 404 for a missing output", async () => {
    for (const bad of [["derived", "..", "..", "etc", "passwd"], ["derived", "../secret"], ["derived", "", "x"]]) {
      const res = await download(ctx, bad);
      expect(res.status, bad.join("/")).toBe(400);
      expect((await res.json()).error).toMatch(/invalid object key/);
    }
    const outside = await download(ctx, ["scenes", "x.tif"]);
    expect(outside.status).toBe(403);
    expect((await outside.json()).error).toMatch(/only outputs can be downloaded here \(keys under derived\/\)/);
    const missing = await download(ctx, ["derived", "gm_s2_annual", "nothing.tif"]);
    expect(missing.status).toBe(404);
    expect((await download(ctx, key, {}, "qa")).status).toBe(404);
  });

  it("serves a COG that GDAL reads in place over HTTP by ranges, and that validates as a COG once downloaded", async () => {
    // The route logic behind a plain HTTP server, as Next serves it (sign-in aside).
    const server = http.createServer(async (req, res) => {
      const url = new URL(req.url!, "http://127.0.0.1");
      const segments = url.pathname.split("/").slice(5).map(decodeURIComponent);
      const r = await download(ctx, segments, { method: req.method, headers: req.headers as Record<string, string> });
      res.writeHead(r.status, Object.fromEntries(r.headers));
      if (r.body) Readable.fromWeb(r.body as import("node:stream/web").ReadableStream).pipe(res);
      else res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as import("node:net").AddressInfo;
      // Asynchronous GDAL only: a synchronous call would block the event loop this server answers on.
      const remote = await gdal.openAsync(`/vsicurl/http://127.0.0.1:${port}${outputFileUrl("dev", result.layout.bands.B04!)}`);
      const direct = await gdal.openAsync(path.join(bucketDir(), result.layout.bands.B04!));
      const [remoteBand, directBand] = [await remote.bands.getAsync(1), await direct.bands.getAsync(1)];
      expect(await remoteBand.overviews.countAsync()).toBeGreaterThanOrEqual(1);
      expect(await remoteBand.pixels.readAsync(100, 100, 50, 50)).toEqual(await directBand.pixels.readAsync(100, 100, 50, 50));
      remote.close();
      direct.close();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const file = path.join(dir, "downloaded-B04.tif");
    fs.writeFileSync(file, Buffer.from(await (await download(ctx, key)).arrayBuffer()));
    const { stdout } = await run("/usr/bin/python3", [VALIDATOR, "--full-check=yes", file]);
    expect(stdout).toContain("is a valid cloud optimized GeoTIFF");
  });
});

describe("downloads, S3 driver", () => {
  it("redirects to a short-lived presigned URL that serves the file and its ranges", async () => {
    const ctx = contexts().s3;
    const key = result.layout.bands.B04!;
    const res = await download(ctx, key.split("/"));
    expect(res.status).toBe(302);
    const location = res.headers.get("location")!;
    expect(location).toMatch(new RegExp(`^${s3server.endpoint}/piksel-test-data/${key.replace(/[.]/g, "\\.")}\\?.*X-Amz-Expires=900`));
    const bytes = fs.readFileSync(path.join(bucketDir(), key));
    expect(Buffer.from(await (await fetch(location)).arrayBuffer())).toEqual(bytes);
    const part = await fetch(location, { headers: { range: "bytes=10-99" } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(bytes.subarray(10, 100));
    expect((await download(ctx, ["derived", "gm_s2_annual", "nothing.tif"])).status).toBe(404);
    expect((await download(ctx, ["derived", "..", "x"])).status).toBe(400);
  });
});

describe("the outputs of a request's tasks", () => {
  const other: TaskId = parseTaskId(`2024--P1Y/${site.task.tile.x + 1}/${site.task.tile.y}`);

  it.each(["local", "s3"] as const)("lists each task's files with download URLs and its STAC item (%s driver)", async (driver) => {
    const objects = driver === "local" ? local : s3;
    const [done, missing] = await listTaskOutputs(objects, { environment: "dev", tasks: [site.task, other] });
    expect(done!.status).toBe("finished");
    expect(done!.task).toBe(`2024--P1Y/${site.task.tile.x}/${site.task.tile.y}`);
    expect(done!.files.filter((f) => f.kind === "band").map((f) => f.band).sort()).toEqual(OUTPUT_BANDS.map((b) => b.name).sort());
    const b04 = done!.files.find((f) => f.band === "B04")!;
    expect(b04.size).toBe(fs.statSync(path.join(bucketDir(), result.layout.bands.B04!)).size);
    expect(b04.url).toBe(`/api/outputs/dev/files/${result.layout.bands.B04}`);
    expect(done!.stacItem).toEqual({ key: result.layout.stac, uri: objects.uri(result.layout.stac), url: `/api/outputs/dev/files/${result.layout.stac}` });
    expect(missing).toMatchObject({ status: "missing", files: [] });
    expect(missing!.stacItem).toBeUndefined();
  });

  it("reports a task with files but no EO3 document as incomplete", async () => {
    const layoutDir = result.layout.dir.replace(`x${site.task.tile.x}`, `x${site.task.tile.x + 1}`);
    await local.put(`${layoutDir}/gm_s2_annual_x${site.task.tile.x + 1}y${site.task.tile.y}_2024--P1Y_final_B02.tif`, "partial");
    try {
      const [t] = await listTaskOutputs(local, { environment: "dev", tasks: [other] });
      expect(t).toMatchObject({ status: "incomplete", files: [{ kind: "band", band: "B02" }] });
    } finally {
      await local.delete(`${layoutDir}/gm_s2_annual_x${site.task.tile.x + 1}y${site.task.tile.y}_2024--P1Y_final_B02.tif`);
    }
  });

  it("gives a Python snippet that names the STAC item and is valid Python", async () => {
    const [done] = await listTaskOutputs(local, { environment: "dev", tasks: [site.task] });
    const code = pythonSnippet({ stacItemUris: [done!.stacItem!.uri] });
    expect(code).toContain(JSON.stringify(path.join(bucketDir(), result.layout.stac)));
    await run("/usr/bin/python3", ["-c", "import ast, sys; ast.parse(sys.argv[1])", code]);
  });

  it("builds a tile URL template the endpoint accepts", async () => {
    const template = outputTileUrlTemplate({ environment: "dev", period: "2024--P1Y", tasks: [site.task.tile], version: 7 });
    const t = tileAtSiteCentre(12);
    const url = new URL(template.replace("{z}", String(t.z)).replace("{x}", String(t.x)).replace("{y}", String(t.y)), "http://console.test");
    const [, , , environment, product, period, , z, x, y] = url.pathname.split("/");
    const res = await withAppErrors(() => outputTileResponse(contexts().local, { environment: environment!, product: product!, period: period!, z: z!, x: x!, y: y! }, new Request(url)));
    expect(res.status).toBe(200);
  });
});
