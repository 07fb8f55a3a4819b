// Geomedian reduce-stage benchmark. Run from the repository root:
//
//   node bench/geomedian/geomedian.bench.mjs [--tile 2048] [--times 60] [--chunk 128] [--threads N] [--sample 128]
//
// Prints, in one run:
// 1. single thread, same arrays: our kernel and the Python reference (geomad 1.0.0, timed inside Python
//    around the geomad calls) on one sample x sample chunk, in pixel-observations per CPU second;
// 2. whole tile: a tile of tile x tile pixels x `times` observations x 10 bands processed chunk by chunk
//    (chunk x chunk pixels) through GeomedianPool; wall time and the process's peak RSS
//    (process.resourceUsage().maxRSS, worker threads included; the first part peaks far lower).
// In this order because the tile's hundreds of MiB of garbage slow a kernel run that follows it.
//
// The TypeScript sources are bundled with esbuild into a temporary file first (Node 20 cannot import
// .ts), which is also the code path of the bundled CLI. The tile's chunks are copies of four distinct
// synthetic chunks, so that producing input costs a memcpy rather than dominating the main thread;
// the kernel's work per pixel is that of real data. PIKSEL_SKIP_PYTHON_REFERENCE=1 skips the Python
// half (the reference creates .cache/venv-geomad on first use).

import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { build } from "esbuild";

const REPO = path.resolve(import.meta.dirname, "../..");
const { values: args } = parseArgs({
  options: {
    tile: { type: "string", default: "2048" },
    times: { type: "string", default: "60" },
    chunk: { type: "string", default: "128" },
    threads: { type: "string", default: String(availableParallelism()) },
    sample: { type: "string", default: "128" },
  },
});
const TILE = Number(args.tile);
const TIMES = Number(args.times);
const CHUNK = Number(args.chunk);
const THREADS = Number(args.threads);
const SAMPLE = Number(args.sample);
const BANDS = 10;
if (TILE % CHUNK !== 0) throw new Error(`--tile (${TILE}) must be a multiple of --chunk (${CHUNK})`);

const dir = mkdtempSync(path.join(tmpdir(), "piksel-geomedian-bench-"));
const bundle = path.join(dir, "bench-lib.mjs");
await build({
  stdin: {
    contents: `
      export { GeomedianPool } from "./src/worker/reduce/pool";
      export { geomedianWithMads, medianToDn, GM_S2_DEFAULTS } from "./src/worker/reduce/geomedian";
      export { makeSyntheticCube } from "./tests/reference/geomad/synthetic-cube";
      export { runGeomadReference } from "./tests/reference/geomad/python-reference";
    `,
    resolveDir: REPO,
    loader: "ts",
  },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile: bundle,
  // python-reference.ts finds its script and virtualenv from its own directory.
  define: { "import.meta.dirname": JSON.stringify(path.join(REPO, "tests/reference/geomad")) },
  logLevel: "warning",
});
const lib = await import(bundle);
rmSync(dir, { recursive: true, force: true });

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const rate = (n) => `${(n / 1e6).toFixed(2)} M`;

// ---- 2. Whole tile through the pool ---------------------------------------------------------------
async function wholeTile() {
  const chunkPixels = CHUNK * CHUNK;
  const templates = [1, 2, 3, 4].map((seed) => lib.makeSyntheticCube({ seed, height: CHUNK, width: CHUNK, times: TIMES }).cube);
  const dims = { bands: BANDS, times: TIMES, pixels: chunkPixels, width: CHUNK };

  // What the write stage needs for the whole tile: uint16 DN per band, float32 MADs, uint16 count.
  const tilePixels = TILE * TILE;
  const median = Array.from({ length: BANDS }, () => new Uint16Array(tilePixels));
  const smad = new Float32Array(tilePixels);
  const emad = new Float32Array(tilePixels);
  const bcmad = new Float32Array(tilePixels);
  const count = new Uint16Array(tilePixels);

  // Cube buffers are recycled: the pool hands each one back with its result.
  const free = [];
  const perSide = TILE / CHUNK;
  async function* chunks() {
    for (let index = 0; index < perSide * perSide; index++) {
      const cube = free.pop() ?? new Float32Array(BANDS * TIMES * chunkPixels);
      cube.set(templates[index % templates.length]);
      yield { cube, dims, row: Math.floor(index / perSide) * CHUNK, col: (index % perSide) * CHUNK };
    }
  }

  const pool = new lib.GeomedianPool({ size: THREADS });
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  await pool.reduce(chunks(), (result, chunk) => {
    const dn = lib.medianToDn(result.median);
    for (let y = 0; y < CHUNK; y++) {
      const from = y * CHUNK;
      const to = (chunk.row + y) * TILE + chunk.col;
      for (let b = 0; b < BANDS; b++) median[b].set(dn.subarray(b * chunkPixels + from, b * chunkPixels + from + CHUNK), to);
      smad.set(result.smad.subarray(from, from + CHUNK), to);
      emad.set(result.emad.subarray(from, from + CHUNK), to);
      bcmad.set(result.bcmad.subarray(from, from + CHUNK), to);
      count.set(result.count.subarray(from, from + CHUNK), to);
    }
    free.push(result.cube);
  });
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  await pool.close();
  const maxRss = process.resourceUsage().maxRSS * 1024;
  let valid = 0;
  for (let i = 0; i < tilePixels; i++) if (count[i] > 0) valid++;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { seconds, cpuSeconds, maxRss, valid, pixelObservations: tilePixels * TIMES, cubeBytes: BANDS * TIMES * chunkPixels * 4 };
}

