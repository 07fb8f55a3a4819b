import "server-only";
import { adminProcedure, router, viewerProcedure, type Context } from "~/server/trpc/init";
import { cellDatasetsInput, cellsInput, compareInput, footprintsInput, histogramInput, refreshInput } from "../coverage.schema";
import { explorerDatasetPath } from "./explorer-routes";
import {
  cellDatasets,
  compareCoverage,
  coverageCells,
  coverageFootprints,
  coverageHistogram,
  coverageOverview,
  refreshEnvironmentCoverage,
  type CoverageDeps,
} from "./coverage.service";

const deps = (ctx: Context): CoverageDeps => ({ config: ctx.config, log: ctx.log });

export const coverageRouter = router({
  /** Per environment: products with summarised dataset counts and time extent, and how current the summaries are. */
  overview: viewerProcedure.query(({ ctx }) => coverageOverview(deps(ctx))),
  /** Cells of a product by dataset count for a view and period; when there are none, why. */
  cells: viewerProcedure.input(cellsInput).query(({ ctx, input }) => coverageCells(deps(ctx), input)),
  /** Datasets per day, month or year of a product. */
  histogram: viewerProcedure.input(histogramInput).query(({ ctx, input }) => coverageHistogram(deps(ctx), input)),
  /** Individual dataset footprints in a view, never more than the hard limit. */
  footprints: viewerProcedure.input(footprintsInput).query(({ ctx, input }) => coverageFootprints(deps(ctx), input)),
  /** The datasets of one cell in a period, with links to their EO3 document, STAC item and COGs. */
  cellDatasets: viewerProcedure.input(cellDatasetsInput).query(({ ctx, input }) => cellDatasets(deps(ctx), input, { eo3Url: explorerDatasetPath })),
  /** Two environments' cells: what each has that the other has not. */
  compare: viewerProcedure.input(compareInput).query(({ ctx, input }) => compareCoverage(deps(ctx), input)),
  /** Brings an environment's summaries up to date now (or rebuilds them); audited. */
  refresh: adminProcedure.input(refreshInput).mutation(({ ctx, input }) => refreshEnvironmentCoverage({ ...deps(ctx), db: ctx.db }, ctx.user, input)),
});
