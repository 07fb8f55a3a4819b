import { z } from "zod";

/** Actions recorded in the audit log; the list grows with the workflows that write them. */
export const auditActions = [
  "sign-in",
  "sign-out",
  "role-change",
  "promotion.request",
  "promotion.approve",
  "promotion.reject",
  "promotion.commit",
  "promotion.deployed",
  "promotion.failed",
  "promotion.rollback",
  "policy.refusal",
  "policy.override",
  "validation.record",
  "index.run",
  "index.migration",
  "coverage.refresh",
  "request.submit",
  "request.cancel",
  "request.retry",
  "request.finished",
] as const;
export type AuditAction = (typeof auditActions)[number];

export const listAuditInput = z.object({
  action: z.string().max(64).optional(),
  environment: z.string().max(64).optional(),
  actor: z.string().max(200).optional(),
  /** Events older than this id (keyset pagination, newest first). */
  cursor: z.string().regex(/^\d+$/).nullish(),
  limit: z.number().int().min(1).max(500).default(100),
});
export type ListAuditInput = z.infer<typeof listAuditInput>;

/** One audit event as the UI and exports see it. */
export const auditEvent = z.object({
  id: z.string(),
  at: z.date(),
  actorEmail: z.string(),
  action: z.string(),
  environment: z.string().nullable(),
  subjectType: z.string(),
  subjectId: z.string(),
  fromDigest: z.string().nullable(),
  toDigest: z.string().nullable(),
  gitCommit: z.string().nullable(),
  detail: z.unknown(),
});
export type AuditEventView = z.infer<typeof auditEvent>;
