import gdal from "gdal-async";
import { WorkerError } from "./errors";
import { gdalPath } from "./sources";

/**
 * GDAL as the worker uses it: process-wide configuration for reading COGs over HTTP, and a cache of
 * open source files.
 */

/** How sources are read; every field has a default suited to Earth Search from inside AWS. */
export interface ReadSettings {
  /** Attempts after the first on a transient HTTP failure (`GDAL_HTTP_MAX_RETRY`). Default 5. */
  httpRetries: number;
  /**
   * Seconds before the first retry (`GDAL_HTTP_RETRY_DELAY`). GDAL multiplies the delay by 2 to 2.5
   * after each failed attempt on HTTP 429, 500, 502, 503, 504 and connection errors
   * (`CPLHTTPGetNewRetryDelay`): exponential backoff with jitter. Default 1.
   */
  httpRetryDelay: number;
  /** Seconds a request may take (`GDAL_HTTP_TIMEOUT`). Default 60. */
  httpTimeout: number;
  /**
   * Decoded-block cache of all open files, MiB (`GDAL_CACHEMAX`). Default 64: a chunk decodes each
   * block it needs once; keeping blocks for later chunks is the HTTP cache's job, which holds them
   * compressed, two to four times denser.
   */
  blockCacheMiB: number;
  /**
   * Downloaded-range cache of `/vsicurl/`, shared by all files, MiB (`CPL_VSIL_CURL_CACHE_SIZE`).
   * Default 512. A source block is fetched again by each later chunk that needs it once it has left
   * this cache; holding the blocks of one group of chunks for every observation (observations x 11
   * files x ~4 blocks) makes each block a single fetch.
   */
  httpCacheMiB: number;
  /** Source files kept open between chunks (their headers are not fetched again). Default 2048. */
  maxOpenSources: number;
}

export const DEFAULT_READ_SETTINGS: ReadSettings = {
  httpRetries: 5,
  httpRetryDelay: 1,
  httpTimeout: 60,
  blockCacheMiB: 64,
  httpCacheMiB: 512,
  maxOpenSources: 2048,
};

/**
 * Sets GDAL's process-wide options for range reads over HTTP. GDAL reads most of them when a file is
 * opened, and the cache sizes when the caches are first used, so this runs before any source opens.
 */
export function configureGdal(settings: ReadSettings): void {
  const options: Record<string, string> = {
    // Open a COG with one ranged GET, not a directory listing and probes for .aux.xml / .ovr / .msk
    // side-car files that Earth Search does not have (each would be a request, most of them 403s on S3).
    GDAL_DISABLE_READDIR_ON_OPEN: "EMPTY_DIR",
    CPL_VSIL_CURL_ALLOWED_EXTENSIONS: ".tif,.tiff,.TIF,.TIFF",
    GDAL_HTTP_MAX_RETRY: String(settings.httpRetries),
    GDAL_HTTP_RETRY_DELAY: String(settings.httpRetryDelay),
    GDAL_HTTP_TIMEOUT: String(settings.httpTimeout),
    GDAL_HTTP_CONNECTTIMEOUT: String(Math.min(settings.httpTimeout, 15)),
    // Adjacent blocks of a window become one request.
    GDAL_HTTP_MERGE_CONSECUTIVE_RANGES: "YES",
    // /vsicurl/ keeps downloaded ranges in one LRU shared by every file, bounded by
    // CPL_VSIL_CURL_CACHE_SIZE. VSI_CACHE would add a second, per-handle cache of the same bytes,
    // multiplied by the hundreds of handles a tile keeps open, so it stays off.
    VSI_CACHE: "FALSE",
    CPL_VSIL_CURL_CACHE_SIZE: String(settings.httpCacheMiB * 1024 * 1024),
    GDAL_CACHEMAX: String(settings.blockCacheMiB),
  };
  for (const [key, value] of Object.entries(options)) gdal.config.set(key, value);
}

/** GDAL's geotransform: [x0, pixel width, row rotation, y0, column rotation, pixel height]. */
export type GeoTransform = [number, number, number, number, number, number];

/** An open single-band source COG. */
export interface OpenSource {
  href: string;
  /** GDAL's retries on transient HTTP errors, for messages. */
  retries: number;
  dataset: gdal.Dataset;
  band: gdal.RasterBand;
  geoTransform: GeoTransform;
  width: number;
  height: number;
}

interface Entry {
  opening: Promise<OpenSource>;
  users: number;
  lastUsed: number;
}

/** GDAL's message, without the path noise, on one line. */
export function gdalMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ").trim();
}

/**
 * Open source files, shared between chunks and closed least-recently-used first beyond a limit.
 * gdal-async serialises operations on one dataset and runs operations on different datasets in
 * parallel on libuv's thread pool (`UV_THREADPOOL_SIZE`).
 */
export class SourceCache {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;

  constructor(private readonly settings: Pick<ReadSettings, "maxOpenSources" | "httpRetries">) {}

  /** Runs `fn` with the open file of `href`; the file stays open (and cached) while `fn` runs. */
  async use<T>(href: string, fn: (source: OpenSource) => Promise<T>): Promise<T> {
    let entry = this.entries.get(href);
    if (!entry) {
      entry = { opening: this.open(href), users: 0, lastUsed: 0 };
      this.entries.set(href, entry);
    }
    entry.users++;
    entry.lastUsed = ++this.clock;
    try {
      const source = await entry.opening;
      return await fn(source);
    } finally {
      entry.users--;
      this.evict();
    }
  }

  private async open(href: string): Promise<OpenSource> {
    try {
      const dataset = await gdal.openAsync(gdalPath(href));
      const gt = dataset.geoTransform;
      if (!gt || gt.length !== 6) throw new Error("it has no geotransform");
      if (gt[2] !== 0 || gt[4] !== 0) throw new Error("it is rotated (only north-up rasters are supported)");
      const { x, y } = dataset.rasterSize;
      return { href, retries: this.settings.httpRetries, dataset, band: dataset.bands.get(1), geoTransform: gt as GeoTransform, width: x, height: y };
    } catch (err) {
      this.entries.delete(href);
      throw new WorkerError("UNREADABLE_SOURCE", `cannot open ${href} after ${this.settings.httpRetries} retries: ${gdalMessage(err)}`, { cause: err });
    }
  }

  private evict(): void {
    if (this.entries.size <= this.settings.maxOpenSources) return;
    const idle = [...this.entries.entries()].filter(([, e]) => e.users === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [href, entry] of idle.slice(0, this.entries.size - this.settings.maxOpenSources)) {
      this.entries.delete(href);
      entry.opening.then((s) => s.dataset.close()).catch(() => undefined);
    }
  }

  /** Closes every file. */
  async close(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => e.opening.then((s) => s.dataset.close()).catch(() => undefined)));
  }
}
