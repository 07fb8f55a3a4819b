#!/usr/bin/env node
// Copies maplibre-gl's worker to public/ so the map can load it with setWorkerUrl().
//
// maplibre-gl 6 locates its worker next to its own module (new URL("./maplibre-gl-worker.mjs",
// import.meta.url)); once Next.js bundles the library that URL points into the bundle's chunk folder
// where no worker exists, and the map fails with "Worker failed to load". The worker must come from
// the same maplibre-gl version as the main bundle (they exchange internal messages), so this runs
// before every dev server start and build.
//
//   node scripts/copy-maplibre-worker.mjs           write public/maplibre-gl-worker.mjs
//   node scripts/copy-maplibre-worker.mjs --check   exit 1 if the public copy is missing or stale
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const source = require.resolve("maplibre-gl/dist/maplibre-gl-worker.mjs");
const target = path.resolve(import.meta.dirname, "../public/maplibre-gl-worker.mjs");
const { version } = JSON.parse(readFileSync(require.resolve("maplibre-gl/package.json"), "utf8"));

// The source map is not copied (2.6 MB); drop its reference so browser dev tools do not request it.
const worker = readFileSync(source, "utf8").replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n");

if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {
    // A missing copy is reported below like a stale one.
  }
  if (current !== worker) {
    console.error(`public/maplibre-gl-worker.mjs is missing or not maplibre-gl ${version}'s worker: run node scripts/copy-maplibre-worker.mjs`);
    process.exit(1);
  }
} else {
  writeFileSync(target, worker);
  console.log(`public/maplibre-gl-worker.mjs: maplibre-gl ${version} worker (${(worker.length / 1024).toFixed(0)} KB)`);
}
