import { z } from "zod";
import { isDay } from "~/lib/periods";

/** Inputs of the coverage procedures and the explorer-compatible routes (STYLE.md 7). */

export const environmentName = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "an environment name such as dev");
export const productName = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, "a product name such as s2_l2a");

const lon = z.number().min(-180).max(180);
const lat = z.number().min(-90).max(90);
/** The map view [west, south, east, north]; west > east when the view crosses the antimeridian. */
export const viewBbox = z.tuple([lon, lat, lon, lat]).refine(([, s, , n]) => s <= n, "south must not be above north");

const day = z.string().refine(isDay, "a day YYYY-MM-DD");
/** An inclusive range of UTC days; absent means all time. */
export const periodInput = z
  .object({ from: day, to: day })
  .refine((p) => p.from <= p.to, { message: "the period must not end before it starts", path: ["to"] });
export type PeriodInput = z.infer<typeof periodInput>;

export const levelInput = z.enum(["d", "m", "y"]);

export const coverageScope = z.object({ environment: environmentName, product: productName });

export const cellsInput = coverageScope.extend({ bbox: viewBbox.optional(), period: periodInput.optional() });
export type CellsInput = z.infer<typeof cellsInput>;

export const histogramInput = coverageScope.extend({ level: levelInput.default("m") });
export type HistogramInput = z.infer<typeof histogramInput>;

/** Footprints are served for a view only, and never more than the hard limit. */
export const FOOTPRINT_HARD_LIMIT = 500;
export const footprintsInput = coverageScope.extend({
  bbox: viewBbox,
  period: periodInput.optional(),
  limit: z.number().int().min(1).max(FOOTPRINT_HARD_LIMIT).default(200),
});
export type FootprintsInput = z.infer<typeof footprintsInput>;

export const cellDatasetsInput = coverageScope.extend({
  cell: z.string().min(1).max(100),
  period: periodInput.optional(),
  limit: z.number().int().min(1).max(500).default(100),
});
export type CellDatasetsInput = z.infer<typeof cellDatasetsInput>;

export const compareInput = z
  .object({ environment: environmentName, other: environmentName, product: productName, bbox: viewBbox.optional(), period: periodInput.optional() })
  .refine((c) => c.environment !== c.other, { message: "pick two different environments to compare", path: ["other"] });
export type CompareInput = z.infer<typeof compareInput>;

export const refreshInput = z.object({ environment: environmentName, rebuild: z.boolean().default(false) });
export type RefreshInput = z.infer<typeof refreshInput>;
