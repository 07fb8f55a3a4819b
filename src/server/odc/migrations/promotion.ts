import "server-only";
import type { IndexMigration } from "./files";
import type { AppliedMigration } from "./runner";

/**
 * The promotion rule of index migrations (DESIGN.md section 1): they run in file order, and an
 * environment only takes a migration already applied, with the same checksum, to the environment
 * before it on the promotion path (the order of `config.environments`: dev, staging, prod). Pure.
 */

export type MigrationState =
  /** Applied here, the file unchanged. */
  | "applied"
  /** Applied here, but the file's checksum differs from what was applied: someone edited it. */
  | "changed"
  /** Not applied here, and may be applied now. */
  | "ready"
  /** Not applied here, and may not be yet (see `reason`). */
  | "blocked"
  /** This environment's index database could not be read. */
  | "unavailable";

export interface EnvironmentMigrations {
  environment: string;
  /** null when the index database could not be read. */
  applied: AppliedMigration[] | null;
  error?: string;
}

export interface MigrationCell {
  state: MigrationState;
  appliedAt?: Date;
  appliedBy?: string;
  /** Why it is blocked, changed or unavailable, in words for people. */
  reason?: string;
}

export interface MigrationRow {
  name: string;
  checksum: string;
  cells: Record<string, MigrationCell>;
}

export interface MigrationMatrix {
  environments: string[];
  rows: MigrationRow[];
  /** Applied somewhere but not among the files: applied by a newer build of the console. */
  unknown: { environment: string; name: string; appliedAt: Date }[];
}

/** Every migration's state in every environment, in promotion order. */
export function migrationMatrix(files: readonly IndexMigration[], envs: readonly EnvironmentMigrations[]): MigrationMatrix {
  const byEnv = envs.map((e) => ({ ...e, map: new Map((e.applied ?? []).map((a) => [a.name, a])) }));
  const rows: MigrationRow[] = files.map((f, fi) => {
    const cells: Record<string, MigrationCell> = {};
    byEnv.forEach((env, ei) => {
      if (env.applied === null) {
        cells[env.environment] = { state: "unavailable", reason: env.error ?? "the index database could not be read" };
        return;
      }
      const applied = env.map.get(f.name);
      if (applied) {
        cells[env.environment] =
          applied.checksum === f.checksum
            ? { state: "applied", appliedAt: applied.appliedAt, appliedBy: applied.appliedBy }
            : { state: "changed", appliedAt: applied.appliedAt, appliedBy: applied.appliedBy, reason: `index-migrations/${f.name}.sql was edited after it was applied to ${env.environment}; restore it and put the change in a new migration` };
        return;
      }
      const changed = files.find((g) => {
        const a = env.map.get(g.name);
        return a !== undefined && a.checksum !== g.checksum;
      });
      const earlier = files.slice(0, fi).find((g) => !env.map.has(g.name));
      const previous = ei > 0 ? byEnv[ei - 1]! : undefined;
      const inPrevious = previous?.map.get(f.name);
      let reason: string | undefined;
      if (changed) reason = `${changed.name} was edited after it was applied to ${env.environment}; nothing more is applied here until that is resolved`;
      else if (earlier) reason = `apply ${earlier.name} to ${env.environment} first`;
      else if (previous && previous.applied === null) reason = `cannot confirm it is applied to ${previous.environment} (${previous.error ?? "unreadable"})`;
      else if (previous && !inPrevious) reason = `apply it to ${previous.environment} first (promotion order ${byEnv.map((e) => e.environment).join(" → ")})`;
      else if (previous && inPrevious && inPrevious.checksum !== f.checksum) reason = `${previous.environment} applied a different version of it (checksum ${inPrevious.checksum.slice(0, 12)}…)`;
      cells[env.environment] = reason ? { state: "blocked", reason } : { state: "ready" };
    });
    return { name: f.name, checksum: f.checksum, cells };
  });
  const known = new Set(files.map((f) => f.name));
  const unknown = byEnv.flatMap((e) => (e.applied ?? []).filter((a) => !known.has(a.name)).map((a) => ({ environment: e.environment, name: a.name, appliedAt: a.appliedAt })));
  return { environments: envs.map((e) => e.environment), rows, unknown };
}

export interface Refusal {
  code: "NOT_FOUND" | "CONFLICT" | "PRECONDITION_FAILED";
  message: string;
}

/** Why `name` may not be applied to `environment` now, or undefined when it may. */
export function applyRefusal(files: readonly IndexMigration[], envs: readonly EnvironmentMigrations[], environment: string, name: string): Refusal | undefined {
  if (!envs.some((e) => e.environment === environment)) return { code: "NOT_FOUND", message: `No environment ${environment}` };
  const row = migrationMatrix(files, envs).rows.find((r) => r.name === name);
  if (!row) return { code: "NOT_FOUND", message: `No index migration ${name} in this build (index-migrations/${name}.sql)` };
  const cell = row.cells[environment]!;
  switch (cell.state) {
    case "ready":
      return undefined;
    case "applied":
      return { code: "CONFLICT", message: `${name} is already applied to ${environment}` };
    case "changed":
      return { code: "CONFLICT", message: `${name} is already applied to ${environment}, and ${cell.reason}` };
    default:
      return { code: "PRECONDITION_FAILED", message: `${name} cannot be applied to ${environment} yet: ${cell.reason}` };
  }
}
