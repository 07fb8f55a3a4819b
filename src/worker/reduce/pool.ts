import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

import * as kernel from "./geomedian-kernel";
import {
  resolveGeomedianOptions,
  validateCube,
  type CubeDims,
  type GeomedianOptions,
  type GeomedianResult,
  type ResolvedGeomedianOptions,
} from "./geomedian";

/** One chunk of a tile: its cube ([band][time][pixel], see `CubeDims`) and shape. */
export interface GeomedianChunk {
  cube: Float32Array;
  dims: CubeDims;
}

/** The outputs of a chunk, plus its input cube handed back so that the caller can refill it. */
export interface GeomedianChunkResult extends GeomedianResult {
  cube: Float32Array;
}

/** Pool size and reduction parameters. */
export interface GeomedianPoolOptions {
  /** Worker threads; default `os.availableParallelism()`. */
  size?: number;
  /** Parameters for every chunk; default odc-stats `gm-s2`. */
  geomedian?: GeomedianOptions;
}

interface KernelRequest {
  id: number;
  cube: Float32Array;
  bands: number;
  times: number;
  pixels: number;
  width: number;
  eps: number;
  maxiters: number;
  emadScale: number;
}

type KernelReply = { id: number; output: GeomedianResult; cube: Float32Array; error?: undefined } | { id: number; error: string };

interface Task {
  request: KernelRequest;
  transfer: ArrayBuffer[];
  resolve: (result: GeomedianChunkResult) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  task: Task | undefined;
}

/**
 * The worker's source, built from the kernel functions themselves and started with `eval: true`.
 *
 * Why not `new Worker(new URL("./x.js", import.meta.url))`: under vitest the URL points at a `.ts`
 * file Node 20 cannot run, and esbuild does not rewrite or emit such URLs, so the bundled CLI would
 * need a second file shipped beside it. `Function.prototype.toString()` returns whatever code the
 * running module actually is (vite's TypeScript transform under vitest, the bundle's possibly
 * minified code in `dist/cli/piksel.mjs`), so one source of truth runs in both. It holds as long as
 * `geomedian-kernel.ts` keeps its rules (self-contained top-level functions; see its header); it does
 * not hold under coverage instrumentation that rewrites function bodies (istanbul; v8 coverage is
 * fine). `pool.bundle.test.ts` bundles this module with esbuild, minified and with `keepNames`, and
 * runs it.
 *
 * Every function the kernel module exports goes in as a declaration (a minifier renames them
 * consistently with their call sites); the entry point goes in once more as an expression bound to a
 * fixed name, since its own name may have been minified.
 */
function buildWorkerSource(): string {
  const declarations = Object.values(kernel)
    .filter((value) => typeof value === "function")
    .map((fn) => String(fn));
  return [
    `"use strict";`,
    `const workerThreads = require("node:worker_threads");`,
    ...declarations,
    `const kernelMain = (${kernel.computeGeomedianWithMads.toString()});`,
    WORKER_LOOP,
  ].join("\n");
}

// Plain JavaScript (a CommonJS eval worker): compute, then hand every buffer back by transfer.
const WORKER_LOOP = `
workerThreads.parentPort.on("message", function (request) {
  try {
    const output = kernelMain(request.cube, request.bands, request.times, request.pixels, request.width,
      request.eps, request.maxiters, request.emadScale);
    const transfer = [output.median.buffer, output.smad.buffer, output.emad.buffer, output.bcmad.buffer, output.count.buffer];
    if (request.cube.buffer instanceof ArrayBuffer && request.cube.byteLength > 0) transfer.push(request.cube.buffer);
    workerThreads.parentPort.postMessage({ id: request.id, output: output, cube: request.cube }, transfer);
  } catch (failure) {
    const text = failure instanceof Error ? String(failure.stack || failure.message) : String(failure);
    workerThreads.parentPort.postMessage({ id: request.id, error: text });
  }
});
`;

let cachedSource: string | undefined;

/**
 * A small pool of worker threads running the geomedian kernel over chunks. Memory stays bounded by
 * what the caller has in flight: `reduce()` keeps at most `size` chunks out at a time and pulls the
 * next one only when a worker is free.
 *
 * Buffers move, they are not copied: `run()` transfers the chunk's `ArrayBuffer` to the worker
 * (the caller's view is detached) and the worker transfers it back as `result.cube`, with the outputs.
 * A cube on a `SharedArrayBuffer` is shared instead; a cube that is a view on part of a larger buffer
 * is copied first, so that the rest of that buffer is left alone.
 */
export class GeomedianPool {
  /** Number of worker threads. */
  readonly size: number;
  private readonly options: ResolvedGeomedianOptions;
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;

