import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import gdal from "gdal-async";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reflectanceOffset, stacToEo3 } from "~/features/indexing/stac-to-eo3";
import { transformer } from "~/server/odc/crs";
import { BAND_KEYS, normalizeOptions, openSampleArchive, planScenes, planTiles, REFLECTANCE_BANDS, SCENE_FILES, SCL_THRESHOLDS, type SampleArchive, type SampleOptionsInput, type Scene } from "~/server/embedded/samples";

// Small tiles (6 km, 600 px at 10 m) over the dev scope, two months of 2024 and a few 2021 dates on
// both sides of baseline 03.00, with the swath edge crossing the area so some scenes lack data.
const OPTIONS: SampleOptionsInput = {
  seed: 7,
  area: [106.74, -6.56, 106.8, -6.5],
  tileSize: 600,
  periods: [
    { start: "2024-01-01", end: "2024-02-29", everyDays: 5 },
    { start: "2021-05-01", end: "2021-07-20", everyDays: 20 },
  ],
  swathEdge: { lon: 106.775, lat: -6.53, tiltDegrees: 10, overlap: 1500, secondaryDelayDays: 2 },
  blockSize: 256,
};
const URLS = { stac: "http://stac.test/v1", files: "http://files.test/files" };
const VALIDATOR = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py";

let tmp: string;
let archive: SampleArchive;
/** The scenes written in beforeAll: a spread of weather, coverage and baselines. */
let chosen: { cloudy: Scene; clear: Scene; edge: Scene; old: Scene; older: Scene };

