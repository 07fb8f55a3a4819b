import type { IndexedDataset, IndexPort } from "~/server/drivers/index";
import { transformer } from "~/server/odc/crs";
import {
  densifyRing,
  formatTaskId,
  gridToLonLat,
  polygonMeetsBounds,
  tileBounds,
  tileGeobox,
  tileLonLatBounds,
  type Geobox,
  type GridSpec,
  type TaskId,
} from "~/lib/grid";
import { WorkerError } from "./errors";
import { REFLECTANCE_BANDS } from "./layout";
import { datasetOffset, resolveHref } from "./sources";

/**
 * Plan: the source datasets of a task, from the environment's ODC index, grouped by solar day as
 * odc-stats' gm-s2 loads them (`StatsPluginInterface(group_by="solar_day")`, odc-algo
 * `load_with_native_transform` -> `group_by_nothing(dss, solar_offset(geobox.extent))`).
 */

/** The source product and the measurement the mask comes from. */
export const SOURCE_PRODUCT = "s2_l2a";
export const MASK_BAND = "scl";

/** One source dataset, with what the read stage needs. */
export interface SourceDataset {
  id: string;
  label?: string;
  /** Acquisition time (datacube's `center_time`). */
  time: Date;
  /** The solar day it belongs to, `YYYY-MM-DD`. */
  solarDay: string;
  /** Native CRS, `EPSG:<code>`. */
  crs: string;
  /** Measurement name -> href of its COG (the ten reflectance bands and `scl`). */
  hrefs: Record<string, string>;
  /** Reflectance offset (REFERENCE.md D). */
  offset: number;
  platform?: string;
  instrument?: string;
}

/** One observation of the reduction: the datasets of a solar day, in fusing order. */
export interface SolarDay {
  day: string;
  datasets: SourceDataset[];
}

export interface TaskPlan {
  task: TaskId;
  grid: GridSpec;
  geobox: Geobox;
  /** All sources, sorted by (time, id) as `group_by_nothing` sorts them. */
  datasets: SourceDataset[];
  days: SolarDay[];
  /** Datasets found but left out, with the reason (missing measurements, unusable location). */
  skipped: { id: string; reason: string }[];
}

/**
 * odc-algo `solar_offset(geom)` at its default hour precision: `int(lon * 24 / 360 + 0.5)` hours
 * from the longitude of the tile's centre (Python's `int` truncates toward zero).
 */
export function solarOffsetHours(lon: number): number {
  // `|| 0` turns the -0 Math.trunc gives for small negative values into 0.
  return Math.trunc((lon * 24) / 360 + 0.5) || 0;
}

/** `(time + offset).date()` as `YYYY-MM-DD`. */
export function solarDay(time: Date, offsetHours: number): string {
  return new Date(time.getTime() + offsetHours * 3_600_000).toISOString().slice(0, 10);
}

/** datacube's `center_time`: the middle of the dataset's time range, else its `datetime`. */
export function centerTime(properties: Record<string, unknown>): Date | undefined {
  const parse = (v: unknown) => (typeof v === "string" ? Date.parse(v) : NaN);
  const [start, end, at] = [parse(properties["dtr:start_datetime"]), parse(properties["dtr:end_datetime"]), parse(properties.datetime)];
  const begin = Number.isNaN(start) ? at : start;
  const finish = Number.isNaN(end) ? at : end;
  if (Number.isNaN(begin) || Number.isNaN(finish)) return undefined;
  return new Date(begin + (finish - begin) / 2);
}

/** Whether the dataset's footprint (its valid-data polygon in its CRS) meets the tile. */
function footprintMeetsTile(ds: IndexedDataset, grid: GridSpec, task: TaskId): boolean {
  const doc = ds.metadata;
  const polygon = doc.geometry ?? doc.grid_spatial?.projection?.valid_data;
  const rings = polygon?.coordinates;
  if (!Array.isArray(rings) || rings.length === 0) return true;
  let toGrid: (p: [number, number]) => [number, number];
  try {
    toGrid = transformer(doc.crs, grid.crs);
  } catch {
    // A CRS our transformer does not know: keep the dataset (the index's lon/lat search found it).
    return true;
  }
  const bounds = tileBounds(grid, task.tile);
  // Edges are densified to ~1 km before reprojection: footprints are tens of km across.
  const projected = rings.map((ring) => densifyRing(ring.map((p) => [p[0]!, p[1]!] as [number, number]), 1000).map(toGrid));
  return polygonMeetsBounds(projected, bounds);
}

