import "server-only";
import type { RangeRequest } from "~/server/drivers/objects";
import { AppError, type AppErrorCode } from "~/server/errors";

/** HTTP helpers of the outputs route handlers. */

const STATUS: Record<AppErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
};

/**
 * Runs a route handler's body and turns an AppError into its status with `{ error }` as JSON.
 * Anything else is a bug and propagates (Next answers 500 and logs it).
 */
export async function withAppErrors(fn: () => Promise<Response>): Promise<Response> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError) return Response.json({ error: err.message }, { status: STATUS[err.code], headers: { "cache-control": "no-store" } });
    throw err;
  }
}

/**
 * The one range of a `Range` header, or undefined when the whole object is to be sent: no header,
 * another unit, several ranges, or a syntactically invalid one (RFC 9110 14.2 lets a server ignore
 * those; GDAL, browsers and QGIS ask for one range at a time).
 */
export function parseRangeHeader(value: string | null): RangeRequest | undefined {
  if (value === null) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m) return undefined;
  const [, a, b] = m as unknown as [string, string, string];
  if (a === "" && b === "") return undefined;
  if (a === "") return Number(b) > 0 ? { suffix: Number(b) } : undefined;
  const start = Number(a);
  const end = b === "" ? undefined : Number(b);
  if (!Number.isSafeInteger(start) || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) return undefined;
  return { start, ...(end !== undefined && { end }) };
}

/** Whether an `If-None-Match` header matches the entity tag (weak comparison, as RFC 9110 13.1.2 asks for). */
export function matchesIfNoneMatch(header: string | null, etag: string): boolean {
  if (header === null) return false;
  if (header.trim() === "*") return true;
  const bare = (t: string) => t.trim().replace(/^W\//, "");
  return header.split(",").some((t) => bare(t) === bare(etag));
}
