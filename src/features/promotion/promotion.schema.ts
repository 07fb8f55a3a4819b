import { z } from "zod";

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, "a digest such as sha256:<64 hex characters>");
const environment = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "an environment name such as prod");
const imageName = z.string().min(1).max(200);
const note = z.string().trim().max(2000).optional();

export const promoteImageInput = z.object({
  environment,
  imageName,
  digest,
  note,
  /** Admins only: promote inside a freeze window, with the reason (audited). */
  overrideFreezeReason: z.string().trim().min(10, "say why the freeze is overridden (10 characters at least)").max(2000).optional(),
});
export type PromoteImageInput = z.infer<typeof promoteImageInput>;

export const rollbackInput = z.object({
  environment,
  imageName,
  digest,
  note: z.string().trim().min(3, "say why you roll back").max(2000),
  /** Admins only: roll back inside a freeze window (an incident), with the reason (audited). */
  overrideFreezeReason: z.string().trim().min(10, "say why the freeze is overridden (10 characters at least)").max(2000).optional(),
});
export type RollbackInput = z.infer<typeof rollbackInput>;

export const previewPromotionInput = z.object({ environment, imageName, digest: digest.optional(), kind: z.enum(["promote", "rollback"]).default("promote") });
export type PreviewPromotionInput = z.infer<typeof previewPromotionInput>;

export const decideInput = z.object({ id: z.string().min(1), note });
export type DecideInput = z.infer<typeof decideInput>;

export const listPromotionsInput = z.object({
  environment: environment.optional(),
  state: z.enum(["pending", "approved", "committed", "reconciling", "deployed", "failed", "rejected"]).optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export type ListPromotionsInput = z.infer<typeof listPromotionsInput>;

export const recordValidationInput = z.object({
  environment,
  digest,
  name: z.string().trim().min(1).max(100),
  passed: z.boolean(),
  note: z.string().trim().min(3, "add a note saying what was checked").max(2000),
});
export type RecordValidationInput = z.infer<typeof recordValidationInput>;

/** The steps a promotion goes through, in order (the UI draws them). */
export const promotionSteps = ["requested", "approved", "committed", "reconciling", "deployed"] as const;