function readBand(file: string): { data: Uint16Array | Uint8Array; width: number; height: number; transform: number[] } {
  const ds = gdal.open(file);
  try {
    const band = ds.bands.get(1);
    const { x, y } = ds.rasterSize;
    return { data: band.pixels.read(0, 0, x, y) as Uint16Array | Uint8Array, width: x, height: y, transform: ds.geoTransform as number[] };
  } finally {
    ds.close();
  }
}

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-samples-"));
  archive = openSampleArchive({ cacheDir: path.join(tmp, "a"), options: OPTIONS, concurrency: 2 });
  const recent = archive.scenes.filter((s) => s.date >= "2024-01-01");
  const full = recent.filter((s) => s.dataCoverage === 1);
  // Cirrus veils whole small tiles at once (its streaks are tens of km long): scenes meant to show
  // clear ground are picked without it.
  const noCirrus = (s: Scene) => s.weather.cirrus === 0;
  const cloudy = full.find((s) => noCirrus(s) && s.weather.cover > 0.3 && s.weather.cover < 0.7);
  const clear = full.find((s) => noCirrus(s) && s.weather.cover === 0);
  const edge = recent.find((s) => s.dataCoverage < 0.9 && s.weather.cover < 0.5);
  const old = archive.scenes.find((s) => noCirrus(s) && s.weather.cover < 0.6 && s.baseline === "03.00");
  const older = archive.scenes.find((s) => noCirrus(s) && s.weather.cover < 0.6 && s.baseline === "02.14");
  if (!cloudy || !clear || !edge || !old || !older) throw new Error("the test options no longer give the scene mix this suite needs");
  chosen = { cloudy, clear, edge, old, older };
  await archive.generate({ ids: Object.values(chosen).map((s) => s.id) });
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("sample catalogue", () => {
  it("by default covers the embedded environments' scopes with a year of 2024 scenes and a 2021 set in dev", () => {
    const options = normalizeOptions();
    const tiles = planTiles(options);
    const scenes = planScenes(options, tiles);
    const toUtm = transformer("EPSG:4326", "EPSG:32748");
    const scopes = { dev: [106.7, -6.6, 106.85, -6.45], staging: [106.6, -6.7, 107.0, -6.3], prod: [106.5, -6.8, 107.1, -6.2] };
    for (const [env, [w, s, e, n]] of Object.entries(scopes) as [string, number[]][]) {
      for (let i = 0; i <= 10; i++) {
        for (let j = 0; j <= 10; j++) {
          const [x, y] = toUtm([w! + ((e! - w!) * i) / 10, s! + ((n! - s!) * j) / 10]);
          const covering = tiles.filter((t) => x >= t.ulx && x <= t.ulx + t.size * 10 && y <= t.uly && y >= t.uly - t.size * 10);
          expect(covering.length, `${env} point ${i},${j}`).toBeGreaterThan(0);
          // Some tile over every point has an acquisition at least every 5 days of 2024.
          const dates = new Set(scenes.filter((sc) => covering.includes(sc.tile) && sc.date.startsWith("2024")).map((sc) => sc.date));
          expect(dates.size, `${env} point ${i},${j}`).toBeGreaterThanOrEqual(73);
        }
      }
    }
    expect(tiles.every((t) => t.size === 1098)).toBe(true);
    const dev2021 = scenes.filter((sc) => sc.date.startsWith("2021"));
    expect(new Set(dev2021.map((sc) => sc.baseline))).toEqual(new Set(["02.14", "03.00"]));
    expect(new Set(scenes.filter((sc) => sc.date.startsWith("2024")).map((sc) => sc.baseline))).toEqual(new Set(["05.10"]));
  });

  it("covers the area with MGRS-like tiles in UTM 48S and plans both processing baselines", () => {
    expect(archive.tiles.length).toBeGreaterThanOrEqual(4);
    for (const t of archive.tiles) {
      expect(t.code).toMatch(/^48M[S-Z][A-HJ-NP-V]$/);
      expect(t.epsg).toBe(32748);
    }
    const baselines = new Set(archive.scenes.map((s) => s.baseline));
    expect(baselines).toEqual(new Set(["05.10", "03.00", "02.14"]));
    for (const s of archive.scenes) {
      expect(s.id).toMatch(new RegExp(`^S2[AB]_${s.tile.code}_${s.date.replace(/-/g, "")}_0_L2A$`));
      const d = new Date(s.datetime);
      expect(s.dir).toBe(`sentinel-s2-l2a-cogs/48/M/${s.tile.gridSquare}/${d.getUTCFullYear()}/${d.getUTCMonth() + 1}/${s.id}`);
      expect(s.offsetDn).toBe(s.date >= "2022-01-25" ? 1000 : 0);
    }
  });

  it("gives the tiles east of the swath edge a second orbit and clips footprints at the edge", () => {
    const orbits = new Set(archive.scenes.map((s) => s.orbit));
    expect(orbits).toEqual(new Set(["primary", "secondary"]));
    expect(archive.scenes.some((s) => s.dataCoverage < 1)).toBe(true);
    for (const s of archive.scenes) {
      const item = archive.item(s.id, URLS);
      const ring = (item.geometry as { coordinates: number[][][] }).coordinates[0] as number[][];
      expect(ring.length).toBeGreaterThanOrEqual(4);
      expect(ring[0]).toEqual(ring[ring.length - 1]);
    }
  });

  it("makes items that stacToEo3 converts, on the right tile, date and offset rule", () => {
    for (const s of archive.scenes) {
      for (const form of ["api", "bucket"] as const) {
        const item = archive.item(s.id, URLS, form);
        const { document, uri } = stacToEo3(item);
        expect(document.properties["odc:region_code"]).toBe(s.tile.code);
        expect(document.properties.datetime).toBe(`${s.datetime.slice(0, 23)}000Z`);
        expect(document.crs).toBe("EPSG:32748");
        expect(document.grids.default?.transform.slice(0, 6)).toEqual([10, 0, s.tile.ulx, 0, -10, s.tile.uly]);
        expect(document.grids.g20m?.shape).toEqual([300, 300]);
        expect(document.grids.g60m?.shape).toEqual([100, 100]);
        expect(Object.keys(document.measurements).sort()).toEqual([...BAND_KEYS, "aot", "scl", "visual", "wvp"].sort());
        expect(uri).toBe(`${URLS.files}/${s.dir}/${s.id}.json`);
        expect(reflectanceOffset(item.properties as Record<string, unknown>)).toBe(s.offsetDn ? -0.1 : 0);
        // Projected footprint inside the tile.
        const w = s.tile.size * 10;
        for (const [x, y] of (document.geometry as { coordinates: number[][][] }).coordinates[0] as number[][]) {
          expect(x).toBeGreaterThanOrEqual(s.tile.ulx - 1);
          expect(x).toBeLessThanOrEqual(s.tile.ulx + w + 1);
          expect(y).toBeGreaterThanOrEqual(s.tile.uly - w - 1);
          expect(y).toBeLessThanOrEqual(s.tile.uly + 1);
        }
      }
    }
  });

  it("describes the DNs in raster:bands: offset -0.1 from baseline 04.00, none before", () => {
    const recent = archive.item(chosen.clear.id, URLS) as { properties: Record<string, unknown>; assets: Record<string, { "raster:bands": { offset: number; scale: number }[] }> };
    const old = archive.item(chosen.old.id, URLS) as typeof recent;
    expect(recent.properties["earthsearch:boa_offset_applied"]).toBe(false);
    expect(recent.properties["s2:processing_baseline"]).toBe("05.10");
    expect(recent.properties["s2:product_uri"]).toMatch(/_N0510_R\d{3}_T48M/);
    expect(recent.assets.red?.["raster:bands"][0]).toMatchObject({ scale: 0.0001, offset: -0.1 });
    expect(old.assets.red?.["raster:bands"][0]).toMatchObject({ scale: 0.0001, offset: 0 });
    expect(recent.assets.aot?.["raster:bands"][0]).toMatchObject({ scale: 0.001, offset: 0 });
  });

  it("is deterministic: same options, same hash and item JSON; another seed, another archive", () => {
    const again = openSampleArchive({ cacheDir: path.join(tmp, "b"), options: OPTIONS });
    expect(again.hash).toBe(archive.hash);
    expect(JSON.stringify(again.items(URLS))).toBe(JSON.stringify(archive.items(URLS)));
    const other = openSampleArchive({ cacheDir: path.join(tmp, "c"), options: { ...OPTIONS, seed: 8 } });
    expect(other.hash).not.toBe(archive.hash);
    expect(other.scenes.map((s) => s.id)).toEqual(archive.scenes.map((s) => s.id));
    expect(JSON.stringify(other.items(URLS))).not.toBe(JSON.stringify(archive.items(URLS)));
  });
});

