import "server-only";
import type { Db } from "~/server/db";
import type { Prisma } from "~/generated/prisma/client";
import type { AuditAction, AuditEventView, ListAuditInput } from "../audit.schema";

export interface AuditEntry {
  actor: { id?: string | null; email: string };
  action: AuditAction;
  environment?: string | null;
  subjectType: string;
  subjectId: string;
  fromDigest?: string | null;
  toDigest?: string | null;
  gitCommit?: string | null;
  detail?: Prisma.InputJsonValue;
}

/** Appends one event. The table refuses UPDATE and DELETE (trigger in the first migration). */
export async function recordAudit(db: Pick<Db, "auditEvent">, entry: AuditEntry): Promise<void> {
  await db.auditEvent.create({
    data: {
      actorId: entry.actor.id ?? null,
      actorEmail: entry.actor.email,
      action: entry.action,
      environment: entry.environment ?? null,
      subjectType: entry.subjectType,
      subjectId: entry.subjectId,
      fromDigest: entry.fromDigest ?? null,
      toDigest: entry.toDigest ?? null,
      gitCommit: entry.gitCommit ?? null,
      detail: entry.detail ?? {},
    },
  });
}

/** Newest first, filtered; `cursor` pages backwards by id. */
export async function listAudit(db: Db, input: ListAuditInput): Promise<{ events: AuditEventView[]; nextBefore: string | null }> {
  const rows = await db.auditEvent.findMany({
    where: {
      ...(input.action && { action: input.action }),
      ...(input.environment && { environment: input.environment }),
      ...(input.actor && { actorEmail: { contains: input.actor, mode: "insensitive" as const } }),
      ...(input.cursor && { id: { lt: BigInt(input.cursor) } }),
    },
    orderBy: { id: "desc" },
    take: input.limit + 1,
  });
  const page = rows.slice(0, input.limit);
  return {
    events: page.map((r) => ({ ...r, id: r.id.toString(), detail: r.detail })),
    nextBefore: rows.length > input.limit ? page[page.length - 1]!.id.toString() : null,
  };
}

/** Every matching event, oldest first, for export (bounded so one request cannot exhaust memory). */
export async function exportAudit(db: Db, filter: { action?: string; environment?: string; actor?: string }, max = 100_000): Promise<AuditEventView[]> {
  const rows = await db.auditEvent.findMany({
    where: {
      ...(filter.action && { action: filter.action }),
      ...(filter.environment && { environment: filter.environment }),
      ...(filter.actor && { actorEmail: { contains: filter.actor, mode: "insensitive" as const } }),
    },
    orderBy: { id: "asc" },
    take: max,
  });
  return rows.map((r) => ({ ...r, id: r.id.toString(), detail: r.detail }));
}

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? "" : v instanceof Date ? v.toISOString() : typeof v === "object" ? JSON.stringify(v) : String(v);
  // Quote everything that needs it, and neutralise spreadsheet formulas (CSV injection).
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) || safe !== s ? `"${safe.replace(/"/g, '""')}"` : safe;
};

/** RFC 4180 CSV of audit events. */
export function auditToCsv(events: AuditEventView[]): string {
  const cols = ["id", "at", "actorEmail", "action", "environment", "subjectType", "subjectId", "fromDigest", "toDigest", "gitCommit", "detail"] as const;
  return [cols.join(","), ...events.map((e) => cols.map((c) => csvCell(e[c])).join(","))].join("\r\n") + "\r\n";
}
