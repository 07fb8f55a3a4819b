import { z } from "zod";

/** Inputs of the indexing procedures and the `piksel index` command (STYLE.md 7). */

export const environmentName = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "an environment name such as dev");

/** [west, south, east, north] in degrees. */
export const bboxInput = z
  .tuple([z.number().min(-180).max(180), z.number().min(-90).max(90), z.number().min(-180).max(180), z.number().min(-90).max(90)])
  .refine(([w, s, e, n]) => w < e && s < n, "west < east and south < north");

/** An RFC 3339 interval `a/b`; either end may be open (`..`). */
export const datetimeInput = z
  .string()
  .regex(/^\S+\/\S+$/, "an interval such as 2024-01-01/2024-12-31")
  .refine((v) => v.split("/").every((p) => p === ".." || !Number.isNaN(Date.parse(p))), "both ends must be dates or ..")
  .refine((v) => {
    const [a, b] = v.split("/") as [string, string];
    return a === ".." || b === ".." || Date.parse(a) <= Date.parse(b);
  }, "the start must not be after the end")
  .refine((v) => v !== "../..", "at least one end must be a date");

/** What a run may override of the environment's configured scope. */
export const scopeOverrideInput = z.object({
  bbox: bboxInput.optional(),
  datetime: datetimeInput.optional(),
  collections: z.array(z.string().min(1).max(100)).min(1).max(20).optional(),
});
export type ScopeOverrideInput = z.infer<typeof scopeOverrideInput>;

export const startRunInput = scopeOverrideInput.extend({
  environment: environmentName,
  /** Stop after this many pages (the run can be continued later). */
  limitPages: z.number().int().min(1).max(1_000_000).optional(),
  /** Start the search from its first page even when an unfinished run of the same scope could be continued. */
  restart: z.boolean().default(false),
});
export type StartRunInput = z.infer<typeof startRunInput>;

export const runRef = z.object({ environment: environmentName, runId: z.number().int().positive() });
export type RunRef = z.infer<typeof runRef>;

export const runFailuresInput = runRef.extend({
  limit: z.number().int().min(1).max(500).default(100),
  /** Failures after this id (keyset pagination, oldest first). */
  after: z.number().int().min(0).optional(),
});
export type RunFailuresInput = z.infer<typeof runFailuresInput>;

export const listRunsInput = z.object({ perEnvironment: z.number().int().min(1).max(100).default(10) }).default({ perEnvironment: 10 });
export type ListRunsInput = z.infer<typeof listRunsInput>;

export const migrationName = z.string().regex(/^\d{4}_[a-z0-9_]+$/, "a migration name such as 0001_index_runs");

/** The SQL that applying would run: one migration, or every pending one of the environment. */
export const migrationDryRunInput = z.object({ environment: environmentName, name: migrationName.optional() });
export type MigrationDryRunInput = z.infer<typeof migrationDryRunInput>;

export const applyMigrationInput = z.object({ environment: environmentName, name: migrationName });
export type ApplyMigrationInput = z.infer<typeof applyMigrationInput>;

/** `--bbox w,s,e,n` of the CLI as numbers; the schema above judges them. */
export function parseBboxText(text: string): number[] {
  return text.split(",").map((p) => (p.trim() === "" ? NaN : Number(p)));
}
