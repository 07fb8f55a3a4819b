// Runs a TypeScript benchmark entry: bundles it with esbuild as the CLI build does (Node 20 cannot
// import .ts; `~` -> src, `server-only` -> an empty module, packages external), then imports it.
//   node bench/lib/run-ts.mjs bench/<name>/<file>.ts [args...]
import { mkdtempSync, rmSync } from "node:fs";

import path from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = path.resolve(import.meta.dirname, "../..");
const entry = process.argv[2];
if (!entry) {
  console.error("usage: node bench/lib/run-ts.mjs <entry.ts> [args...]");
  process.exit(2);
}
const dir = mkdtempSync(path.join(root, "node_modules", ".bench-"));
const outfile = path.join(dir, "bench.mjs");
try {
  await build({
    entryPoints: [path.resolve(entry)],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    alias: { "~": path.join(root, "src"), "server-only": path.join(root, "tests/support/empty.ts") },
    logLevel: "warning",
  });
  process.argv.splice(2, 1);
  const mod = await import(pathToFileURL(outfile).href);
  if (typeof mod.main === "function") await mod.main(process.argv.slice(2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

