import "server-only";
import { betterAuth } from "better-auth";
import { decodeJwt } from "jose";
import { prismaAdapter } from "better-auth/adapters/prisma";
import { nextCookies } from "better-auth/next-js";
import { genericOAuth } from "better-auth/plugins/generic-oauth";
import { recordAudit } from "~/features/audit/server/audit.service";
import { roleFromGroups, type Role } from "~/lib/roles";
import { ConfigError, getConfig, publicUrl, type PikselConfig } from "./config";
import { getDb, type Db } from "./db";

/**
 * Sign-in with Better Auth (docs/adr/0001): local accounts with scrypt-hashed passwords for the
 * embedded default, or any OpenID Connect provider with roles mapped from a groups claim.
 * Sessions are HTTP-only cookies; Better Auth refuses state-changing calls from untrusted origins.
 */
export function createAuth(db: Db, config: PikselConfig) {
  const secret = config.auth.secret;
  if (!secret) throw new ConfigError("Invalid configuration: auth.secret (PIKSEL_AUTH_SECRET): required, at least 32 characters");
  const baseURL = publicUrl(config);
  const oidc = config.auth.mode === "oidc" ? config.auth.oidc : undefined;
  return betterAuth({
    secret,
    baseURL,
    trustedOrigins: [baseURL],
    database: prismaAdapter(db, { provider: "postgresql" }),
    emailAndPassword: { enabled: config.auth.mode === "local", disableSignUp: true, minPasswordLength: 8 },
    // `input: true` is what lets mapProfileToUser set the role from the provider's groups (Better Auth
    // drops non-input fields from provider profiles). Users must not set it themselves, so the
    // self-service profile endpoint is disabled: roles change only through OIDC groups or an admin.
    user: { additionalFields: { role: { type: "string", input: true, defaultValue: "viewer" } } },
    disabledPaths: ["/update-user", "/sign-up/email"],
    session: { expiresIn: 60 * 60 * 12, updateAge: 60 * 60 },
    // Slows password guessing per client address (Better Auth's default allows 3 sign-ins per 10 s,
    // which a team behind one NAT address hits on a Monday morning).
    rateLimit: { enabled: true, window: 60, max: 300, customRules: { "/sign-in/email": { window: 60, max: 20 } } },
    advanced: { useSecureCookies: baseURL.startsWith("https://") },
    databaseHooks: {
      session: {
        create: {
          after: async (session) => {
            const user = await db.user.findUnique({ where: { id: session.userId }, select: { email: true } });
            await recordAudit(db, { actor: { id: session.userId, email: user?.email ?? session.userId }, action: "sign-in", subjectType: "user", subjectId: session.userId, detail: { userAgent: session.userAgent ?? null } });
          },
        },
      },
    },
    plugins: [
      ...(oidc
        ? [
            genericOAuth({
              config: [
                {
                  providerId: "oidc",
                  discoveryUrl: `${oidc.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`,
                  clientId: oidc.clientId,
                  clientSecret: oidc.clientSecret,
                  scopes: oidc.scopes,
                  pkce: true,
                  // Roles follow the provider's groups at every sign-in.
                  overrideUserInfo: true,
                  // Providers put the groups claim in the ID token (Cognito) or only in userinfo
                  // (Keycloak, node-oidc-provider): read both and merge them.
                  getUserInfo: (tokens) => oidcUserInfo(oidc.issuer, tokens),
                  mapProfileToUser: (profile) => ({ role: roleFromGroups((profile as Record<string, unknown>)[oidc.groupsClaim], oidc.roleMap as Record<string, Role>) }),
                },
              ],
            }),
          ]
        : []),
      nextCookies(),
    ],
  });
}

let userinfoEndpoint: Promise<string | undefined> | undefined;

/** ID-token claims merged with the userinfo response (the sub must agree; Better Auth checks it against the verified ID token). */
async function oidcUserInfo(issuer: string, tokens: { accessToken?: string; idToken?: string }) {
  const claims: Record<string, unknown> = tokens.idToken ? decodeJwt(tokens.idToken) : {};
  userinfoEndpoint ??= fetch(`${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10_000) })
    .then((r) => (r.ok ? (r.json() as Promise<{ userinfo_endpoint?: string }>) : {}))
    .then((d) => (d as { userinfo_endpoint?: string }).userinfo_endpoint)
    .catch(() => {
      userinfoEndpoint = undefined;
      return undefined;
    });
  const endpoint = await userinfoEndpoint;
  if (endpoint && tokens.accessToken) {
    const res = await fetch(endpoint, { headers: { authorization: `Bearer ${tokens.accessToken}` }, signal: AbortSignal.timeout(10_000) });
    if (res.ok) Object.assign(claims, (await res.json()) as Record<string, unknown>);
  }
  if (typeof claims.sub !== "string" || typeof claims.email !== "string") return null;
  return { ...claims, id: claims.sub, email: claims.email, name: typeof claims.name === "string" ? claims.name : claims.email, emailVerified: claims.email_verified === true || claims.email_verified === "true" };
}

export type Auth = ReturnType<typeof createAuth>;

const holder = globalThis as unknown as { pikselAuth?: Auth };
/** The process-wide auth instance. */
export function getAuth(): Auth {
  holder.pikselAuth ??= createAuth(getDb(), getConfig());
  return holder.pikselAuth;
}
