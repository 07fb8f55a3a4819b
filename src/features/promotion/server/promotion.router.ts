import "server-only";
import { z } from "zod";
import { getObserver } from "~/features/environments/server/observer";
import { approverProcedure, requesterProcedure, router, viewerProcedure, type Context } from "~/server/trpc/init";
import { decideInput, listPromotionsInput, previewPromotionInput, promoteImageInput, recordValidationInput, rollbackInput } from "../promotion.schema";
import { decide, getPromotion, listPromotions, previewPromotion, recordValidation, requestPromotion, requestRollback, rollbackCandidates, type PromotionDeps } from "./promotion.service";
import { imageDetail } from "./image.service";
import { notifier } from "./notify";

const deps = (ctx: Context): PromotionDeps => ({ db: ctx.db, config: ctx.config, ports: ctx.ports, observer: getObserver(), log: ctx.log, notify: notifier(ctx.config, ctx.log) });

export const promotionRouter = router({
  /** Promotions, newest first, with their approvals. */
  list: viewerProcedure.input(listPromotionsInput).query(({ ctx, input }) => listPromotions(ctx.db, input)),
  /** One promotion with its approvals. */
  get: viewerProcedure.input(z.object({ id: z.string() })).query(({ ctx, input }) => getPromotion(ctx.db, input.id)),
  /** What a promotion or rollback would do: source, digest, unmet conditions, overlay diff. */
  preview: viewerProcedure.input(previewPromotionInput).query(({ ctx, input }) => previewPromotion(deps(ctx), input)),
  /** Requests promoting the previous environment's digest (requesters and above). */
  request: requesterProcedure.input(promoteImageInput).mutation(({ ctx, input }) => requestPromotion(deps(ctx), ctx.user, input)),
  /** Requests a rollback to a digest that ran in the environment before (approvers). */
  rollback: approverProcedure.input(rollbackInput).mutation(({ ctx, input }) => requestRollback(deps(ctx), ctx.user, input)),
  /** Digests that ran in an environment before, newest first. */
  rollbackCandidates: viewerProcedure.input(z.object({ environment: z.string(), imageName: z.string() })).query(({ ctx, input }) => rollbackCandidates(ctx.db, input.environment, input.imageName)),
  approve: approverProcedure.input(decideInput).mutation(({ ctx, input }) => decide(deps(ctx), ctx.user, input, true)),
  reject: approverProcedure.input(decideInput).mutation(({ ctx, input }) => decide(deps(ctx), ctx.user, input, false)),
  /** One digest: labels, history per environment, validations, what promoting it to prod changes. */
  image: viewerProcedure
    .input(z.object({ digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, "a digest such as sha256:<64 hex>"), imageName: z.string().min(1) }))
    .query(({ ctx, input }) => imageDetail({ ...ctx, observer: getObserver() }, input)),
  /** An approver's sign-off (or a failed check) for a digest in an environment. */
  recordValidation: approverProcedure.input(recordValidationInput).mutation(({ ctx, input }) => recordValidation(deps(ctx), ctx.user, input)),
});
