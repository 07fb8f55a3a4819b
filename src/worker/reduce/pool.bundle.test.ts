import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { build } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";

import { makeSyntheticCube } from "../../../tests/reference/geomad/synthetic-cube";

import { geomedianWithMads, type GeomedianResult } from "./geomedian";

// The worker source is the kernel's own `toString()` (see pool.ts). This proves it survives what the
// CLI build does to it: the pool is bundled with esbuild, as `src/cli/main.ts` is into
// `dist/cli/piksel.mjs`, then run by plain Node, and must give the bits this process computes.

const SPEC = { seed: 21, height: 4, width: 16, times: 20 };

function digest(result: GeomedianResult): string {
  const hash = createHash("sha256");
  for (const array of [result.median, result.smad, result.emad, result.bcmad, result.count]) {
    hash.update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  }
  return hash.digest("hex");
}

// Kept in sync with `digest` above; runs inside the bundle.
const ENTRY = `
import { createHash } from "node:crypto";
import { GeomedianPool } from "./pool";
import { geomedianWithMads } from "./geomedian";
import { makeSyntheticCube } from "../../../tests/reference/geomad/synthetic-cube";

function digest(result) {
  const hash = createHash("sha256");
  for (const array of [result.median, result.smad, result.emad, result.bcmad, result.count]) {
    hash.update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  }
  return hash.digest("hex");
}

const { cube, dims } = makeSyntheticCube(${JSON.stringify(SPEC)});
const single = geomedianWithMads(cube, dims);
const pool = new GeomedianPool({ size: 2 });
const pooled = await Promise.all([pool.run({ cube: cube.slice(), dims }), pool.run({ cube: cube.slice(), dims })]);
await pool.close();
console.log(JSON.stringify({ single: digest(single), pooled: pooled.map(digest) }));
`;

describe("GeomedianPool in an esbuild bundle", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "piksel-reduce-bundle-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const { cube, dims } = makeSyntheticCube(SPEC);
  const expected = digest(geomedianWithMads(cube, dims));

  const variants = [
    { name: "plain", minify: false, keepNames: false },
    { name: "minified", minify: true, keepNames: false },
    { name: "minified with keepNames", minify: true, keepNames: true },
  ];

  for (const variant of variants) {
    it(`runs the kernel in worker threads from a ${variant.name} ESM bundle`, { timeout: 60_000 }, async () => {
      const outfile = path.join(dir, `${variant.name.replace(/\W+/g, "-")}.mjs`);
      await build({
        stdin: { contents: ENTRY, resolveDir: import.meta.dirname, loader: "ts", sourcefile: "bundle-entry.ts" },
        bundle: true,
        platform: "node",
        format: "esm",
        target: "node20",
        outfile,
        minify: variant.minify,
        keepNames: variant.keepNames,
        logLevel: "silent",
      });
      const output = JSON.parse(execFileSync(process.execPath, [outfile], { encoding: "utf8" })) as { single: string; pooled: string[] };
      expect(output.single).toBe(expected);
      expect(output.pooled).toEqual([expected, expected]);
    });
  }
});
