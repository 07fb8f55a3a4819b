import "server-only";
import { requesterProcedure, router } from "~/server/trpc/init";
import { planRequestInput } from "../requests.schema";
import { planRequest } from "./plan.service";

export const requestsRouter = router({
  /** The tiles an AOI and year make, with the scenes found per tile (before anything is submitted). */
  plan: requesterProcedure.input(planRequestInput).query(({ ctx, input }) => planRequest(ctx, ctx.user.role, input)),
});
