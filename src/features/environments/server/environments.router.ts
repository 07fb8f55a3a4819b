import "server-only";
import { router, viewerProcedure } from "~/server/trpc/init";
import { environmentsReadiness, listEnvironments } from "./environments.service";

export const environmentsRouter = router({
  /** The configured environments in promotion order, with their drivers. */
  list: viewerProcedure.query(({ ctx }) => listEnvironments(ctx.config, ctx.ports)),
  /** Live reachability of every port of every environment. */
  readiness: viewerProcedure.query(({ ctx }) => environmentsReadiness(ctx.db, ctx.ports)),
});
