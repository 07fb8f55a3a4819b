import "server-only";
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { hasRole, type Role } from "~/lib/roles";
import { getAuth } from "~/server/auth";
import { getConfig } from "~/server/config";
import type { SessionUser } from "~/server/trpc/init";
import { DEMO_PASSWORD, DEMO_USERS } from "./demo-users";

/** The signed-in user of the current request, or null (server components and route handlers). */
export async function getSessionUser(): Promise<SessionUser | null> {
  const session = await getAuth().api.getSession({ headers: await headers() });
  const u = session?.user as { id: string; email: string; name: string; role?: Role } | undefined;
  return u ? { id: u.id, email: u.email, name: u.name, role: u.role ?? "viewer" } : null;
}

/** The signed-in user, or a redirect to the sign-in page (and to the console home for a missing role). */
export async function requireUser(role: Role = "viewer"): Promise<SessionUser> {
  const user = await getSessionUser();
  if (!user) redirect("/sign-in");
  if (!hasRole(user.role, role)) redirect(`/environments?denied=${encodeURIComponent(role)}`);
  return user;
}

/** What the sign-in page offers: local accounts, an OIDC button, and the demo users of the embedded default. */
export function signInOptions() {
  const config = getConfig();
  const embedded = !config.database.url;
  return {
    local: config.auth.mode === "local",
    oidc: config.auth.mode === "oidc",
    demoUsers: embedded && config.auth.mode === "local" ? DEMO_USERS.map(({ email, role }) => ({ email, role })) : [],
    demoPassword: embedded ? DEMO_PASSWORD : null,
  };
}
