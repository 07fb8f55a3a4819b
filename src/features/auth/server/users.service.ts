import "server-only";
import { recordAudit } from "~/features/audit/server/audit.service";
import type { Db } from "~/server/db";
import { AppError } from "~/server/errors";
import type { SessionUser } from "~/server/trpc/init";
import type { SetRoleInput } from "../auth.schema";

/** All users with their roles, for the admin's Users page. */
export function listUsers(db: Db) {
  return db.user.findMany({ orderBy: { email: "asc" }, select: { id: true, email: true, name: true, role: true, createdAt: true } });
}

/** Changes a user's role; an admin cannot demote themself (there must stay someone to undo it). */
export async function setRole(db: Db, actor: SessionUser, input: SetRoleInput) {
  if (input.userId === actor.id && input.role !== "admin") {
    throw new AppError("BAD_REQUEST", "You cannot remove your own admin role; ask another admin.");
  }
  return db.$transaction(async (tx) => {
    const user = await tx.user.findUnique({ where: { id: input.userId } });
    if (!user) throw new AppError("NOT_FOUND", `No user with id ${input.userId}.`);
    if (user.role === input.role) return user;
    const updated = await tx.user.update({ where: { id: user.id }, data: { role: input.role } });
    await recordAudit(tx, { actor, action: "role-change", subjectType: "user", subjectId: user.email, detail: { from: user.role, to: input.role } });
    return updated;
  });
}
