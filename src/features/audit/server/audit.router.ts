import "server-only";
import { router, viewerProcedure } from "~/server/trpc/init";
import { listAuditInput } from "../audit.schema";
import { listAudit } from "./audit.service";

export const auditRouter = router({
  /** Audit events, newest first, filtered by action, environment and actor. */
  list: viewerProcedure.input(listAuditInput).query(({ ctx, input }) => listAudit(ctx.db, input)),
});
