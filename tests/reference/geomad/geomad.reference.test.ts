import { describe, expect, it } from "vitest";

import { GM_S2_DEFAULTS, geomedianWithMads, type GeomedianResult } from "~/worker/reduce/geomedian";

import { runGeomadReference, type ReferenceOutput } from "./python-reference";
import { makeSyntheticCube } from "./synthetic-cube";

// The one switch for machines without Python or PyPI; anywhere else a missing reference is a failure.
const SKIP = process.env.PIKSEL_SKIP_PYTHON_REFERENCE === "1";

/** Largest |a - b| / max(|a|, |b|) over the values; NaN must match NaN. */
function maxRelativeDifference(ours: Float32Array, reference: Float32Array): { max: number; at: number; nanMismatches: number } {
  let max = 0;
  let at = -1;
  let nanMismatches = 0;
  for (let i = 0; i < reference.length; i++) {
    const a = ours[i]!;
    const b = reference[i]!;
    if (Number.isNaN(a) || Number.isNaN(b)) {
      if (Number.isNaN(a) !== Number.isNaN(b)) nanMismatches++;
      continue;
    }
    if (a === b) continue;
    const rel = Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
    if (rel > max) {
      max = rel;
      at = i;
    }
  }
  return { max, at, nanMismatches };
}

function compare(ours: GeomedianResult, reference: ReferenceOutput, label: string): void {
  const median = maxRelativeDifference(ours.median, reference.median);
  const smad = maxRelativeDifference(ours.smad, reference.smad);
  const emad = maxRelativeDifference(ours.emad, reference.emad);
  const bcmad = maxRelativeDifference(ours.bcmad, reference.bcmad);
  let countMismatches = 0;
  for (let i = 0; i < reference.count.length; i++) if (ours.count[i] !== reference.count[i]) countMismatches++;

  console.log(
    `[geomad reference, ${label}] geomad ${reference.versions.geomad}, numpy ${reference.versions.numpy}; max relative difference: ` +
      `median ${median.max.toExponential(2)}, smad ${smad.max.toExponential(2)}, emad ${emad.max.toExponential(2)}, ` +
      `bcmad ${bcmad.max.toExponential(2)}; count mismatches ${countMismatches}`,
  );

  expect(median.nanMismatches, "median NaN positions").toBe(0);
  expect(median.max, `median relative difference (worst at value ${median.at})`).toBeLessThanOrEqual(1e-4);
  for (const [name, diff] of [["smad", smad], ["emad", emad], ["bcmad", bcmad]] as const) {
    expect(diff.nanMismatches, `${name} NaN positions`).toBe(0);
    expect(diff.max, `${name} relative difference (worst at pixel ${diff.at})`).toBeLessThanOrEqual(1e-3);
  }
  expect(countMismatches, "count mismatches").toBe(0);
}

// The first run creates the virtualenv and installs geomad from PyPI, hence the long timeout.
describe.skipIf(SKIP)("geomedian kernel against geomad (odc-algo's implementation)", { timeout: 300_000 }, () => {
  const scenarios = [
    { label: "a 48 x 48 block, 40 observations", seed: 1, height: 48, width: 48, times: 40 },
    { label: "a 16 x 96 block, 60 observations", seed: 2, height: 16, width: 96, times: 60 },
    { label: "a 30 x 30 block, 7 observations", seed: 3, height: 30, width: 30, times: 7 },
  ];

  for (const scenario of scenarios) {
    it(`agrees on ${scenario.label} with masked, cloudy and degenerate pixels`, () => {
      const { cube, dims, height } = makeSyntheticCube(scenario);
      const options = { ...GM_S2_DEFAULTS };
      const ours = geomedianWithMads(cube, dims, options);
      const reference = runGeomadReference({ cube, bands: dims.bands, times: dims.times, height, width: dims.width, ...options });
      compare(ours, reference, scenario.label);
    });
  }
});
