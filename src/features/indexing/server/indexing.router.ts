import "server-only";
import { router, viewerProcedure } from "~/server/trpc/init";
import { indexOverview } from "./indexing.service";

export const indexingRouter = router({
  /** Per environment: index reachability and dataset counts per product. */
  overview: viewerProcedure.query(({ ctx }) => indexOverview(ctx.ports)),
});
