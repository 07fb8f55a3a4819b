import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import gdal from "gdal-async";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subGeobox, tileGeobox, type Geobox } from "~/lib/grid";
import { WorkerError } from "~/worker/errors";
import { configureGdal, DEFAULT_READ_SETTINGS, SourceCache } from "~/worker/gdal";
import { GM_S2_MASK } from "~/worker/mask";
import type { SourceDataset } from "~/worker/plan";
import { readMargin, readObservation, type ObservationStats } from "~/worker/read";
import { startRangeServer, type RangeServer } from "../support/range-server";
import { ASSETS, testSite, writeScene, type SceneExtent, type SceneSpec } from "./worker-fixtures";

/** TileOffsets and TileByteCounts of a TIFF's first IFD (the full-resolution image of a COG). */
function tileLayout(file: string): { offsets: number[]; sizes: number[]; tileWidth: number; tileHeight: number; width: number; height: number } {
  const buf = fs.readFileSync(file);
  const le = buf.toString("latin1", 0, 2) === "II";
  const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  if (u16(2) !== 42) throw new Error(`${file}: only classic TIFF is parsed here`);
  const ifd = u32(4);
  const tags = new Map<number, number[]>();
  for (let i = 0; i < u16(ifd); i++) {
    const e = ifd + 2 + i * 12;
    const [tag, type, count] = [u16(e), u16(e + 2), u32(e + 4)];
    const size = type === 3 ? 2 : 4;
    const at = count * size <= 4 ? e + 8 : u32(e + 8);
    tags.set(tag, Array.from({ length: count }, (_, k) => (size === 2 ? u16(at + 2 * k) : u32(at + 4 * k))));
  }
  const one = (t: number) => tags.get(t)![0]!;
  return { offsets: tags.get(324)!, sizes: tags.get(325)!, tileWidth: one(322), tileHeight: one(323), width: one(256), height: one(257) };
}

/**
 * Bytes of the blocks of `file` that a chunk touches: the chunk's corners and edges taken to the
 * scene's CRS with GDAL's own transformation (not the code under test's proj4), padded by the read
 * margin the worker documents (mask reach + 2, in 10 m pixels), at the file's resolution.
 */
function touchedBlockBytes(file: string, chunk: Geobox, extent: SceneExtent, resolution: number): { bytes: number; blocks: number; fileBytes: number } {
  const t = new gdal.CoordinateTransformation(gdal.SpatialReference.fromEPSG(6933), gdal.SpatialReference.fromEPSG(32748));
  const [a, , c, , e, f] = chunk.transform;
  const points: { x: number; y: number }[] = [];
  for (let k = 0; k <= 16; k++) {
    const s = k / 16;
    for (const [x, y] of [[c + s * a * chunk.width, f], [c + s * a * chunk.width, f + e * chunk.height], [c, f + s * e * chunk.height], [c + a * chunk.width, f + s * e * chunk.height]]) {
      points.push(t.transformPoint(x!, y!));
    }
  }
  const margin = readMargin(GM_S2_MASK) * 10;
  const e0 = Math.min(...points.map((p) => p.x)) - margin;
  const e1 = Math.max(...points.map((p) => p.x)) + margin;
  const n0 = Math.min(...points.map((p) => p.y)) - margin;
  const n1 = Math.max(...points.map((p) => p.y)) + margin;
  const layout = tileLayout(file);
  const col0 = Math.max(0, Math.floor((e0 - extent.x0) / resolution));
  const col1 = Math.min(layout.width - 1, Math.floor((e1 - extent.x0) / resolution));
  const row0 = Math.max(0, Math.floor((extent.y0 - n1) / resolution));
  const row1 = Math.min(layout.height - 1, Math.floor((extent.y0 - n0) / resolution));
  const across = Math.ceil(layout.width / layout.tileWidth);
  let bytes = 0;
  let blocks = 0;
  for (let by = Math.floor(row0 / layout.tileHeight); by <= Math.floor(row1 / layout.tileHeight); by++) {
    for (let bx = Math.floor(col0 / layout.tileWidth); bx <= Math.floor(col1 / layout.tileWidth); bx++) {
      bytes += layout.sizes[by * across + bx]!;
      blocks++;
    }
  }
  return { bytes, blocks, fileBytes: fs.statSync(file).size };
}

