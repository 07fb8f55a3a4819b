import type { Bbox, RasterLayer } from "~/components/map/layers";
import { lonLatToGrid, parseGridSpec, tileLonLatBounds, type GridSpec, type TileIndex } from "~/lib/grid";
import { MAX_TASKS_PER_TILE, outputTileUrlTemplate, type OutputTileUrlInput } from "../tile-params";
import { MAX_ZOOM } from "../web-mercator";

/**
 * The MapView raster layer of outputs (RGB of the geomedian from the tile endpoint). Pure: pages
 * build it from what the server sent (environment, period, tasks, grid name).
 */

export interface OutputLayerInput extends OutputTileUrlInput {
  /** The product grid (configuration `geomedian.grid`, e.g. `global_10:480`): bounds and zoom range come from it. */
  grid: GridSpec | string;
  /** Layer id; default `outputs`. */
  id?: string;
  /** 0..1; default 1. */
  opacity?: number;
  visible?: boolean;
  beforeId?: string;
}

// Web-mercator metres per pixel at zoom 0 on the equator (256 px tiles).
const EQUATOR_METRES_PER_PX = 156_543.03392804097;

/** Lon/lat bounds of some grid tiles, or undefined for none. */
export function tilesLonLatBounds(grid: GridSpec, tiles: readonly TileIndex[]): Bbox | undefined {
  if (tiles.length === 0) return undefined;
  const all = tiles.map((t) => tileLonLatBounds(grid, t));
  return [Math.min(...all.map((b) => b.west)), Math.min(...all.map((b) => b.south)), Math.max(...all.map((b) => b.east)), Math.max(...all.map((b) => b.north))];
}

/**
 * The lowest zoom at which one map tile around `at` (lon, lat) meets at most MAX_TASKS_PER_TILE grid
 * tiles, so that the endpoint never refuses the tiles MapLibre asks for.
 */
export function outputMinZoom(grid: GridSpec, at: readonly [number, number]): number {
  const [x, y] = lonLatToGrid(grid, at[0], at[1]);
  const b = tileLonLatBounds(grid, { x: Math.floor((x - grid.origin.x) / grid.tileSize), y: Math.floor((y - grid.origin.y) / grid.tileSize) });
  const [dx, dy] = [b.east - b.west, b.north - b.south];
  const cos = Math.cos((at[1] * Math.PI) / 180);
  for (let z = 0; z <= MAX_ZOOM; z++) {
    const lonSpan = 360 / 2 ** z;
    // +2: a map tile may cut partial grid tiles on both sides.
    if ((lonSpan / dx + 2) * ((lonSpan * cos) / dy + 2) <= MAX_TASKS_PER_TILE) return z;
  }
  return MAX_ZOOM;
}

/** The zoom past which MapLibre stretches tiles instead of asking for more: one level past the grid's resolution. */
export function outputMaxZoom(grid: GridSpec): number {
  return Math.min(MAX_ZOOM, Math.ceil(Math.log2(EQUATOR_METRES_PER_PX / grid.resolution)) + 1);
}

/** The raster layer spec of outputs for <MapView layers>. */
export function outputRasterLayer(input: OutputLayerInput): RasterLayer {
  const grid = typeof input.grid === "string" ? parseGridSpec(input.grid) : input.grid;
  const bounds = input.tasks ? tilesLonLatBounds(grid, input.tasks) : undefined;
  const centre: [number, number] = bounds ? [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2] : [0, 0];
  const few = input.tasks !== undefined && input.tasks.length <= MAX_TASKS_PER_TILE;
  return {
    kind: "raster",
    id: input.id ?? "outputs",
    tiles: [outputTileUrlTemplate(input)],
    tileSize: 256,
    opacity: input.opacity ?? 1,
    ...(bounds && { bounds }),
    minzoom: few ? 0 : outputMinZoom(grid, centre),
    maxzoom: outputMaxZoom(grid),
    ...(input.visible !== undefined && { visible: input.visible }),
    ...(input.beforeId !== undefined && { beforeId: input.beforeId }),
  };
}