  constructor(options: GeomedianPoolOptions = {}) {
    const size = options.size ?? availableParallelism();
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`GeomedianPool: size must be an integer >= 1, got ${size}`);
    this.size = size;
    this.options = resolveGeomedianOptions(options.geomedian ?? {});
  }

  /** Computes one chunk on a worker thread. Transfers `chunk.cube` (see the class comment). */
  run(chunk: GeomedianChunk): Promise<GeomedianChunkResult> {
    if (this.closed) return Promise.reject(new Error("GeomedianPool: the pool is closed"));
    let dims: Required<CubeDims>;
    try {
      dims = validateCube(chunk.cube, chunk.dims);
    } catch (error) {
      return Promise.reject(error);
    }
    const cube = transferable(chunk.cube);
    const request: KernelRequest = { id: this.nextId++, cube, ...dims, ...this.options };
    // An empty buffer is not worth moving, and a detached one must not be listed (see `dispatch`).
    const transfer = cube.buffer instanceof ArrayBuffer && cube.byteLength > 0 ? [cube.buffer] : [];
    return new Promise<GeomedianChunkResult>((resolve, reject) => {
      this.queue.push({ request, transfer, resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Runs every chunk, at most `size` at a time, pulling chunks lazily from `chunks` and calling
   * `onResult` as each finishes (completion order; a chunk's slot is freed only once `onResult` has
   * settled, so a slow consumer slows the producer down). Stops pulling at the first failure, waits
   * for the chunks in flight, then rethrows it.
   */
  async reduce<C extends GeomedianChunk>(
    chunks: Iterable<C> | AsyncIterable<C>,
    onResult: (result: GeomedianChunkResult, chunk: C) => void | Promise<void>,
  ): Promise<void> {
    const iterator: Iterator<C> | AsyncIterator<C> =
      Symbol.asyncIterator in chunks ? chunks[Symbol.asyncIterator]() : chunks[Symbol.iterator]();
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    let exhausted = false;

    while (!exhausted && failure === undefined) {
      while (inFlight.size < this.size && failure === undefined) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const chunk = next.value;
        const job: Promise<void> = this.run(chunk)
          .then((result) => onResult(result, chunk))
          .catch((error: unknown) => {
            failure ??= { error };
          })
          .finally(() => inFlight.delete(job));
        inFlight.add(job);
      }
      if (inFlight.size > 0) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) {
      await iterator.return?.();
      throw failure.error;
    }
  }

  /** Stops the workers; queued chunks are rejected. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0)) task.reject(new Error("GeomedianPool: closed before the chunk ran"));
    const slots = this.slots.splice(0);
    for (const slot of slots) {
      slot.task?.reject(new Error("GeomedianPool: closed while the chunk was running"));
      slot.task = undefined;
    }
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((candidate) => candidate.task === undefined);
      if (slot === undefined) {
        if (this.slots.length >= this.size) return;
        slot = this.spawn();
      }
      const task = this.queue.shift()!;
      const { request } = task;
      if (request.cube.length !== request.bands * request.times * request.pixels) {
        // The buffer was moved by another chunk queued with the same buffer. Node would drop the
        // message without a word (a detached buffer in the transfer list), leaving the chunk pending.
        task.reject(new Error("GeomedianPool: the chunk's buffer was moved (detached) before it could be sent; queue a buffer once"));
        continue;
      }
      try {
        slot.worker.postMessage(request, task.transfer);
      } catch (error) {
        task.reject(new Error("GeomedianPool: could not send the chunk to a worker", { cause: error }));
        continue;
      }
      slot.task = task;
      // Keep the process alive only while a chunk is in flight: an idle pool that nobody closed
      // must not hold the CLI open.
      slot.worker.ref();
    }
  }

  private spawn(): Slot {
    cachedSource ??= buildWorkerSource();
    const worker = new Worker(cachedSource, { eval: true });
    const slot: Slot = { worker, task: undefined };
    worker.unref();
    worker.on("message", (reply: KernelReply) => {
      const task = slot.task;
      if (task === undefined || task.request.id !== reply.id) return;
      slot.task = undefined;
      worker.unref();
      if (reply.error !== undefined) task.reject(new Error(`geomedian worker failed: ${reply.error}`));
      else task.resolve({ ...reply.output, cube: reply.cube });
      this.dispatch();
    });
    // A worker that dies (uncaught error, out of memory) fails its chunk and leaves the pool; the
    // next dispatch starts a replacement.
    const retire = (error: Error) => {
      const index = this.slots.indexOf(slot);
      if (index === -1) return;
      this.slots.splice(index, 1);
      slot.task?.reject(error);
      slot.task = undefined;
      if (!this.closed) this.dispatch();
    };
    worker.on("error", (error) => retire(new Error(`geomedian worker crashed: ${error.message}`, { cause: error })));
    worker.on("exit", (code) => retire(new Error(`geomedian worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }
}

/** The cube itself when its buffer can be moved wholesale; else a copy that owns its buffer. */
function transferable(cube: Float32Array): Float32Array {
  if (!(cube.buffer instanceof ArrayBuffer)) return cube;
  if (cube.byteOffset === 0 && cube.byteLength === cube.buffer.byteLength) return cube;
  return cube.slice();
}