describe("read stage: range reads of COG windows", () => {
  // A 22 km scene around the test tile, 512-pixel blocks (Earth Search's COGs use 1024): a 256 px
  // chunk touches a few of its 25 (10 m) or 9 (20 m) blocks.
  const site = testSite({ marginM: 8000 });
  const extent: SceneExtent = { ...site.extent, block: 512 };
  const scene = (name: string): SceneSpec => ({ name, time: new Date("2024-03-01T03:20:10Z"), baseline: "02.14", seed: 42 });
  let dir: string;
  let server: RangeServer;

  const dataset = (name: string): SourceDataset => ({
    id: name,
    time: new Date("2024-03-01T03:20:10Z"),
    solarDay: "2024-03-01",
    crs: "EPSG:32748",
    offset: 0,
    hrefs: Object.fromEntries(Object.entries(ASSETS).map(([key, a]) => [key, `${server.url}/${name}/${a.file}`])),
  });
  // The second 256 px chunk of the second row of the site's tile.
  const chunk = subGeobox(tileGeobox(site.grid, site.task.tile), { col: 256, row: 256, width: 256, height: 256 });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-worker-read-"));
    await Promise.all(["bytes", "retry", "broken"].map((name) => writeScene(dir, scene(name), extent)));
    server = await startRangeServer(dir);
    configureGdal({ ...DEFAULT_READ_SETTINGS, httpRetries: 3, httpRetryDelay: 0.01 });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("fetches at most 1.2 x the bytes of the COG blocks a chunk touches, file by file", async () => {
    const sources = new SourceCache(DEFAULT_READ_SETTINGS);
    const ds = dataset("bytes");
    const used = Object.entries(ASSETS).filter(([key]) => !["coastal", "nir09", "aot", "wvp"].includes(key));
    // Opening a file costs a HEAD (its size) and one ranged GET of its header (GDAL's first 16 KiB),
    // once per file and task: the worker keeps its sources open from chunk to chunk.
    server.reset();
    await Promise.all(used.map(([key]) => sources.use(ds.hrefs[key]!, async () => undefined)));
    for (const [key, asset] of used) {
      const opening = server.requests.filter((r) => r.path === `/bytes/${asset.file}`);
      expect(opening.map((r) => r.method), key).toEqual(["HEAD", "GET"]);
      expect(opening[1]!.bytes, key).toBeLessThanOrEqual(16_384);
    }

    server.reset();
    const stats: ObservationStats = { readBands: false };
    const bands = await readObservation(ds, chunk, sources, GM_S2_MASK, stats);
    await sources.close();
    expect(bands).toHaveLength(10);
    expect(stats.readBands).toBe(true);
    let fetched = 0;
    let touched = 0;
    for (const [key, asset] of used) {
      const t = touchedBlockBytes(path.join(dir, "bytes", asset.file), chunk, extent, asset.res);
      const got = server.bytes((p) => p === `/bytes/${asset.file}`);
      fetched += got;
      touched += t.bytes;
      expect(got, `${key}: fetched ${got} B for ${t.blocks} touched blocks of ${t.bytes} B (file ${t.fileBytes} B)`).toBeLessThanOrEqual(1.2 * t.bytes);
    }
    expect(fetched).toBeLessThanOrEqual(1.2 * touched);
    // The rule means something: the chunk needs a small part of the scene.
    const total = used.reduce((n, [, a]) => n + fs.statSync(path.join(dir, "bytes", a.file)).size, 0);
    expect(touched).toBeLessThan(0.5 * total);
    // Nothing but the eleven files the mask and the geomedian need.
    expect(new Set(server.requests.map((r) => r.path.split("/").pop()))).toEqual(new Set(used.map(([, a]) => a.file)));
  });

  it("costs no reflectance reads for a chunk whose window is entirely masked", async () => {
    server.reset();
    const cloudy: SceneSpec = { ...scene("cloudy"), clouds: [{ e: site.centre.e, n: site.centre.n, r: 20_000 }] };
    await writeScene(dir, cloudy, extent);
    const sources = new SourceCache(DEFAULT_READ_SETTINGS);
    const stats: ObservationStats = { readBands: true };
    expect(await readObservation(dataset("cloudy"), chunk, sources, GM_S2_MASK, stats)).toBeUndefined();
    await sources.close();
    expect(stats.readBands).toBe(false);
    expect(new Set(server.requests.map((r) => r.path))).toEqual(new Set(["/cloudy/B02.tif", "/cloudy/SCL.tif"]));
  });

  it("retries transient HTTP errors (503) with GDAL's backoff and then reads the data", async () => {
    server.reset();
    server.fail((p) => p === "/retry/B04.tif", 2, 503);
    const sources = new SourceCache(DEFAULT_READ_SETTINGS);
    const bands = await readObservation(dataset("retry"), chunk, sources);
    await sources.close();
    expect(bands).toHaveLength(10);
    const b04 = server.requests.filter((r) => r.path === "/retry/B04.tif").map((r) => r.status);
    expect(b04.slice(0, 2)).toEqual([503, 503]);
    expect(b04.slice(2).every((s) => s === 200 || s === 206)).toBe(true);
  });

  it("fails with one clear line naming the COG when it stays unreadable after the retries", async () => {
    server.fail((p) => p === "/broken/B03.tif", Infinity, 503);
    const sources = new SourceCache({ ...DEFAULT_READ_SETTINGS, httpRetries: 3 });
    const err = await readObservation(dataset("broken"), chunk, sources).then(
      () => undefined,
      (e: unknown) => e,
    );
    await sources.close();
    expect(err).toBeInstanceOf(WorkerError);
    expect((err as WorkerError).code).toBe("UNREADABLE_SOURCE");
    expect((err as WorkerError).message).toContain(`${server.url}/broken/B03.tif`);
    expect((err as WorkerError).message).not.toContain("\n");
    // The first attempt and three retries.
    expect(server.requests.filter((r) => r.path === "/broken/B03.tif").length).toBe(4);
  });
});
