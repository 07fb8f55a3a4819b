import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import gdal from "gdal-async";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { tileGeobox, tileLonLatBounds } from "~/lib/grid";
import type { IndexPort } from "~/server/drivers/index";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import { createLocalObjects } from "~/server/drivers/objects/local";
import { transformer } from "~/server/odc/crs";
import { prepEo3, type Eo3Document } from "~/server/odc/eo3";
import { cancelledBy } from "~/worker/errors";
import { OUTPUT_BANDS, REFLECTANCE_BANDS } from "~/worker/layout";
import { planTask } from "~/worker/plan";
import { runGeomedianTask, type GeomedianTaskResult, type Progress } from "~/worker/run";
import { createTestDatabase } from "../support/databases";
import { startRangeServer, type RangeServer } from "../support/range-server";
import { CRS, hasData, prepareIndex, sceneDataset, sceneId, SOLAR_DAYS, testSite, truth, writeScene, yearOfScenes, type Disc, type SceneSpec } from "./worker-fixtures";

const run = promisify(execFile);
const VALIDATOR = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py";

/** Every pixel of a single-band raster. */
function readAll(file: string): { data: Float64Array; width: number; height: number; nodata: number | null; gt: number[] } {
  const ds = gdal.open(file);
  const band = ds.bands.get(1);
  const { x, y } = ds.rasterSize;
  const data = Float64Array.from(band.pixels.read(0, 0, x, y) as ArrayLike<number>);
  const out = { data, width: x, height: y, nodata: band.noDataValue, gt: ds.geoTransform! };
  ds.close();
  return out;
}

