import "server-only";
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import { hasRole, type Role } from "~/lib/roles";
import { getAuth } from "../auth";
import { getConfig, publicUrl, type PikselConfig } from "../config";
import { getDb, type Db } from "../db";
import { AppError } from "../errors";
import { getLogger, type Logger } from "../logger";
import { getPorts, type EnvironmentPorts } from "../ports";

/** The signed-in user as procedures see it. */
export interface SessionUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export interface Context {
  db: Db;
  config: PikselConfig;
  /** Ports of each environment, by name (STYLE.md 9). */
  ports: Map<string, EnvironmentPorts>;
  log: Logger;
  user: SessionUser | null;
  headers: Headers;
}

/** Builds the context of one request: the session from its cookie, and the process-wide ports. */
export async function createContext(opts: { headers: Headers }): Promise<Context> {
  const session = await getAuth().api.getSession({ headers: opts.headers });
  const u = session?.user as { id: string; email: string; name: string; role?: string } | undefined;
  return {
    db: getDb(),
    config: getConfig(),
    ports: getPorts(),
    log: getLogger(),
    headers: opts.headers,
    user: u ? { id: u.id, email: u.email, name: u.name, role: (u.role ?? "viewer") as Role } : null,
  };
}

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    return {
      ...shape,
      data: {
        ...shape.data,
        // Field errors of an invalid input, so forms can point at the field.
        zod: cause instanceof ZodError ? cause.flatten() : null,
        detail: cause instanceof AppError ? (cause.detail ?? null) : null,
      },
    };
  },
});

export const createCallerFactory = t.createCallerFactory;
export const router = t.router;

/** Maps expected failures once (STYLE.md 6); anything else stays an internal error and is logged. */
const appErrors = t.middleware(async ({ next, ctx, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof AppError) {
      throw new TRPCError({ code: cause.code, message: cause.message, cause });
    }
    if (result.error.code === "INTERNAL_SERVER_ERROR") ctx.log.error({ err: result.error.cause ?? result.error, path }, "procedure failed");
  }
  return result;
});

function sameOrigin(origin: string, ctx: Context): boolean {
  const trusted = new Set([new URL(publicUrl(ctx.config)).origin]);
  const host = ctx.headers.get("x-forwarded-host") ?? ctx.headers.get("host");
  if (host) {
    const proto = ctx.headers.get("x-forwarded-proto") ?? new URL(publicUrl(ctx.config)).protocol.replace(":", "");
    trusted.add(`${proto}://${host}`);
  }
  return trusted.has(origin);
}

/**
 * CSRF: a state-changing call must come from the console's own origin. Browsers send Origin and
 * Sec-Fetch-Site on every POST, so a cross-site form or fetch is refused here even with a cookie.
 */
const csrf = t.middleware(({ ctx, type, next }) => {
  if (type === "mutation") {
    const origin = ctx.headers.get("origin");
    if (ctx.headers.get("sec-fetch-site") === "cross-site" || (origin && !sameOrigin(origin, ctx))) {
      throw new TRPCError({ code: "FORBIDDEN", message: "Cross-site request refused: state-changing calls must come from the console itself." });
    }
  }
  return next();
});

/** Anyone, signed in or not. */
export const publicProcedure = t.procedure.use(appErrors).use(csrf);

const requireRole = (role: Role) =>
  t.middleware(({ ctx, next }) => {
    if (!ctx.user) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in to continue." });
    if (!hasRole(ctx.user.role, role)) {
      throw new TRPCError({ code: "FORBIDDEN", message: `This needs the ${role} role; you are signed in as ${ctx.user.role}.` });
    }
    return next({ ctx: { ...ctx, user: ctx.user } });
  });

/** Any signed-in user. */
export const viewerProcedure = publicProcedure.use(requireRole("viewer"));
/** Requesters and above: submit product requests. */
export const requesterProcedure = publicProcedure.use(requireRole("requester"));
/** Approvers and above: approve, promote, roll back. */
export const approverProcedure = publicProcedure.use(requireRole("approver"));
/** Operators/admins: indexing, index migrations, users. */
export const adminProcedure = publicProcedure.use(requireRole("admin"));
