import "server-only";
import { auditRouter } from "~/features/audit/server/audit.router";
import { authRouter } from "~/features/auth/server/auth.router";
import { coverageRouter } from "~/features/coverage/server/coverage.router";
import { environmentsRouter } from "~/features/environments/server/environments.router";
import { indexingRouter } from "~/features/indexing/server/indexing.router";
import { promotionRouter } from "~/features/promotion/server/promotion.router";
import { requestsRouter } from "~/features/requests/server/requests.router";
import { createCallerFactory, router } from "./init";

/** One route table for the whole console; keys are glossary words (STYLE.md 10). */
export const appRouter = router({
  auth: authRouter,
  environments: environmentsRouter,
  promotion: promotionRouter,
  indexing: indexingRouter,
  coverage: coverageRouter,
  requests: requestsRouter,
  audit: auditRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
