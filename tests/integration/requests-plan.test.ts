import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planRequest } from "~/features/requests/server/plan.service";
import { loadConfig, type PikselConfig } from "~/server/config";
import type { IndexPort } from "~/server/drivers/index";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import { AppError } from "~/server/errors";
import type { EnvironmentPorts } from "~/server/ports";
import { createTestDatabase } from "../support/databases";
import { indexPlanningFixture } from "../support/plan-index";

/** Planning on a real ODC index: the real Earth Search item 31QGB of 2020-08-31, indexed twice (two dates). */
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let index: IndexPort;
let config: PikselConfig;
let deps: { config: PikselConfig; ports: Map<string, EnvironmentPorts> };
const square = (w: number, s: number, e: number, n: number) => ({ type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] });

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AppError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return "accepted";
}

beforeAll(async () => {
  db = await createTestDatabase("plan");
  index = createPostgresIndex(db.url);
  expect(await indexPlanningFixture(index)).toEqual([]);

  config = loadConfig({ PIKSEL_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "piksel-plan-")) });
  config.geomedian.grid = "global_10:960";
  const env = config.environments.find((e) => e.name === "staging")!;
  env.scope.bbox = [4.5, 18.5, 6.0, 20.5];
  env.scope.datetime = "2020-01-01T00:00:00Z/2020-12-31T23:59:59Z";
  deps = { config, ports: new Map([["staging", { index } as unknown as EnvironmentPorts]]) };
});
afterAll(async () => {
  await index?.close();
  await db?.drop();
});

describe("planning a geomedian request", () => {
  it("lists the grid tiles meeting the AOI with the scenes found for each, and flags empty tiles", async () => {
    // Half inside the scene's footprint, half outside it (to the west).
    const plan = await planRequest(deps, "requester", { environment: "staging", year: 2020, aoi: square(4.6, 19.3, 5.1, 19.4) });
    expect(plan.grid).toBe("global_10:960");
    expect(plan.totals.tiles).toBe(plan.tiles.length);
    expect(plan.tiles.length).toBeGreaterThan(3);
    for (const t of plan.tiles) expect(t.taskId).toBe(`2020--P1Y/${t.x}/${t.y}`);
    const inside = plan.tiles.filter((t) => t.bounds[0] > 4.95);
    const outside = plan.tiles.filter((t) => t.bounds[2] < 4.85);
    expect(inside.length).toBeGreaterThan(0);
    expect(outside.length).toBeGreaterThan(0);
    expect(inside.every((t) => t.scenes === 2)).toBe(true);
    expect(outside.every((t) => t.scenes === 0)).toBe(true);
    expect(plan.totals.empty).toBe(plan.tiles.filter((t) => t.scenes === 0).length);
    expect(plan.totals.scenes).toBe(plan.tiles.reduce((a, t) => a + t.scenes, 0));
  });

  it("refuses a year outside the indexed time range", async () => {
    expect(await refusal(planRequest(deps, "requester", { environment: "staging", year: 2024, aoi: square(5, 19, 5.1, 19.1) }))).toBe(
      "BAD_REQUEST: 2024 is outside staging's indexed time range (2020-01-01T00:00:00Z/2020-12-31T23:59:59Z).",
    );
  });

  it("refuses an invalid AOI, one over the role's limit and one outside the coverage, saying what to fix", async () => {
    expect(await refusal(planRequest(deps, "requester", { environment: "staging", year: 2020, aoi: { type: "Polygon", coordinates: [[[5, 19], [5.1, 19.1], [5.1, 19], [5, 19.1], [5, 19]]] } }))).toBe(
      "BAD_REQUEST: The outer ring crosses itself (edges 1 and 3). Redraw it without crossing lines.",
    );
    expect(await refusal(planRequest(deps, "requester", { environment: "staging", year: 2020, aoi: square(4.6, 18.6, 5.9, 20.4) }))).toMatch(
      /^BAD_REQUEST: The AOI covers 2\d,\d{3} km²; as requester you may request up to 5,000 km² in staging\. Draw a smaller area or split it\.$/,
    );
    expect(await refusal(planRequest(deps, "requester", { environment: "staging", year: 2020, aoi: square(106.7, -6.6, 106.8, -6.5) }))).toBe(
      "BAD_REQUEST: The AOI lies outside staging's coverage (4.5, 18.5, 6, 20.5); nothing is indexed there. Draw it inside the coverage shown on the map.",
    );
  });
});
