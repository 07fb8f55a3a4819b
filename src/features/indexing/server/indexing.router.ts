import "server-only";
import { adminProcedure, router, viewerProcedure, type Context } from "~/server/trpc/init";
import { applyMigrationInput, listRunsInput, migrationDryRunInput, runFailuresInput, runRef, startRunInput } from "../indexing.schema";
import { cancelIndexRun, indexingOverview, listIndexRuns, runFailures, startIndexRun, type IndexingDeps } from "./indexing.service";
import { applyMigration, listMigrations, migrationDryRun, type MigrationDeps } from "./migrations.service";

const deps = (ctx: Context): IndexingDeps & MigrationDeps => ({ db: ctx.db, config: ctx.config, ports: ctx.ports, log: ctx.log });

export const indexingRouter = router({
  /** Per environment: index reachability, scope, and products with dataset counts, time range and latest dataset. */
  overview: viewerProcedure.query(({ ctx }) => indexingOverview(deps(ctx))),
  /** Recent indexer runs per environment with counters, failure reasons and live progress. */
  runs: viewerProcedure.input(listRunsInput).query(({ ctx, input }) => listIndexRuns(deps(ctx), input)),
  /** The items one run could not index, with the reasons. */
  failures: viewerProcedure.input(runFailuresInput).query(({ ctx, input }) => runFailures(deps(ctx), input)),
  /** Starts an indexer run in the background (one per environment at a time). */
  startRun: adminProcedure.input(startRunInput).mutation(({ ctx, input }) => startIndexRun(deps(ctx), ctx.user, input)),
  /** Asks a running run to stop after its current batch; it can be continued later. */
  cancelRun: adminProcedure.input(runRef).mutation(({ ctx, input }) => cancelIndexRun(deps(ctx), ctx.user, input)),
  /** Every index migration's state in every environment, in promotion order. */
  migrations: viewerProcedure.query(({ ctx }) => listMigrations(deps(ctx))),
  /** The SQL applying would run, and whether the promotion rule allows it now. */
  migrationDryRun: adminProcedure.input(migrationDryRunInput).query(({ ctx, input }) => migrationDryRun(deps(ctx), input)),
  /** Applies one migration to one environment (audited). */
  applyMigration: adminProcedure.input(applyMigrationInput).mutation(({ ctx, input }) => applyMigration(deps(ctx), ctx.user, input)),
});
