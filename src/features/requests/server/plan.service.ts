import "server-only";
import { AoiError, aoiGeometry, parseAoi } from "~/lib/aoi";
import { formatTaskId, parsePeriod, parseGridSpec, tileLonLatBounds, tilesMeetingLonLat } from "~/lib/grid";
import type { Role } from "~/lib/roles";
import type { PikselConfig } from "~/server/config";
import { AppError } from "~/server/errors";
import type { IndexPort } from "~/server/drivers/index";
import type { EnvironmentPorts } from "~/server/ports";
import { countPerTile, type Box } from "../scene-counts";
import type { PlanRequestInput, PlannedTile } from "../requests.schema";

/** The most tiles one request may hold (one Job index each). */
export const MAX_TILES = 5000;
const SOURCE_PRODUCT = "s2_l2a";

/** Above this many datasets in the AOI's box the planner counts per tile in the database instead. */
const EXTENTS_LIMIT = 200_000;

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/**
 * Sentinel-2 datasets meeting each tile in the year. One query for the extents of every dataset in the
 * tiles' box, counted per tile in memory (a 1 000-tile plan in one round trip); a box holding more
 * than EXTENTS_LIMIT datasets is counted tile by tile in the database instead.
 */
async function scenesPerTile(index: IndexPort, boxes: Box[], time: readonly [string, string]): Promise<number[]> {
  if (boxes.length === 0) return [];
  const query = {
    lon: [Math.min(...boxes.map((b) => b.west)), Math.max(...boxes.map((b) => b.east))] as const,
    lat: [Math.min(...boxes.map((b) => b.south)), Math.max(...boxes.map((b) => b.north))] as const,
    time,
  };
  try {
    const extents = await index.datasetExtents(SOURCE_PRODUCT, query, { limit: EXTENTS_LIMIT + 1 });
    if (extents.length <= EXTENTS_LIMIT) return countPerTile(boxes, extents);
    return await mapLimited(boxes, 8, (b) => index.countDatasets(SOURCE_PRODUCT, { lon: [b.west, b.east], lat: [b.south, b.north], time }));
  } catch (err) {
    // An index without the source product yet holds no scenes; anything else is a real failure.
    if (err instanceof AppError && err.code === "NOT_FOUND") return boxes.map(() => 0);
    throw err;
  }
}

/**
 * The plan of an annual geomedian request: the product-grid tiles that meet the AOI, each with the
 * number of Sentinel-2 scenes the environment's index holds for it and the year. Refuses, with what to
 * fix, an invalid AOI, one over the role's size limit, outside the environment's coverage, or a year
 * outside its indexed time range.
 */
export async function planRequest(deps: { config: PikselConfig; ports: Map<string, EnvironmentPorts> }, role: Role, input: PlanRequestInput) {
  const env = deps.config.environments.find((e) => e.name === input.environment);
  if (!env) throw new AppError("NOT_FOUND", `No environment "${input.environment}".`);
  let aoi;
  try {
    aoi = parseAoi(input.aoi);
  } catch (err) {
    if (err instanceof AoiError) throw new AppError("BAD_REQUEST", err.message);
    throw err;
  }
  const limit = env.policy.maxAoiKm2[role];
  if (limit !== undefined && aoi.areaKm2 > limit) {
    throw new AppError("BAD_REQUEST", `The AOI covers ${Math.round(aoi.areaKm2).toLocaleString("en")} km²; as ${role} you may request up to ${limit.toLocaleString("en")} km² in ${env.name}. Draw a smaller area or split it.`);
  }
  const [w, s, e, n] = env.scope.bbox;
  if (aoi.bbox[2] < w || aoi.bbox[0] > e || aoi.bbox[3] < s || aoi.bbox[1] > n) {
    throw new AppError("BAD_REQUEST", `The AOI lies outside ${env.name}'s coverage (${w}, ${s}, ${e}, ${n}); nothing is indexed there. Draw it inside the coverage shown on the map.`);
  }
  const [from, to] = env.scope.datetime.split("/").map((t) => (t === ".." ? null : Date.parse(t)));
  const yearStart = Date.UTC(input.year, 0, 1);
  const yearEnd = Date.UTC(input.year + 1, 0, 1) - 1;
  if ((from && yearEnd < from) || (to && yearStart > to)) {
    throw new AppError("BAD_REQUEST", `${input.year} is outside ${env.name}'s indexed time range (${env.scope.datetime}).`);
  }
  const grid = parseGridSpec(deps.config.geomedian.grid);
  const tiles = tilesMeetingLonLat(grid, aoiGeometry(aoi));
  if (tiles.length > MAX_TILES) throw new AppError("BAD_REQUEST", `The AOI meets ${tiles.length} tiles of grid ${grid.name}; one request holds at most ${MAX_TILES}. Split it.`);
  const period = parsePeriod(`${input.year}--P1Y`);
  const index = deps.ports.get(env.name)!.index;
  const time = [new Date(yearStart).toISOString(), new Date(yearEnd).toISOString()] as const;
  const boxes = tiles.map((tile) => tileLonLatBounds(grid, tile));
  const scenes = await scenesPerTile(index, boxes, time);
  const planned: PlannedTile[] = tiles.map((tile, i) => {
    const b = boxes[i]!;
    return { x: tile.x, y: tile.y, taskId: formatTaskId({ period, tile }), bounds: [b.west, b.south, b.east, b.north], scenes: scenes[i]! };
  });
  return {
    environment: env.name,
    year: input.year,
    grid: grid.name,
    areaKm2: aoi.areaKm2,
    aoi: aoiGeometry(aoi),
    tiles: planned,
    totals: { tiles: planned.length, scenes: planned.reduce((a, t) => a + t.scenes, 0), empty: planned.filter((t) => t.scenes === 0).length },
  };
}
