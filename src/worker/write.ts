import fs from "node:fs/promises";
import path from "node:path";
import gdal from "gdal-async";
import type { Geobox, PixelWindow } from "~/lib/grid";
import { abortReason, untilAborted } from "./abort";
import { WorkerError } from "./errors";
import { gdalMessage } from "./gdal";
import type { OutputBand } from "./layout";

/**
 * Write: the tile's bands as Cloud Optimized GeoTIFFs, built chunk by chunk without holding the
 * tile in memory. Each chunk's results go into one tiled, uncompressed, sparse scratch GeoTIFF per
 * band (blocks never written read back as nodata); at the end GDAL's COG driver copies each into a
 * COG: DEFLATE with the predictor, 512-pixel blocks, AVERAGE overviews (odc-stats' COG settings,
 * `TaskRunnerConfig.default_cog_settings` and `io.py` `DEFAULT_COG_OPTS`, are deflate, 512 to 800
 * pixel blocks, average overviews). Scratch disk: 2 bytes per pixel per uint16 band and 4 per
 * float32 band, about 3.1 GB for a 96 km tile at 10 m.
 */

// Scratch blocks: small enough that a chunk's edge rewrites little, large enough to keep the
// block index small (a 9 600 px tile has 38 x 38 of them).
const SCRATCH_BLOCK = 256;

/** COG block size for a tile: 512 (odc-stats' default), smaller for small tiles so that they still get an overview level. */
export function cogBlockSize(tilePixels: number): number {
  let size = 512;
  while (size > 128 && tilePixels < 2 * size) size /= 2;
  return size;
}

const gdalType = (t: OutputBand["type"]) => (t === "UInt16" ? gdal.GDT_UInt16 : gdal.GDT_Float32);

/** One band's scratch raster. */
interface Scratch {
  band: OutputBand;
  file: string;
  dataset: gdal.Dataset;
}

export class TileWriter {
  private constructor(
    private readonly geobox: Geobox,
    private readonly scratch: Map<string, Scratch>,
  ) {}

  /** Creates the scratch rasters under `dir` (which must exist). */
  static async create(dir: string, geobox: Geobox, bands: readonly OutputBand[]): Promise<TileWriter> {
    const scratch = new Map<string, Scratch>();
    const [a, b, c, d, e, f] = geobox.transform;
    const epsg = Number(/^epsg:(\d+)$/i.exec(geobox.crs)?.[1]);
    try {
      for (const band of bands) {
        const file = path.join(dir, `scratch_${band.name}.tif`);
        const dataset = await gdal.openAsync(file, "w", "GTiff", geobox.width, geobox.height, 1, gdalType(band.type), [
          "TILED=YES",
          `BLOCKXSIZE=${SCRATCH_BLOCK}`,
          `BLOCKYSIZE=${SCRATCH_BLOCK}`,
          "SPARSE_OK=TRUE",
          "BIGTIFF=IF_SAFER",
        ]);
        dataset.geoTransform = [c, a, b, f, d, e];
        dataset.srs = gdal.SpatialReference.fromEPSG(epsg);
        dataset.bands.get(1).noDataValue = band.nodata;
        scratch.set(band.name, { band, file, dataset });
      }
    } catch (err) {
      for (const s of scratch.values()) s.dataset.close();
      throw new WorkerError("WRITE_FAILED", `cannot create scratch rasters in ${dir}: ${gdalMessage(err)}`, { cause: err });
    }
    return new TileWriter(geobox, scratch);
  }

  /** Writes one chunk's values (band name -> pixels of the window, row-major). */
  async write(window: PixelWindow, values: Record<string, Uint16Array | Float32Array>): Promise<void> {
    await Promise.all(
      Object.entries(values).map(async ([name, data]) => {
        const s = this.scratch.get(name);
        if (!s) throw new RangeError(`no output band ${name}`);
        try {
          await s.dataset.bands.get(1).pixels.writeAsync(window.col, window.row, window.width, window.height, data);
        } catch (err) {
          throw new WorkerError("WRITE_FAILED", `cannot write band ${name} to ${s.file}: ${gdalMessage(err)}`, { cause: err });
        }
      }),
    );
  }

  /**
   * Turns every scratch raster into a COG under `outDir`, named by `files` (band -> file name), and
   * hands each to `onBand` as soon as it is written (the caller uploads it and may delete it, so that
   * the scratch disk never holds every COG at once). `signal` stops it between bands, and while GDAL
   * writes a COG (which only touches `outDir`; the translation itself goes on unobserved).
   */
  async finish(outDir: string, files: Record<string, string>, onBand: (band: string, cog: string, done: number, of: number) => Promise<void>, signal?: AbortSignal): Promise<void> {
    const block = cogBlockSize(Math.min(this.geobox.width, this.geobox.height));
    const of = this.scratch.size;
    let done = 0;
    for (const s of this.scratch.values()) {
      const file = files[s.band.name];
      if (!file) throw new RangeError(`no file name for band ${s.band.name}`);
      const target = path.join(outDir, file);
      if (signal?.aborted) throw abortReason(signal);
      try {
        await s.dataset.flushAsync();
        s.dataset.close();
        const source = await gdal.openAsync(s.file);
        try {
          const translation = gdal.translateAsync(target, source, [
            "-of", "COG",
            "-co", "COMPRESS=DEFLATE",
            "-co", "LEVEL=6",
            "-co", "PREDICTOR=YES",
            "-co", `BLOCKSIZE=${block}`,
            "-co", "OVERVIEW_RESAMPLING=AVERAGE",
            "-co", "NUM_THREADS=ALL_CPUS",
            "-co", "BIGTIFF=IF_SAFER",
          ]);
          const cog = await untilAborted(translation, signal);
          cog.close();
        } finally {
          // A translation given up on still reads the source: closing it would block the event loop
          // until the translation ends (gdal-async locks each dataset).
          if (!signal?.aborted) source.close();
        }
        await fs.rm(s.file, { force: true });
      } catch (err) {
        if (signal?.aborted) throw abortReason(signal);
        throw new WorkerError("WRITE_FAILED", `cannot write the COG of band ${s.band.name} (${target}): ${gdalMessage(err)}`, { cause: err });
      }
      await onBand(s.band.name, target, ++done, of);
    }
    this.scratch.clear();
  }

  /** Closes whatever is still open (after a failure); the caller removes the scratch directory. */
  dispose(): void {
    for (const s of this.scratch.values()) {
      try {
        s.dataset.close();
      } catch {
        // Already closed by finish().
      }
    }
    this.scratch.clear();
  }
}