describe("piksel worker geomedian on synthetic scenes", () => {
  const site = testSite();
  const year = yearOfScenes(site);
  const inPeriod = year.scenes.filter((s) => s.time.getUTCFullYear() === 2024 && s.footprint === undefined);
  let dir: string;
  let server: RangeServer;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let index: IndexPort;
  let result: GeomedianTaskResult;
  const events: Progress[] = [];
  let objectsRoot: string;
  const objects = () => createLocalObjects({ root: objectsRoot, bucket: "piksel-test-data" });
  const file = (key: string) => path.join(objectsRoot, "piksel-test-data", key);
  const options = () => ({
    env: "test",
    index,
    objects: objects(),
    prefix: "derived",
    grid: site.grid,
    task: site.task,
    chunk: 256,
    threads: 2,
    read: { httpRetryDelay: 0.05 },
  });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-worker-"));
    objectsRoot = path.join(dir, "objects");
    const scenesDir = path.join(dir, "scenes");
    await Promise.all(year.scenes.map((s) => writeScene(scenesDir, s, site.extent)));
    server = await startRangeServer(scenesDir);
    db = await createTestDatabase("worker");
    index = createPostgresIndex(db.url);
    await prepareIndex(index, year.scenes.map((s) => sceneDataset(s, site.extent, server.url)));
    result = await runGeomedianTask({ ...options(), onProgress: (p) => events.push(p) });
  }, 240_000);

  afterAll(async () => {
    await index?.close();
    await db?.drop();
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("plans the 2024 scenes whose footprint meets the tile, grouped into solar days", async () => {
    const plan = await planTask(index, site.grid, site.task);
    expect(plan.datasets.map((d) => d.id).sort()).toEqual(inPeriod.map((s) => sceneId(s.name)).sort());
    expect(plan.days).toHaveLength(SOLAR_DAYS);
    const split = plan.days.find((d) => d.datasets.length === 2)!;
    expect(split.day).toBe("2024-08-13");
    // group_by_nothing's order: time, then id.
    expect(split.datasets.map((d) => d.id)).toEqual([sceneId("S2A_48MYU_20240813_0_L2A"), sceneId("S2A_48MXU_20240813_0_L2A")]);
    expect(plan.datasets.find((d) => d.id === sceneId("S2A_48MYU_20240604_0_L2A"))?.offset).toBe(-0.1);
    expect(plan.datasets.find((d) => d.id === sceneId("S2B_48MYU_20240917_0_L2A"))?.offset).toBe(0);
  });

  it("writes one COG per band, a STAC item and an EO3 document under odc-stats' layout", () => {
    expect(result.status).toBe("done");
    expect(result.sources).toBe(inPeriod.length);
    expect(result.days).toBe(SOLAR_DAYS);
    const dirKey = `derived/gm_s2_annual/1-0-0/x${site.task.tile.x}/y${site.task.tile.y}/2024--P1Y`;
    expect(result.layout.dir).toBe(dirKey);
    const names = fs.readdirSync(file(dirKey)).sort();
    const stem = `gm_s2_annual_x${site.task.tile.x}y${site.task.tile.y}_2024--P1Y_final`;
    expect(names).toEqual([...OUTPUT_BANDS.map((b) => `${stem}_${b.name}.tif`), `${stem}.odc-metadata.yaml`, `${stem}.stac-item.json`].sort());
    expect(result.uri).toBe(`file://${file(result.layout.eo3)}`);
  });

  it("writes COGs that pass GDAL's validator with --full-check=yes, tiled, compressed, with overviews", async () => {
    for (const band of OUTPUT_BANDS) {
      const cog = file(result.layout.bands[band.name]!);
      const { stdout } = await run("/usr/bin/python3", [VALIDATOR, "--full-check=yes", cog]);
      expect(stdout, band.name).toContain("is a valid cloud optimized GeoTIFF");
      const ds = gdal.open(cog);
      const b = ds.bands.get(1);
      expect(b.dataType).toBe(band.type);
      expect(b.overviews.count(), band.name).toBeGreaterThanOrEqual(1);
      expect(ds.getMetadata("IMAGE_STRUCTURE").COMPRESSION).toBe("DEFLATE");
      if (band.type === "UInt16") expect(b.noDataValue).toBe(0);
      else expect(b.noDataValue).toBeNaN();
      expect(ds.rasterSize).toEqual({ x: 512, y: 512 });
      expect(ds.geoTransform).toEqual([tileGeobox(site.grid, site.task.tile).transform[2], 10, 0, tileGeobox(site.grid, site.task.tile).transform[5], 0, -10]);
      expect(ds.srs?.getAuthorityCode()).toBe("6933");
      ds.close();
    }
  });

  /** Per output pixel: its UTM position and every band's value (read once). */
  let pixels: { bands: Record<string, Float64Array>; positions: [number, number][] } | undefined;
  function outputPixels() {
    pixels ??= readOutputPixels();
    return pixels;
  }
  function readOutputPixels() {
    const g = tileGeobox(site.grid, site.task.tile);
    const toUtm = transformer(site.grid.crs, CRS);
    const bands = Object.fromEntries(OUTPUT_BANDS.map((b) => [b.name, readAll(file(result.layout.bands[b.name]!)).data]));
    const positions: [number, number][] = [];
    for (let j = 0; j < g.height; j++) {
      for (let i = 0; i < g.width; i++) positions.push(toUtm([g.transform[2] + (i + 0.5) * 10, g.transform[5] - (j + 0.5) * 10]));
    }
    return { bands, positions };
  }

  /** Masked discs as the mask grows them: flagged extent (20 m inside) + 50 m dilation. */
  const maskedDiscs = (s: SceneSpec): Disc[] => [
    ...(s.clouds ?? []).map((d) => ({ ...d, r: d.r - 20 + 50 })),
    ...(s.shadows ?? []).map((d) => ({ ...d, r: d.r - 20 + 50 })),
    ...(s.cirrus ?? []).map((d) => ({ ...d, r: d.r + 50 })),
  ];
  const days = () => {
    const byDay = new Map<string, SceneSpec[]>();
    for (const s of inPeriod) byDay.set(s.time.toISOString().slice(0, 10), [...(byDay.get(s.time.toISOString().slice(0, 10)) ?? []), s]);
    return [...byDay.values()];
  };

  /**
   * The count a pixel must have, or undefined when it lies within `margin` metres of a boundary
   * where the answer depends on resampling (mask and data edges, 20 m SCL pixels).
   */
  function expectedCount(e: number, n: number, margin = 30): number | undefined {
    let count = 0;
    for (const granules of days()) {
      let valid = false;
      for (const s of granules) {
        const near = (v: number | undefined) => v !== undefined && Math.abs(e - v) < margin;
        if (near(s.dataUntilE) || near(s.dataFromE)) return undefined;
        if (s.noData && Math.abs(e - s.noData.e0) < margin && n > s.noData.n0 - margin) return undefined;
        if (s.noData && Math.abs(n - s.noData.n0) < margin && e > s.noData.e0 - margin) return undefined;
        const masked = maskedDiscs(s);
        if (masked.some((d) => Math.abs(Math.hypot(e - d.e, n - d.n) - d.r) < margin)) return undefined;
        if (hasData(s, site.extent, e, n) && !masked.some((d) => Math.hypot(e - d.e, n - d.n) <= d.r)) valid = true;
      }
      if (valid) count++;
    }
    return count;
  }

  it("counts exactly the clear observations: clouds, shadows, cirrus (buffered) and nodata are left out, specks are not", () => {
    const { bands, positions } = outputPixels();
    let checked = 0;
    const wrong: string[] = [];
    positions.forEach(([e, n], p) => {
      const expected = expectedCount(e, n);
      if (expected === undefined) return;
      checked++;
      if (bands.COUNT![p] !== expected && wrong.length < 5) wrong.push(`pixel ${p} (${e.toFixed(0)}, ${n.toFixed(0)}): count ${bands.COUNT![p]}, expected ${expected}`);
    });
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(0.7 * positions.length);
  });

  it("matches the true surface within 1 % + 10 DN where at least three clear observations remain", () => {
    const { bands, positions } = outputPixels();
    const errors: number[] = [];
    let worst = { rel: 0, at: "" };
    positions.forEach(([e, n], p) => {
      const expected = expectedCount(e, n);
      if (expected === undefined || expected < 3) return;
      REFLECTANCE_BANDS.forEach((band, b) => {
        const want = truth(b, e, n) * 10_000;
        const got = bands[band.name]![p]!;
        const err = Math.abs(got - want);
        errors.push(err / want);
        if (err > 0.01 * want + 10 && err / want > worst.rel) worst = { rel: err / want, at: `${band.name} at (${e.toFixed(0)}, ${n.toFixed(0)}): ${got} vs ${want.toFixed(1)}` };
      });
    });
    errors.sort((a, b) => a - b);
    expect(worst.at).toBe("");
    expect(errors[Math.floor(errors.length / 2)]!).toBeLessThan(0.003);
  });

  it("keeps the persistent cloud out: its three clear days give the surface, not the cloud", () => {
    const { bands, positions } = outputPixels();
    const { persistent } = year;
    let inside = 0;
    positions.forEach(([e, n], p) => {
      if (Math.hypot(e - persistent.e, n - persistent.n) > persistent.r - 100) return;
      inside++;
      expect(bands.COUNT![p]).toBe(3);
      REFLECTANCE_BANDS.forEach((band, b) => {
        const want = truth(b, e, n) * 10_000;
        expect(Math.abs(bands[band.name]![p]! - want)).toBeLessThan(0.015 * want + 10);
      });
    });
    expect(inside).toBeGreaterThan(1000);
  });

  it("leaves nodata where no scene has data: 0 for bands and COUNT, NaN for the MADs", () => {
    const { bands, positions } = outputPixels();
    const { corner } = year;
    let inside = 0;
    positions.forEach(([e, n], p) => {
      if (e < corner.e0 + 60 || n < corner.n0 + 60) return;
      inside++;
      expect(bands.COUNT![p]).toBe(0);
      expect(bands.B02![p]).toBe(0);
      expect(bands.B12![p]).toBe(0);
      expect(bands.SMAD![p]).toBeNaN();
      expect(bands.EMAD![p]).toBeNaN();
      expect(bands.BCMAD![p]).toBeNaN();
    });
    expect(inside).toBeGreaterThan(1000);
  });

  it("writes MADs that describe the 1 % noise: small and finite where there is data", () => {
    const { bands } = outputPixels();
    const valid = Array.from(bands.COUNT!).map((c, p) => (c >= 3 ? p : -1)).filter((p) => p >= 0);
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    expect(median(valid.map((p) => bands.SMAD![p]!))).toBeLessThan(1e-3);
    expect(median(valid.map((p) => bands.BCMAD![p]!))).toBeLessThan(0.01);
    // EMAD is in DN: the euclidean distance of 10 bands with ~0.3 % noise of ~2 000 DN.
    expect(median(valid.map((p) => bands.EMAD![p]!))).toBeLessThan(60);
    expect(valid.every((p) => Number.isFinite(bands.EMAD![p]!))).toBe(true);
  });

  it("indexes the output as gm_s2_annual with lineage to its sources, found by a search over the tile", async () => {
    const ll = tileLonLatBounds(site.grid, site.task.tile);
    const found = await index.searchDatasets("gm_s2_annual", { lon: [ll.west, ll.east], lat: [ll.south, ll.north], time: ["2024-06-01", "2024-06-02"] });
    expect(found.map((d) => d.id)).toEqual([result.id]);
    expect(found[0]!.uris).toEqual([result.uri]);
    expect(Object.keys(found[0]!.metadata.measurements).sort()).toEqual(OUTPUT_BANDS.map((b) => b.name).sort());
    const doc = YAML.parse(fs.readFileSync(file(result.layout.eo3), "utf8")) as Eo3Document;
    expect(doc.lineage?.s2_l2a?.sort()).toEqual(inPeriod.map((s) => sceneId(s.name)).sort());
    expect(doc.properties["odc:region_code"]).toBe(`x${site.task.tile.x}y${site.task.tile.y}`);
    expect(doc.properties["eo:platform"]).toBe("sentinel-2a,sentinel-2b");
    expect(doc.properties["dtr:end_datetime"]).toBe("2024-12-31T23:59:59.999999Z");
    expect(() => prepEo3(doc)).not.toThrow();
    const stac = JSON.parse(fs.readFileSync(file(result.layout.stac), "utf8"));
    expect(stac.id).toBe(result.id);
    expect(stac.properties["proj:epsg"]).toBe(6933);
    expect(stac.properties["odc:lineage"].inputs).toHaveLength(inPeriod.length);
    expect(stac.assets.B04.href).toBe(`gm_s2_annual_x${site.task.tile.x}y${site.task.tile.y}_2024--P1Y_final_B04.tif`);
  });

  it("reports progress as stage, chunk of n, and a monotonic percent", () => {
    const reduce = events.filter((e) => e.stage === "reduce");
    expect(reduce.map((e) => e.chunk)).toEqual([1, 2, 3, 4]);
    expect(reduce.every((e) => e.of === 4)).toBe(true);
    expect(events.filter((e) => e.stage === "read")).toHaveLength(4);
    const percents = events.map((e) => e.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    // The last event lists what was written.
    expect(events.at(-1)).toEqual({
      stage: "done",
      chunk: 1,
      of: 1,
      percent: 100,
      outputs: {
        status: "done",
        id: result.id,
        uri: result.uri,
        stac: objects().uri(result.layout.stac),
        bands: Object.fromEntries(OUTPUT_BANDS.map((b) => [b.name, objects().uri(result.layout.bands[b.name]!)])),
        indexed: true,
      },
    });
    const stages = events.map((e) => e.stage).filter((stage, i, all) => stage !== all[i - 1]);
    expect(stages[0]).toBe("plan");
    expect(stages.slice(-3)).toEqual(["write", "index", "done"]);
    expect(new Set(stages.slice(1, -3))).toEqual(new Set(["read", "reduce"]));
  });

  it("does nothing on a rerun of the finished task, and recomputes everything with overwrite", async () => {
    const mtimes = () => Object.fromEntries([...Object.values(result.layout.bands), result.layout.stac, result.layout.eo3].map((k) => [k, fs.statSync(file(k)).mtimeMs]));
    const before = mtimes();
    const b04 = readAll(file(result.layout.bands.B04!)).data;
    server.reset();
    const again: Progress[] = [];
    const rerun = await runGeomedianTask({ ...options(), onProgress: (p) => again.push(p) });
    expect(rerun.status).toBe("skipped");
    expect(rerun.id).toBe(result.id);
    expect(again).toEqual([{ stage: "skipped", chunk: 1, of: 1, percent: 100, outputs: expect.objectContaining({ status: "skipped", id: result.id, uri: result.uri, indexed: true }) }]);
    expect(server.requests).toHaveLength(0);
    expect(mtimes()).toEqual(before);

    const overwritten = await runGeomedianTask({ ...options(), overwrite: true });
    expect(overwritten.status).toBe("done");
    expect(overwritten.id).toBe(result.id);
    const after = mtimes();
    for (const key of Object.keys(before)) expect(after[key], key).toBeGreaterThan(before[key]!);
    // Same sources, same chunks: the same pixels.
    expect(readAll(file(result.layout.bands.B04!)).data).toEqual(b04);
    const ll = tileLonLatBounds(site.grid, site.task.tile);
    expect(await index.countDatasets("gm_s2_annual", { lon: [ll.west, ll.east], lat: [ll.south, ll.north] })).toBe(1);
  });

  describe("stopped by a signal (SIGTERM from a cancel or a node drain)", () => {
    const stopped = (prefix: string) => {
      const scratchDir = fs.mkdtempSync(path.join(dir, "scratch-"));
      const folder = path.join(objectsRoot, "piksel-test-data", prefix);
      return { scratchDir, folder, files: () => (fs.existsSync(folder) ? fs.readdirSync(folder, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name) : []) };
    };

    it("while reading: rejects CANCELLED at once, removes its scratch files, writes nothing", async () => {
      const { scratchDir, files } = stopped("cancelled-read");
      const controller = new AbortController();
      const seen: Progress[] = [];
      const started = Date.now();
      const runP = runGeomedianTask({
        ...options(),
        prefix: "cancelled-read",
        scratchDir,
        signal: controller.signal,
        onProgress: (p) => {
          seen.push(p);
          if (p.stage === "read") controller.abort(cancelledBy("SIGTERM"));
        },
      });
      await expect(runP).rejects.toMatchObject({ code: "CANCELLED", exitCode: 143 });
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(seen.filter((p) => p.stage === "reduce")).toHaveLength(0);
      expect(seen.some((p) => p.stage === "done")).toBe(false);
      expect(fs.readdirSync(scratchDir)).toEqual([]);
      expect(files()).toEqual([]);
    });

    it("while uploading: deletes the bands already uploaded, so no partial output is left", async () => {
      const { scratchDir, files } = stopped("cancelled-write");
      const controller = new AbortController();
      const base = objects();
      const uploaded: string[] = [];
      const counting = {
        ...base,
        put: async (...args: Parameters<typeof base.put>) => {
          await base.put(...args);
          uploaded.push(args[0]);
          // The third band's upload is in flight when the signal comes.
          if (uploaded.filter((k) => k.endsWith(".tif")).length === 3) controller.abort(cancelledBy("SIGTERM"));
        },
      };
      await expect(runGeomedianTask({ ...options(), objects: counting, prefix: "cancelled-write", scratchDir, signal: controller.signal })).rejects.toMatchObject({ code: "CANCELLED" });
      expect(uploaded.filter((k) => k.endsWith(".tif"))).toHaveLength(3);
      expect(files()).toEqual([]);
      expect(fs.readdirSync(scratchDir)).toEqual([]);
    });
  });
});