/**
 * Finds the task's sources: `s2_l2a` datasets whose lon/lat extent meets the tile's and whose time
 * lies in the period (the index search `dc.find_datasets` would run), then those whose footprint
 * really meets the tile, as odc-stats bins datasets into tiles.
 */
export async function planTask(index: IndexPort, grid: GridSpec, task: TaskId): Promise<TaskPlan> {
  const ll = tileLonLatBounds(grid, task.tile);
  const found = await index.searchDatasets(SOURCE_PRODUCT, {
    lon: [ll.west, ll.east],
    lat: [ll.south, ll.north],
    // The period is [start, end); the index's ranges are inclusive.
    time: [task.period.start, new Date(task.period.end.getTime() - 1)],
  });
  const b = tileBounds(grid, task.tile);
  const [centreLon] = gridToLonLat(grid, (b.left + b.right) / 2, (b.bottom + b.top) / 2);
  const offsetHours = solarOffsetHours(centreLon);
  const skipped: { id: string; reason: string }[] = [];
  const datasets: SourceDataset[] = [];
  for (const ds of found) {
    const doc = ds.metadata;
    const time = centerTime(doc.properties);
    if (!time || time < task.period.start || time >= task.period.end) continue;
    if (!footprintMeetsTile(ds, grid, task)) continue;
    const needed = [...REFLECTANCE_BANDS.map((band) => band.source as string), MASK_BAND];
    const missing = needed.filter((m) => !doc.measurements[m]);
    if (missing.length > 0) {
      skipped.push({ id: ds.id, reason: `no ${missing.join(", ")} measurement` });
      continue;
    }
    let hrefs: Record<string, string>;
    try {
      hrefs = Object.fromEntries(needed.map((m) => [m, resolveHref(ds.uris[0], doc.measurements[m]!.path)]));
    } catch (err) {
      skipped.push({ id: ds.id, reason: (err as Error).message });
      continue;
    }
    const platform = doc.properties["eo:platform"];
    const instrument = doc.properties["eo:instrument"];
    datasets.push({
      id: ds.id,
      ...(doc.label !== undefined && { label: doc.label }),
      time,
      solarDay: solarDay(time, offsetHours),
      crs: doc.crs,
      hrefs,
      offset: datasetOffset(doc.properties),
      ...(typeof platform === "string" && { platform }),
      ...(typeof instrument === "string" && { instrument }),
    });
  }
  datasets.sort((a, b2) => a.time.getTime() - b2.time.getTime() || (a.id < b2.id ? -1 : a.id > b2.id ? 1 : 0));
  const days: SolarDay[] = [];
  for (const ds of datasets) {
    const last = days[days.length - 1];
    if (last && last.day === ds.solarDay) last.datasets.push(ds);
    else days.push({ day: ds.solarDay, datasets: [ds] });
  }
  return { task, grid, geobox: tileGeobox(grid, task.tile), datasets, days, skipped };
}

/** The planner's failure when a task has nothing to compute from, naming where it looked. */
export function noDatasetsError(plan: TaskPlan, env: string): WorkerError {
  const ll = tileLonLatBounds(plan.grid, plan.task.tile);
  const f = (n: number) => n.toFixed(4);
  const skipped = plan.skipped.length > 0 ? `; ${plan.skipped.length} found but unusable (first: ${plan.skipped[0]!.id}: ${plan.skipped[0]!.reason})` : "";
  return new WorkerError(
    "NO_DATASETS",
    `no ${SOURCE_PRODUCT} datasets in the index of environment ${env} for task ${formatTaskId(plan.task)} ` +
      `(grid ${plan.grid.name}, lon ${f(ll.west)}..${f(ll.east)}, lat ${f(ll.south)}..${f(ll.north)}, ` +
      `${plan.task.period.start.toISOString().slice(0, 10)} to ${new Date(plan.task.period.end.getTime() - 1).toISOString().slice(0, 10)})${skipped}`,
  );
}
