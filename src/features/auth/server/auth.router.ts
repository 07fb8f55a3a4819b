import "server-only";
import { adminProcedure, publicProcedure, router } from "~/server/trpc/init";
import { setRoleInput } from "../auth.schema";
import { listUsers, setRole } from "./users.service";

export const authRouter = router({
  /** The signed-in user, or null. */
  me: publicProcedure.query(({ ctx }) => ctx.user),
  /** Every user with their role (admin). */
  users: adminProcedure.query(({ ctx }) => listUsers(ctx.db)),
  /** Changes a user's role (admin; audited). */
  setRole: adminProcedure.input(setRoleInput).mutation(({ ctx, input }) => setRole(ctx.db, ctx.user, input)),
});
