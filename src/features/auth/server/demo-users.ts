import "server-only";
import { randomUUID } from "node:crypto";
import { hashPassword } from "better-auth/crypto";
import type { Role } from "~/lib/roles";
import type { Db } from "~/server/db";

/** The demo accounts of the embedded default: one per role, and two approvers because prod needs two. */
export const DEMO_PASSWORD = "piksel-demo";
export const DEMO_USERS: { email: string; name: string; role: Role }[] = [
  { email: "viewer@piksel.local", name: "Vera Viewer", role: "viewer" },
  { email: "requester@piksel.local", name: "Rudi Requester", role: "requester" },
  { email: "approver@piksel.local", name: "Ayu Approver", role: "approver" },
  { email: "approver2@piksel.local", name: "Budi Approver", role: "approver" },
  { email: "admin@piksel.local", name: "Adi Admin", role: "admin" },
];

/**
 * Creates a local account (hashed password, Better Auth's `credential` provider) unless the email
 * exists; returns the user. A factory that tests reuse (STYLE.md 11).
 */
export async function createLocalUser(db: Db, input: { email: string; name: string; role: Role; password: string }) {
  const existing = await db.user.findUnique({ where: { email: input.email } });
  if (existing) return existing;
  const id = randomUUID();
  const password = await hashPassword(input.password);
  return db.user.create({
    data: {
      id,
      email: input.email,
      name: input.name,
      role: input.role,
      emailVerified: true,
      accounts: { create: { id: randomUUID(), accountId: id, providerId: "credential", password } },
    },
  });
}

/** Seeds the demo users (idempotent: existing accounts keep their password and role). */
export async function seedDemoUsers(db: Db): Promise<void> {
  for (const u of DEMO_USERS) await createLocalUser(db, { ...u, password: DEMO_PASSWORD });
}
