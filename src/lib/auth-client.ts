import { createAuthClient } from "better-auth/react";

/**
 * Browser side of Better Auth; talks to /api/auth on the console's own origin. The OIDC provider
 * (server plugin generic-oauth, id "oidc") signs in through `signIn.social({ provider: "oidc" })`.
 */
export const authClient = createAuthClient();
