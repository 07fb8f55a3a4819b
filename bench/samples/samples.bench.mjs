// Sample-data benchmark: what the embedded default's sample archive costs. Run from the repository root:
//
//   node bench/samples/samples.bench.mjs [--scenes 8] [--tile-size 1098] [--cache DIR]
//
// Prints: planning the default catalogue cold and warm (tiles, scenes, SCL statistics), the size of its
// items, the local STAC API's start and search times over it, then writing `--scenes` scenes of one
// tile (seconds and MB per scene, concurrency = CPU count) and what writing every scene would cost.
// Without --cache it works in a temporary directory it removes afterwards.
//
// The TypeScript sources are bundled with esbuild into a temporary file first (Node 20 cannot import
// .ts), with `server-only` aliased away as the CLI bundle does.

import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { build } from "esbuild";

const REPO = path.resolve(import.meta.dirname, "../..");
const { values: args } = parseArgs({
  options: {
    scenes: { type: "string", default: "8" },
    "tile-size": { type: "string", default: "1098" },
    cache: { type: "string" },
  },
});

const work = mkdtempSync(path.join(tmpdir(), "piksel-samples-bench-"));
// Inside the repository so that the packages left external (gdal-async, zod, pino, proj4) resolve.
const bundle = path.join(REPO, "node_modules/.cache/piksel-samples-bench.mjs");
await build({
  stdin: {
    contents: `
      export { openSampleArchive } from "./src/server/embedded/samples";
      export { startLocalStacServer } from "./src/server/embedded/stac-server";
      export { createLogger } from "./src/server/logger";
    `,
    resolveDir: REPO,
    loader: "ts",
  },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  outfile: bundle,
  alias: { "~": path.join(REPO, "src"), "server-only": path.join(REPO, "tests/support/empty.ts") },
  logLevel: "warning",
});
const lib = await import(bundle);
rmSync(bundle, { force: true });
const cacheDir = args.cache ?? path.join(work, "cache");
const options = { tileSize: Number(args["tile-size"]) };
const log = lib.createLogger({ level: "warn" });

const seconds = (t0) => ((performance.now() - t0) / 1000).toFixed(2);
const du = (dir) => {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) if (entry.isFile()) total += statSync(path.join(entry.parentPath, entry.name)).size;
  return total;
};

let t0 = performance.now();
const archive = lib.openSampleArchive({ cacheDir, options, log });
console.log(`catalogue (first open): ${seconds(t0)} s, ${archive.tiles.length} tiles, ${archive.scenes.length} scenes, hash ${archive.hash}`);
t0 = performance.now();
lib.openSampleArchive({ cacheDir, options, log });
console.log(`catalogue (cached):     ${seconds(t0)} s`);
const itemsBytes = archive.items({ stac: "http://127.0.0.1:54330/v1", files: "http://127.0.0.1:54330/files" }).reduce((n, item) => n + JSON.stringify(item).length, 0);
console.log(`items: ${(itemsBytes / 2 ** 20).toFixed(0)} MiB of JSON, ${(itemsBytes / archive.scenes.length / 1024).toFixed(1)} KiB per item`);

t0 = performance.now();
const server = await lib.startLocalStacServer({ port: 0, archive, log });
console.log(`STAC API start: ${seconds(t0)} s`);
for (const [name, query] of [
  ["dev scope, 2024", "bbox=106.7,-6.6,106.85,-6.45&datetime=2024-01-01T00:00:00Z/2024-12-31T23:59:59Z"],
  ["prod scope, 2024", "bbox=106.5,-6.8,107.1,-6.2&datetime=2024-01-01T00:00:00Z/2024-12-31T23:59:59Z"],
]) {
  t0 = performance.now();
  let url = `${server.url}/search?limit=100&${query}`;
  let items = 0;
  let pages = 0;
  while (url) {
    const page = await (await fetch(url)).json();
    items += page.features.length;
    pages++;
    url = page.links.find((l) => l.rel === "next")?.href;
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`search ${name}: ${items} items in ${pages} pages, ${s.toFixed(2)} s (${Math.round(items / s)} items/s)`);
}
await server.close();

const tile = archive.tiles[0].code;
const ids = archive.scenes.filter((s) => s.tile.code === tile).slice(0, Number(args.scenes)).map((s) => s.id);
t0 = performance.now();
const result = await archive.generate({ ids });
const perScene = result.written > 0 ? (performance.now() - t0) / 1000 / result.written : NaN;
const bytes = ids.reduce((n, id) => n + du(path.join(archive.root, archive.scene(id).dir)), 0);
console.log(`scenes: ${result.written} written (${result.scenes - result.written} reused) in ${seconds(t0)} s on ${availableParallelism()} CPUs: ${perScene.toFixed(2)} s and ${(bytes / ids.length / 2 ** 20).toFixed(1)} MiB per scene`);
if (result.written > 0) {
  console.log(`every scene of the catalogue: ~${((perScene * archive.scenes.length) / 60).toFixed(0)} min, ~${((bytes / ids.length) * archive.scenes.length / 2 ** 30).toFixed(0)} GiB (which is why scenes are written on first read)`);
}
rmSync(work, { recursive: true, force: true });
