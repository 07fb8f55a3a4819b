import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import gdal from "gdal-async";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tileBounds } from "~/lib/grid";
import type { IndexPort } from "~/server/drivers/index";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import { createLocalObjects } from "~/server/drivers/objects/local";
import { runGeomedianTask, type GeomedianTaskResult } from "~/worker/run";
import { createTestDatabase } from "../../support/databases";
import { startRangeServer, type RangeServer } from "../../support/range-server";
import { prepareIndex, sceneDataset, testSite, writeScene, yearOfScenes } from "../../integration/worker-fixtures";
import { ensureDatacubePython, VENV_DIR, writeDatacubeConfig } from "./datacube-python";

// The one switch for machines without Python or PyPI; anywhere else a missing reference is a failure.
const SKIP = process.env.PIKSEL_SKIP_PYTHON_REFERENCE === "1";
const run = promisify(execFile);

interface Loaded {
  dtype: string;
  shape: number[];
  sum: number;
  nodata: number;
  samples: (number | null)[];
}
interface Answer {
  datasets: { id: string; uris: string[]; measurements: string[]; crs: string; region_code: string; sources: number; time: string }[];
  loaded: Record<string, Loaded>;
}

/** The same figures as worker_output_reference.py, from the COG itself. */
function figures(file: string): Loaded {
  const ds = gdal.open(file);
  const band = ds.bands.get(1);
  const { x, y } = ds.rasterSize;
  const data = band.pixels.read(0, 0, x, y) as Float32Array | Uint16Array;
  const nodata = band.noDataValue;
  const invalid = (v: number) => (Number.isNaN(nodata ?? 0) ? Number.isNaN(v) : v === nodata);
  let sum = 0;
  let count = 0;
  for (const v of data) {
    if (invalid(v)) count++;
    else sum += v;
  }
  const samples = [[0, 0], [100, 200], [300, 50], [511, 511]].map(([r, c]) => (invalid(data[r! * x + c!]!) ? null : data[r! * x + c!]!));
  const dtype = band.dataType === "UInt16" ? "uint16" : "float32";
  ds.close();
  return { dtype, shape: [y, x], sum, nodata: count, samples };
}

describe.skipIf(SKIP)("datacube 1.8 reads the geomedian worker's output", () => {
  const site = testSite();
  const year = yearOfScenes(site);
  let dir: string;
  let server: RangeServer;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let index: IndexPort;
  let result: GeomedianTaskResult;
  let answer: Answer;

  beforeAll(async () => {
    await ensureDatacubePython();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-worker-reference-"));
    await Promise.all(year.scenes.map((s) => writeScene(path.join(dir, "scenes"), s, site.extent)));
    server = await startRangeServer(path.join(dir, "scenes"));
    db = await createTestDatabase("worker_reference");
    index = createPostgresIndex(db.url);
    await prepareIndex(index, year.scenes.map((s) => sceneDataset(s, site.extent, server.url)));
    result = await runGeomedianTask({
      env: "reference",
      index,
      objects: createLocalObjects({ root: path.join(dir, "objects"), bucket: "piksel-reference-data" }),
      prefix: "derived",
      grid: site.grid,
      task: site.task,
      threads: 2,
    });
    const config = writeDatacubeConfig(path.join(dir, "datacube.conf"), db.url);
    const b = tileBounds(site.grid, site.task.tile);
    // Half a pixel inside the tile, so that datacube's geobox is exactly the tile's 512 x 512 pixels.
    const args = [String(b.left + 5), String(b.right - 5), String(b.bottom + 5), String(b.top - 5)];
    const { stdout } = await run(path.join(VENV_DIR, "bin", "python"), [path.join(import.meta.dirname, "worker_output_reference.py"), "--config", config, "gm_s2_annual", ...args, "B04", "COUNT", "SMAD"], { maxBuffer: 64 * 1024 * 1024 });
    answer = JSON.parse(stdout) as Answer;
  }, 900_000);

  afterAll(async () => {
    await index?.close();
    await db?.drop();
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("finds the dataset with its location, every measurement of the product, the grid CRS and its lineage", () => {
    expect(answer.datasets).toHaveLength(1);
    const [ds] = answer.datasets;
    expect(ds!.id).toBe(result.id);
    expect(ds!.uris).toEqual([result.uri]);
    expect(ds!.measurements).toEqual(["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B11", "B12", "B8A", "BCMAD", "COUNT", "EMAD", "SMAD"]);
    expect(ds!.crs.toLowerCase()).toBe("epsg:6933");
    expect(ds!.region_code).toBe(`x${site.task.tile.x}y${site.task.tile.y}`);
    expect(ds!.sources).toBe(year.scenes.filter((s) => s.time.getUTCFullYear() === 2024 && s.footprint === undefined).length);
  });

  it("loads the same pixels as the COGs hold (uint16 reflectance and COUNT, float32 SMAD with NaN)", () => {
    for (const band of ["B04", "COUNT", "SMAD"]) {
      const ours = figures(path.join(dir, "objects", "piksel-reference-data", result.layout.bands[band]!));
      const theirs = answer.loaded[band]!;
      expect(theirs.dtype, band).toBe(ours.dtype);
      expect(theirs.shape, band).toEqual(ours.shape);
      expect(theirs.nodata, band).toBe(ours.nodata);
      expect(theirs.sum, band).toBeCloseTo(ours.sum, band === "SMAD" ? 2 : 6);
      theirs.samples.forEach((v, i) => (v === null ? expect(ours.samples[i], band).toBeNull() : expect(v, band).toBeCloseTo(ours.samples[i]!, 6)));
    }
  });
});
