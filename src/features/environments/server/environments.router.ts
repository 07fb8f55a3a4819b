import "server-only";
import { router, viewerProcedure } from "~/server/trpc/init";
import { environmentsMatrix, environmentsReadiness, listEnvironments } from "./environments.service";
import { getObserver } from "./observer";

export const environmentsRouter = router({
  /** The configured environments in promotion order, with their drivers. */
  list: viewerProcedure.query(({ ctx }) => listEnvironments(ctx.config, ctx.ports)),
  /** Live reachability of every port of every environment. */
  readiness: viewerProcedure.query(({ ctx }) => environmentsReadiness(ctx.db, ctx.ports)),
  /** Images x environments: desired tag and digest, what runs, Flux state, drift. */
  matrix: viewerProcedure.query(({ ctx }) => environmentsMatrix(ctx.config, getObserver())),
});