// ---- 1. Single thread, same arrays -----------------------------------------------------------------
// Throughput per core is pixel-observations per CPU second of the computing process (process_time in
// Python, process.cpuUsage() here, with no worker running), so that other load on a shared machine
// counts less than in wall time. Both sides run several times, interleaved; the best run of each counts.
function singleThread() {
  const { cube, dims, height } = lib.makeSyntheticCube({ seed: 42, height: SAMPLE, width: SAMPLE, times: TIMES });
  const pixelObservations = dims.pixels * dims.times;
  const withPython = process.env.PIKSEL_SKIP_PYTHON_REFERENCE !== "1";
  // Two warm-up runs: V8 compiles the kernel's loops on the first and settles on the second.
  lib.geomedianWithMads(cube, dims);
  lib.geomedianWithMads(cube, dims);
  let ours;
  const oursBest = { cpu: Infinity, wall: Infinity };
  let reference;
  const pythonBest = { cpu: Infinity, wall: Infinity, gmCpu: Infinity };
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 2; i++) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      ours = lib.geomedianWithMads(cube, dims);
      const wall = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      oursBest.cpu = Math.min(oursBest.cpu, (cpu.user + cpu.system) / 1e6);
      oursBest.wall = Math.min(oursBest.wall, wall);
    }
    if (withPython) {
      reference = lib.runGeomadReference({ cube, bands: dims.bands, times: dims.times, height, width: dims.width, ...lib.GM_S2_DEFAULTS });
      pythonBest.cpu = Math.min(pythonBest.cpu, reference.cpuSeconds.total);
      pythonBest.wall = Math.min(pythonBest.wall, reference.seconds.total);
      pythonBest.gmCpu = Math.min(pythonBest.gmCpu, reference.cpuSeconds.gm);
    }
  }
  const result = { ours: { ...oursBest, rate: pixelObservations / oursBest.cpu }, pixelObservations };
  if (!withPython) return result;

  let maxRel = 0;
  for (let i = 0; i < ours.median.length; i++) {
    const a = ours.median[i];
    const b = reference.median[i];
    if (a === a && b === b && a !== b) maxRel = Math.max(maxRel, Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b)));
  }
  return {
    ...result,
    python: { ...pythonBest, rate: pixelObservations / pythonBest.cpu, gmOnlyRate: pixelObservations / pythonBest.gmCpu, versions: reference.versions },
    maxRel,
  };
}

const load = () => loadavg().map((v) => v.toFixed(1)).join(" ");
console.log(`geomedian bench: Node ${process.version}, ${availableParallelism()} cores available, load average ${load()}`);
const single = singleThread();
console.log(
  `\nSingle thread, one ${SAMPLE} x ${SAMPLE} px x ${TIMES} observation chunk (${single.pixelObservations} pixel-observations), ` +
    "geomedian + MADs + count, best of 6 runs (ours) and 3 (reference)",
);
const line = (name, r) => `  ${name.padEnd(22)} ${rate(r.rate)} pixel-observations per CPU second   (${r.cpu.toFixed(3)} s CPU, ${r.wall.toFixed(3)} s wall)`;
console.log(line("ours (TypeScript)", single.ours));
if (single.python) {
  console.log(line(`geomad ${single.python.versions.geomad} (Cython)`, single.python) + `; geomedian alone ${rate(single.python.gmOnlyRate)}`);
  console.log(`  ours / reference       ${(single.ours.rate / single.python.rate).toFixed(2)}x   (max relative difference of the medians: ${single.maxRel.toExponential(2)})`);
} else {
  console.log("  geomad reference       skipped (PIKSEL_SKIP_PYTHON_REFERENCE=1)");
}

const tile = await wholeTile();
console.log(`\nWhole tile ${TILE} x ${TILE} px x ${TIMES} observations x ${BANDS} bands, ${CHUNK} x ${CHUNK} px chunks (${mib(tile.cubeBytes)} each), pool of ${THREADS} threads`);
console.log(`  wall time       ${tile.seconds.toFixed(1)} s  (${rate(tile.pixelObservations / tile.seconds)} pixel-observations/s in all)`);
console.log(`  CPU time        ${tile.cpuSeconds.toFixed(1)} s, all threads  (${rate(tile.pixelObservations / tile.cpuSeconds)} pixel-observations per CPU second)`);
console.log(`  peak RSS        ${mib(tile.maxRss)}  (target < 2048 MiB)`);
console.log(`  pixels with data ${tile.valid} of ${TILE * TILE}; load average now ${load()}`);