describe("sample scenes", () => {
  it("writes every file of a scene, and the COGs pass GDAL's validator with --full-check", () => {
    for (const scene of [chosen.cloudy, chosen.edge, chosen.older]) {
      const dir = path.join(archive.root, scene.dir);
      expect(fs.readdirSync(dir).sort()).toEqual([...SCENE_FILES].sort());
      for (const name of SCENE_FILES.filter((f) => f.endsWith(".tif"))) {
        const run = spawnSync("/usr/bin/python3", [VALIDATOR, "--full-check=yes", path.join(dir, name)], { encoding: "utf8" });
        expect(run.status, `${scene.id}/${name}: ${run.stdout}${run.stderr}`).toBe(0);
        expect(run.stdout).toContain("is a valid cloud optimized GeoTIFF");
      }
    }
  });

  it("lays each band out on its native grid: uint16, nodata 0, tiled, compressed, with overviews", () => {
    const dir = path.join(archive.root, chosen.cloudy.dir);
    for (const b of REFLECTANCE_BANDS) {
      const ds = gdal.open(path.join(dir, `${b.file}.tif`));
      const band = ds.bands.get(1);
      expect(ds.rasterSize.x).toBe(6000 / b.res);
      expect(ds.geoTransform).toEqual([chosen.cloudy.tile.ulx, b.res, 0, chosen.cloudy.tile.uly, 0, -b.res]);
      expect(ds.srs?.getAuthorityCode()).toBe("32748");
      expect(band.dataType).toBe("UInt16");
      expect(band.noDataValue).toBe(0);
      expect(band.blockSize).toEqual({ x: 256, y: 256 });
      expect(ds.getMetadata("IMAGE_STRUCTURE").COMPRESSION).toBe("DEFLATE");
      // The COG driver halves until the smallest overview fits in one block.
      expect(band.overviews.count()).toBe(Math.max(0, Math.ceil(Math.log2(ds.rasterSize.x / 256))));
      ds.close();
    }
  });

  it("writes SCL exactly as the scene's masks classify it", () => {
    for (const scene of Object.values(chosen)) {
      const scl = readBand(path.join(archive.root, scene.dir, "SCL.tif")).data;
      const masks = archive.sceneMasks(scene.id, 20);
      expect(Buffer.from(scl).equals(Buffer.from(masks.scl))).toBe(true);
      let wrong = 0;
      for (let p = 0; p < scl.length; p++) {
        const c = scl[p] as number;
        const expected = !masks.valid[p]
          ? [0]
          : (masks.cloud[p] as number) > SCL_THRESHOLDS.cloudHigh
            ? [9]
            : (masks.cloud[p] as number) > SCL_THRESHOLDS.cloudMedium
              ? [8]
              : (masks.shadow[p] as number) > SCL_THRESHOLDS.shadow
                ? [3]
                : (masks.cirrus[p] as number) > SCL_THRESHOLDS.cirrus
                  ? [10]
                  : [4, 5, 6];
        if (!expected.includes(c)) wrong++;
      }
      expect(wrong, scene.id).toBe(0);
    }
    const cloudy = archive.sceneMasks(chosen.cloudy.id, 20).scl;
    const count = (c: number) => cloudy.filter((v) => v === c).length;
    expect(count(9)).toBeGreaterThan(0);
    expect(count(3)).toBeGreaterThan(0);
    expect(count(4) + count(5) + count(6)).toBeGreaterThan(0);
  });

  it("leaves no data outside the swath: every band 0 where the orbit did not see", () => {
    const scene = chosen.edge;
    for (const b of REFLECTANCE_BANDS) {
      const { data } = readBand(path.join(archive.root, scene.dir, `${b.file}.tif`));
      const masks = archive.sceneMasks(scene.id, b.res);
      let nodata = 0;
      let wrong = 0;
      for (let p = 0; p < data.length; p++) {
        if (!masks.valid[p]) nodata++;
        if ((data[p] === 0) !== !masks.valid[p]) wrong++;
      }
      expect(nodata, b.key).toBeGreaterThan(0);
      expect(wrong, b.key).toBe(0);
    }
    expect((archive.item(scene.id, URLS).properties as Record<string, number>)["s2:nodata_pixel_percentage"]).toBeGreaterThan(0);
  });

  it("recovers the true surface on clear pixels within the noise, for both baselines and all grids", () => {
    const sigma = archive.options.noise;
    for (const scene of [chosen.cloudy, chosen.clear, chosen.old, chosen.older]) {
      const props = archive.item(scene.id, URLS).properties as Record<string, unknown>;
      const offset = reflectanceOffset(props);
      for (const key of ["red", "nir", "swir16", "coastal"] as const) {
        const info = REFLECTANCE_BANDS.find((b) => b.key === key)!;
        const { data } = readBand(path.join(archive.root, scene.dir, `${info.file}.tif`));
        const truth = archive.trueSurface(scene.tile.code, key);
        const masks = archive.sceneMasks(scene.id, info.res);
        let n = 0;
        let sum = 0;
        let sumSq = 0;
        let worst = 0;
        for (let p = 0; p < data.length; p++) {
          if (!masks.clear[p]) continue;
          const err = (data[p] as number) * 0.0001 + offset - (truth[p] as number);
          n++;
          sum += err;
          sumSq += err * err;
          worst = Math.max(worst, Math.abs(err));
        }
        expect(n, `${scene.id} ${key}: clear pixels`).toBeGreaterThan(100);
        const mean = sum / n;
        const sd = Math.sqrt(sumSq / n - mean * mean);
        expect(Math.abs(mean), `${scene.id} ${key} bias`).toBeLessThan(4 * (sigma / Math.sqrt(n)) + 0.00005);
        // Quantisation to 1e-4 adds ~2.9e-5 of spread; the table-driven normal ends near 3.5 sigma.
        expect(sd).toBeGreaterThan(0.9 * sigma);
        expect(sd).toBeLessThan(1.1 * sigma);
        expect(worst).toBeLessThan(4 * sigma + 0.0001);
      }
    }
  });

  it("makes clouds bright and shadows dark where the masks say so", () => {
    const scene = chosen.cloudy;
    const { data } = readBand(path.join(archive.root, scene.dir, "B08.tif"));
    const truth = archive.trueSurface(scene.tile.code, "nir");
    const masks = archive.sceneMasks(scene.id, 10);
    let cloudy = 0;
    let dimClouds = 0;
    let shaded = 0;
    let brightShadows = 0;
    for (let p = 0; p < data.length; p++) {
      const observed = (data[p] as number) * 0.0001 - 0.1;
      if ((masks.cloud[p] as number) === 1) {
        cloudy++;
        if (observed <= 0.3) dimClouds++;
      }
      if ((masks.shadow[p] as number) === 1 && masks.cloud[p] === 0 && masks.cirrus[p] === 0) {
        shaded++;
        if (observed >= 0.4 * (truth[p] as number) + 4 * archive.options.noise) brightShadows++;
      }
    }
    expect(cloudy).toBeGreaterThan(100);
    expect(shaded).toBeGreaterThan(100);
    expect(dimClouds).toBe(0);
    expect(brightShadows).toBe(0);
  });

  it("serves windows of the truth and of the masks equal to the same pixels of the whole tile", () => {
    const tile = chosen.cloudy.tile.code;
    const whole = archive.trueSurface(tile, "swir22");
    const window = { col: 37, row: 101, width: 50, height: 20 };
    const part = archive.trueSurface(tile, "swir22", 20, window);
    for (let r = 0; r < window.height; r++) for (let c = 0; c < window.width; c++) expect(part[r * window.width + c]).toBe(whole[(window.row + r) * 300 + window.col + c]);
    // A 20 m pixel's truth is the mean of the 10 m truth it covers.
    const fine = archive.trueSurface(tile, "swir22", 10, { col: 74, row: 202, width: 2, height: 2 });
    expect(part[0]).toBeCloseTo((fine[0]! + fine[1]! + fine[2]! + fine[3]!) / 4, 6);
    const masks = archive.sceneMasks(chosen.cloudy.id, 10);
    const partMasks = archive.sceneMasks(chosen.cloudy.id, 10, window);
    for (let r = 0; r < window.height; r++) {
      for (let c = 0; c < window.width; c++) {
        expect(partMasks.cloud[r * window.width + c]).toBe(masks.cloud[(window.row + r) * 600 + window.col + c]);
        expect(partMasks.clear[r * window.width + c]).toBe(masks.clear[(window.row + r) * 600 + window.col + c]);
      }
    }
  });

  it("evaluates the truth and the masks on any grid, e.g. a geomedian tile in EPSG:6933", () => {
    const scene = chosen.cloudy;
    const t = scene.tile;
    // The tile's own 10 m grid, given as a target grid in its CRS: the same truth as the tile window.
    const window = { col: 200, row: 300, width: 40, height: 30 };
    const grid = { crs: "EPSG:32748", x0: t.ulx + window.col * 10, y0: t.uly - window.row * 10, res: 10, width: window.width, height: window.height };
    const onGrid = archive.trueSurfaceAt("nir", grid);
    const tileWindow = archive.trueSurface(t.code, "nir", 10, window);
    for (let p = 0; p < onGrid.length; p++) expect(onGrid[p]).toBeCloseTo(tileWindow[p] as number, 6);
    const masks = archive.sceneMasksAt(scene.id, grid);
    const tileMasks = archive.sceneMasks(scene.id, 10, window);
    let worst = 0;
    for (let p = 0; p < onGrid.length; p++) worst = Math.max(worst, Math.abs((masks.cloud[p] as number) - (tileMasks.cloud[p] as number)), Math.abs((masks.shadow[p] as number) - (tileMasks.shadow[p] as number)));
    expect(worst).toBeLessThan(0.02);

    // An equal-area grid (odc-stats' EPSG:6933) over the tile: each pixel's truth is the truth at its
    // centre, wherever that falls.
    const toEase = transformer("EPSG:32748", "EPSG:6933");
    const [ex, ey] = toEase([t.ulx + 1000, t.uly - 1000]);
    const ease = { crs: "EPSG:6933", x0: Math.round(ex), y0: Math.round(ey), res: 10, width: 50, height: 50 };
    const truth = archive.trueSurfaceAt("red", ease);
    const back = transformer("EPSG:6933", "EPSG:32748");
    const xs: number[] = [];
    const ys: number[] = [];
    for (let p = 0; p < 2500; p++) {
      const [x, y] = back([ease.x0 + ((p % 50) + 0.5) * 10, ease.y0 - (Math.floor(p / 50) + 0.5) * 10]);
      xs.push(x);
      ys.push(y);
    }
    const same = archive.trueSurfaceAt("red", { crs: "EPSG:32748", xs, ys });
    for (let p = 0; p < 2500; p++) expect(truth[p]).toBeCloseTo(same[p] as number, 6);
    expect(Math.min(...truth)).toBeGreaterThan(0.005);
    expect(Math.max(...truth)).toBeLessThan(0.3);
  });

  it("writes byte-identical files for the same options, whatever else was generated before", async () => {
    const again = openSampleArchive({ cacheDir: path.join(tmp, "d"), options: OPTIONS, concurrency: 1 });
    await again.ensureScene(chosen.edge.id);
    for (const name of SCENE_FILES) expect(sha256(path.join(again.root, chosen.edge.dir, name)), name).toBe(sha256(path.join(archive.root, chosen.edge.dir, name)));
  });

  it("reuses a written scene and writes one scene once however many ask at the same time", async () => {
    const dir = path.join(archive.root, chosen.clear.dir);
    const before = fs.statSync(path.join(dir, "B04.tif")).mtimeMs;
    expect(await archive.ensureScene(chosen.clear.id)).toBe(dir);
    expect(fs.statSync(path.join(dir, "B04.tif")).mtimeMs).toBe(before);
    const next = archive.scenes.find((s) => !fs.existsSync(path.join(archive.root, s.dir)))!;
    const dirs = await Promise.all([archive.ensureScene(next.id), archive.ensureScene(next.id), archive.ensureScene(next.id)]);
    expect(new Set(dirs).size).toBe(1);
    expect(fs.readdirSync(path.join(archive.root, ".partial"))).toEqual([]);
    const result = await archive.generate({ ids: [next.id, chosen.clear.id] });
    expect(result).toMatchObject({ scenes: 2, written: 0 });
  });
});
