import { rmSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import YAML from "yaml";
import { chunkWindows, formatTaskId, type GridSpec, type TaskId } from "~/lib/grid";
import type { IndexPort } from "~/server/drivers/index";
import type { ObjectsPort } from "~/server/drivers/objects";
import { parseOdcYaml } from "~/server/odc/definitions";
import type { Eo3Document } from "~/server/odc/eo3";
import { gmS2AnnualProductYaml } from "~/server/odc/standard-definitions";
import { abortReason, checkAborted, untilAborted } from "./abort";
import { oneLine, WorkerError } from "./errors";
import { configureGdal, DEFAULT_READ_SETTINGS, SourceCache, type ReadSettings } from "./gdal";
import { GM_S2_ANNUAL, OUTPUT_BANDS, REFLECTANCE_BANDS, taskLayout, type OutputProduct, type TaskLayout } from "./layout";
import { eo3Document, eo3Yaml, stacItem } from "./metadata";
import { noDatasetsError, planTask, type TaskPlan } from "./plan";
import type { Progress, Stage, TaskOutputs } from "./progress";
import { readChunk, type ChunkCube } from "./read";
import { GeomedianPool } from "./reduce/pool";
import { medianToDn } from "./reduce/geomedian";
import { TileWriter } from "./write";

/**
 * One geomedian task end to end (DESIGN.md 6): plan from the index, read and mask chunk by chunk,
 * reduce in worker threads, write COGs and metadata through the objects port, index the output.
 *
 * Idempotent: the EO3 document is written last, so its presence means the task finished; a rerun
 * then changes nothing (it only makes sure the dataset is indexed). `overwrite` removes that document
 * first, so an interrupted overwrite is seen as unfinished, then recomputes everything.
 */

export type { Progress, Stage, TaskOutputs } from "./progress";

export interface GeomedianTaskOptions {
  /** Environment name, for messages. */
  env: string;
  index: IndexPort;
  objects: ObjectsPort;
  /** Key prefix of products in the bucket (`derived` for the environment's bucket). */
  prefix: string;
  grid: GridSpec;
  task: TaskId;
  /** Chunk side in pixels. Default 256: a cube of 10 bands x 73 solar days x 256 x 256 float32 is 191 MiB. */
  chunk?: number;
  /** Worker threads of the reduction. Default `os.availableParallelism()`. */
  threads?: number;
  /** Recompute and replace a finished task. */
  overwrite?: boolean;
  /** Index the output into the environment's index (default true). */
  indexOutput?: boolean;
  /** Where scratch rasters go (a fresh directory is made inside and removed). Default the OS temp dir. */
  scratchDir?: string;
  read?: Partial<ReadSettings>;
  /** Datasets read at the same time for a chunk. Default 8. */
  readConcurrency?: number;
  product?: OutputProduct;
  onProgress?: (p: Progress) => void;
  /** Notes for the log (plan summary, skipped datasets, where the output went). */
  onInfo?: (message: string, fields: Record<string, unknown>) => void;
  /** Clock of `odc:processing_datetime`. */
  now?: () => Date;
  /**
   * Stops the task (the CLI aborts it on SIGTERM and SIGINT): no new reads, the reduction's threads
   * are terminated, files already uploaded for an unfinished task are deleted, scratch is removed,
   * and the run rejects with the signal's reason (a WorkerError CANCELLED). Once the EO3 document is
   * written the task is finished and runs to its end.
   */
  signal?: AbortSignal;
}

export interface GeomedianTaskResult {
  status: "done" | "skipped";
  /** Output dataset id. */
  id: string;
  /** URI of the EO3 document (the dataset's location). */
  uri: string;
  layout: TaskLayout;
  /** Source datasets and solar days used (0 when skipped). */
  sources: number;
  days: number;
  indexed: boolean;
}

const PERCENT = { plan: 1, compute: 90, write: 98, index: 100 } as const;

/** Runs one task; throws WorkerError with a one-line message on an expected failure. */
export async function runGeomedianTask(opts: GeomedianTaskOptions): Promise<GeomedianTaskResult> {
  const product = opts.product ?? GM_S2_ANNUAL;
  const layout = taskLayout(product, opts.task, opts.prefix);
  const taskText = formatTaskId(opts.task);
  const indexOutput = opts.indexOutput ?? true;
  const signal = opts.signal;
  const progress = (stage: Stage, chunk: number, of: number, percent: number, outputs?: TaskOutputs) =>
    opts.onProgress?.({ stage, chunk, of, percent: Math.round(Math.min(100, percent) * 10) / 10, ...(outputs ? { outputs } : {}) });
  const info = (message: string, fields: Record<string, unknown> = {}) => opts.onInfo?.(message, { task: taskText, ...fields });
  const eo3Uri = opts.objects.uri(layout.eo3);
  const outputs = (status: TaskOutputs["status"], id: string, indexed: boolean): TaskOutputs => ({
    status,
    id,
    uri: eo3Uri,
    stac: opts.objects.uri(layout.stac),
    bands: Object.fromEntries(Object.entries(layout.bands).map(([band, key]) => [band, opts.objects.uri(key)])),
    indexed,
  });
  checkAborted(signal);

  const existing = await readExistingDocument(opts.objects, layout);
  if (existing && !opts.overwrite) {
    const indexed = indexOutput ? await indexDocument(opts.index, existing, eo3Uri, false) : false;
    info("task already finished; nothing to do (use --overwrite to recompute)", { uri: eo3Uri });
    progress("skipped", 1, 1, 100, outputs("skipped", String(existing.id), indexed));
    return { status: "skipped", id: String(existing.id), uri: eo3Uri, layout, sources: 0, days: 0, indexed };
  }

  await assertWritable(opts.objects, layout);
  checkAborted(signal);
  progress("plan", 0, 1, 0);
  const plan = await untilAborted(planTask(opts.index, opts.grid, opts.task), signal);
  for (const s of plan.skipped) info("source dataset left out", { dataset: s.id, reason: s.reason });
  if (plan.datasets.length === 0) throw noDatasetsError(plan, opts.env);
  info("planned", { datasets: plan.datasets.length, days: plan.days.length, grid: opts.grid.name });
  progress("plan", 1, 1, PERCENT.plan);

  const settings = { ...DEFAULT_READ_SETTINGS, ...opts.read };
  configureGdal(settings);
  const sources = new SourceCache(settings);
  const pool = new GeomedianPool({ size: opts.threads ?? availableParallelism() });
  // The reduction's threads go at once: a chunk in flight may take many seconds.
  const stopPool = () => void pool.close();
  signal?.addEventListener("abort", stopPool, { once: true });
  const scratch = await mkdtemp(path.join(opts.scratchDir ?? tmpdir(), "piksel-geomedian-"));
  let writer: TileWriter | undefined;
  // From the first upload until the EO3 document is written, the task's folder holds a partial output.
  let partial = false;
  try {
    writer = await TileWriter.create(scratch, plan.geobox, OUTPUT_BANDS);
    await compute(plan, opts, sources, pool, writer, progress);
    checkAborted(signal);

    if (existing) {
      // Unfinished from here on: a crash leaves no document, so the next run recomputes.
      try {
        await opts.objects.delete(layout.eo3);
      } catch (err) {
        // The old output is still whole (its document included): leave it alone.
        throw new WorkerError("OUTPUT_NOT_WRITABLE", `cannot remove ${eo3Uri} before overwriting it: ${describe(err)}`, { cause: err });
      }
      partial = true;
    }
    const outDir = path.join(scratch, "cog");
    await mkdir(outDir, { recursive: true });
    await writer.finish(
      outDir,
      layout.files,
      async (band, cog, done, of) => {
        // Not raced with the signal: an upload that ended after the clean-up would leave a file behind.
        checkAborted(signal);
        partial = true;
        await put(opts.objects, layout.bands[band]!, { file: cog }, "image/tiff; application=geotiff; profile=cloud-optimized");
        await rm(cog, { force: true });
        progress("write", done, of + 2, PERCENT.compute + ((PERCENT.write - PERCENT.compute) * done) / (of + 2));
      },
      signal,
    );
    const input = { product, grid: opts.grid, task: opts.task, layout, sources: plan.datasets, processed: (opts.now ?? (() => new Date()))(), stacUri: opts.objects.uri(layout.stac) };
    const doc = eo3Document(input);
    checkAborted(signal);
    await put(opts.objects, layout.stac, JSON.stringify(stacItem(input), null, 2), "application/json");
    progress("write", OUTPUT_BANDS.length + 1, OUTPUT_BANDS.length + 2, PERCENT.write - 1);
    checkAborted(signal);
    // Last: its presence marks the task finished. From here on a signal no longer stops the task:
    // the output is whole, and indexing it takes a moment.
    await put(opts.objects, layout.eo3, eo3Yaml(doc), "text/yaml");
    partial = false;
    progress("write", OUTPUT_BANDS.length + 2, OUTPUT_BANDS.length + 2, PERCENT.write);

    let indexed = false;
    if (indexOutput) {
      progress("index", 0, 1, PERCENT.write);
      indexed = await indexDocument(opts.index, doc, eo3Uri, Boolean(existing));
      if (existing && String(existing.id) !== doc.id) {
        // Recomputed from other sources: the old dataset is superseded at the same location.
        await opts.index.archiveDatasets([String(existing.id)]);
      }
      progress("index", 1, 1, PERCENT.index);
    }
    info("geomedian written", { uri: eo3Uri, id: doc.id, sources: plan.datasets.length, days: plan.days.length, indexed });
    progress("done", 1, 1, 100, outputs("done", doc.id, indexed));
    return { status: "done", id: doc.id, uri: eo3Uri, layout, sources: plan.datasets.length, days: plan.days.length, indexed };
  } catch (err) {
    if (partial) await removePartialOutput(opts.objects, layout, info);
    // Whatever failed while stopping (a closed pool, a read cut short) is the signal's doing.
    if (signal?.aborted) throw abortReason(signal);
    throw err;
  } finally {
    signal?.removeEventListener("abort", stopPool);
    await pool.close();
    if (signal?.aborted) {
      // GDAL may still be reading for a chunk that was given up: closing a dataset that an operation
      // uses blocks the event loop until it ends (gdal-async locks each dataset), maybe for a whole
      // HTTP retry cycle. The caller is about to exit; the files go with the process. The scratch
      // goes synchronously: fs.promises runs in libuv's thread pool, which those reads may fill.
      rmSync(scratch, { recursive: true, force: true });
    } else {
      writer?.dispose();
      await sources.close();
      await rm(scratch, { recursive: true, force: true });
    }
  }
}

/** Deletes the files an unfinished run uploaded (and, for an overwrite, the older run's): no partial output stays. */
async function removePartialOutput(objects: ObjectsPort, layout: TaskLayout, info: (message: string, fields?: Record<string, unknown>) => void): Promise<void> {
  const keys = [...Object.values(layout.bands), layout.stac, layout.eo3];
  const results = await Promise.allSettled(keys.map((key) => objects.delete(key)));
  const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${keys[i]}: ${describe(r.reason)}`] : []));
  if (failed.length) info("could not remove every file of the unfinished output; a rerun overwrites them", { failed });
  else info("removed the unfinished output", { dir: objects.uri(layout.dir) });
}

/** Reads, reduces and writes every chunk; at most `threads` chunks are in the pool plus one being read. */
async function compute(plan: TaskPlan, opts: GeomedianTaskOptions, sources: SourceCache, pool: GeomedianPool, writer: TileWriter, progress: (stage: Stage, chunk: number, of: number, percent: number) => void): Promise<void> {
  const chunk = opts.chunk ?? 256;
  // Groups about one Earth Search COG block (1 024 px) across.
  const windows = chunkWindows(plan.geobox.width, plan.geobox.height, chunk, Math.max(1, Math.round(1024 / chunk)));
  const of = windows.length;
  let done = 0;
  const percent = () => PERCENT.plan + ((PERCENT.compute - PERCENT.plan) * done) / of;
  const finished = () => {
    done++;
    progress("reduce", done, of, percent());
  };
  // A read failure ends the stream of chunks instead of escaping from it, so that `reduce` lets the
  // chunks in flight finish (and their writes complete) before the failure is reported.
  let readFailure: { error: unknown } | undefined;
  // Cubes come back from the pool with their results and are refilled: memory stays at (threads + 1)
  // cubes instead of waiting for the garbage collector to notice hundreds of MiB of dropped buffers.
  const spare: Float32Array[] = [];
  const fullCube = REFLECTANCE_BANDS.length * plan.days.length * chunk * chunk;
  async function* chunks(): AsyncGenerator<ChunkCube> {
    for (let i = 0; i < windows.length; i++) {
      const window = windows[i]!;
      let read: ChunkCube | undefined;
      const cube = spare.pop();
      try {
        checkAborted(opts.signal);
        // A read waits for HTTP (and GDAL's retries) in libuv's pool, where it cannot be cancelled:
        // on a signal it is left behind, and its cube with it.
        read = await untilAborted(readChunk(plan, window, sources, { concurrency: opts.readConcurrency, cube }), opts.signal);
      } catch (error) {
        readFailure = { error };
        return;
      }
      if (cube && read?.cube !== cube) spare.push(cube);
      progress("read", i + 1, of, percent());
      // Nothing valid: the scratch rasters already read as nodata there.
      if (read) yield read;
      else finished();
    }
  }
  await pool.reduce(chunks(), async (result, chunk) => {
    const values: Record<string, Uint16Array | Float32Array> = {};
    REFLECTANCE_BANDS.forEach((band, b) => {
      values[band.name] = medianToDn(result.median.subarray(b * chunk.dims.pixels, (b + 1) * chunk.dims.pixels));
    });
    values.SMAD = result.smad;
    values.EMAD = result.emad;
    values.BCMAD = result.bcmad;
    values.COUNT = result.count;
    // Scratch only, so it may be given up on a signal (it would wait behind reads in the thread pool).
    await untilAborted(writer.write(chunk.window, values), opts.signal);
    // Only whole-chunk cubes are kept (edge chunks are smaller), and no more than can be in use.
    if (result.cube.length === fullCube && spare.length <= pool.size) spare.push(result.cube);
    finished();
  });
  if (readFailure) throw readFailure.error;
}

/** A put whose failure names the object. */
async function put(objects: ObjectsPort, key: string, body: Parameters<ObjectsPort["put"]>[1], contentType: string): Promise<void> {
  try {
    await objects.put(key, body, { contentType });
  } catch (err) {
    throw new WorkerError("OUTPUT_NOT_WRITABLE", `cannot write ${objects.uri(key)}: ${describe(err)}`, { cause: err });
  }
}

function describe(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string };
  return oneLine([e.code ?? (e.name !== "Error" ? e.name : undefined), e.message].filter(Boolean).join(": ") || String(err));
}

/** Fails early, before any computation, when the output location refuses a write. */
async function assertWritable(objects: ObjectsPort, layout: TaskLayout): Promise<void> {
  const probe = `${layout.dir}/.piksel-write-check`;
  try {
    await objects.put(probe, "ok", { contentType: "text/plain" });
    await objects.delete(probe);
  } catch (err) {
    throw new WorkerError("OUTPUT_NOT_WRITABLE", `output ${objects.uri(layout.dir)} is not writable: ${describe(err)}`, { cause: err });
  }
}

/** The task's EO3 document if a previous run finished, else undefined. */
async function readExistingDocument(objects: ObjectsPort, layout: TaskLayout): Promise<Record<string, unknown> | undefined> {
  let bytes: Buffer | undefined;
  try {
    bytes = await objects.get(layout.eo3);
  } catch (err) {
    throw new WorkerError("OUTPUT_NOT_WRITABLE", `cannot read ${objects.uri(layout.eo3)}: ${describe(err)}`, { cause: err });
  }
  if (!bytes) return undefined;
  const doc = YAML.parse(bytes.toString("utf8")) as unknown;
  // An unreadable document is not a finished task: recompute and replace it.
  return doc && typeof doc === "object" && "id" in doc ? (doc as Record<string, unknown>) : undefined;
}

/** Adds the product when missing, then the dataset; returns whether the dataset is in the index. */
async function indexDocument(index: IndexPort, doc: Record<string, unknown>, uri: string, replace: boolean): Promise<boolean> {
  try {
    const productName = (doc.product as { name?: string } | undefined)?.name ?? GM_S2_ANNUAL.name;
    if (!(await index.getProduct(productName))) {
      const [definition] = parseOdcYaml(gmS2AnnualProductYaml);
      await index.addProduct(definition);
    }
    const result = await index.addDatasets([{ document: doc as Eo3Document, uris: [uri] }], { onExisting: replace ? "update" : "skip" });
    const rejected = result.rejected[0];
    if (rejected) throw new WorkerError("INDEX_FAILED", `the index refused dataset ${String(doc.id)}: ${rejected.reason}`);
    return true;
  } catch (err) {
    if (err instanceof WorkerError) throw err;
    throw new WorkerError("INDEX_FAILED", `cannot index ${uri}: ${describe(err)}`, { cause: err });
  }
}
