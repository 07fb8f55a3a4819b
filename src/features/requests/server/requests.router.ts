import "server-only";
import { getObserver } from "~/features/environments/server/observer";
import { requesterProcedure, router, viewerProcedure, type Context } from "~/server/trpc/init";
import { listRequestsInput, planRequestInput, requestIdInput, retryTasksInput, submitRequestInput } from "../requests.schema";
import { planRequest } from "./plan.service";
import { nudgeRequestEngine } from "./request.engine";
import { cancelRequest, getRequest, listRequests, requestOutputs, retryFailedTasks, submitRequest, type RequestDeps } from "./request.service";

const deps = (ctx: Context): RequestDeps => ({ db: ctx.db, config: ctx.config, ports: ctx.ports, observer: getObserver(), log: ctx.log });

export const requestsRouter = router({
  /** The tiles an AOI and year make, with the scenes found per tile (before anything is submitted). */
  plan: requesterProcedure.input(planRequestInput).query(({ ctx, input }) => planRequest(ctx, ctx.user.role, input)),
  /** Creates the request and its Job with the digest deployed in the environment. */
  submit: requesterProcedure.input(submitRequestInput).mutation(async ({ ctx, input }) => {
    const result = await submitRequest(deps(ctx), ctx.user, input);
    nudgeRequestEngine();
    return result;
  }),
  /** Newest first; `mine` or `all`, by environment and state. */
  list: viewerProcedure.input(listRequestsInput).query(({ ctx, input }) => listRequests(ctx, ctx.user, input)),
  /** One request with its tasks (the request page polls it). */
  get: viewerProcedure.input(requestIdInput).query(({ ctx, input }) => getRequest(ctx, ctx.user, input.id)),
  /** The finished tiles' files (download URLs), STAC items, a Python snippet and recompute commands. */
  outputs: viewerProcedure.input(requestIdInput).query(({ ctx, input }) => requestOutputs(ctx, input.id)),
  /** Deletes the request's Jobs; finished tiles stay. The requester or an approver. */
  cancel: requesterProcedure.input(requestIdInput).mutation(async ({ ctx, input }) => {
    await cancelRequest(deps(ctx), ctx.user, input.id);
    nudgeRequestEngine();
  }),
  /** Runs failed tiles again. The requester or an approver. */
  retry: requesterProcedure.input(retryTasksInput).mutation(async ({ ctx, input }) => {
    const result = await retryFailedTasks(deps(ctx), ctx.user, input);
    nudgeRequestEngine();
    return result;
  }),
});
