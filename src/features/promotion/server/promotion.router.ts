import "server-only";
import { router, viewerProcedure } from "~/server/trpc/init";
import { gitopsOverview } from "./promotion.service";

export const promotionRouter = router({
  /** Per environment: GitOps branch head and registry tag count. */
  gitops: viewerProcedure.query(({ ctx }) => gitopsOverview(ctx.config, ctx.ports)),
});
