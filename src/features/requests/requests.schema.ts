import { z } from "zod";

export const planRequestInput = z.object({
  environment: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "an environment name such as staging"),
  year: z.number().int().min(2015, "Sentinel-2 data starts in 2015").max(2100),
  /** GeoJSON Polygon / MultiPolygon / Feature / FeatureCollection of one polygon (validated by parseAoi). */
  aoi: z.unknown(),
});
export type PlanRequestInput = z.infer<typeof planRequestInput>;

/** One grid tile of a plan: a task of the Job. */
export interface PlannedTile {
  x: number;
  y: number;
  taskId: string;
  /** Lon/lat bounds [west, south, east, north]. */
  bounds: [number, number, number, number];
  /** Sentinel-2 datasets found for the tile and year in the environment's index. */
  scenes: number;
}
