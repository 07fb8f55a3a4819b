import "server-only";
import type pg from "pg";
import { recordAudit } from "~/features/audit/server/audit.service";
import { indexDatabaseUrl, type PikselConfig } from "~/server/config";
import type { Db } from "~/server/db";
import { AppError } from "~/server/errors";
import type { Logger } from "~/server/logger";
import { indexDatabasePool } from "~/server/odc/migrations/database";
import { loadIndexMigrations, MigrationFilesError, type IndexMigration } from "~/server/odc/migrations/files";
import { applyRefusal, migrationMatrix, type EnvironmentMigrations, type MigrationMatrix } from "~/server/odc/migrations/promotion";
import { appliedMigrations, applyIndexMigration, type AppliedMigration } from "~/server/odc/migrations/runner";
import type { ApplyMigrationInput, MigrationDryRunInput } from "../indexing.schema";

/**
 * Index schema migrations per environment (index-migrations/, docs/adr/0010-indexing.md): state,
 * dry run and apply, under the promotion rule dev -> staging -> prod (the order of
 * `config.environments`). Every apply, refused or failed attempt included, is audited as
 * `index.migration`.
 */

/** What reading states and dry runs need. */
export interface MigrationReadDeps {
  config: PikselConfig;
  log: Logger;
  /** The folder of the migration files; default: the shipped `index-migrations/`. */
  migrationsDir?: string;
  /** The index database of an environment; default: a process-wide pool on its configured URL. */
  indexDb?: (environment: string) => pg.Pool;
}

/** Applying needs the app database too: no apply without its audit record. */
export interface MigrationDeps extends MigrationReadDeps {
  db: Pick<Db, "auditEvent">;
}

export interface Actor {
  id?: string | null;
  email: string;
}

function files(deps: MigrationReadDeps): IndexMigration[] {
  try {
    return loadIndexMigrations(deps.migrationsDir);
  } catch (err) {
    if (err instanceof MigrationFilesError) throw new AppError("PRECONDITION_FAILED", err.message);
    throw err;
  }
}

function pool(deps: MigrationReadDeps, environment: string): pg.Pool {
  if (deps.indexDb) return deps.indexDb(environment);
  const env = deps.config.environments.find((e) => e.name === environment);
  if (!env) throw new AppError("NOT_FOUND", `No environment "${environment}". Configured: ${deps.config.environments.map((e) => e.name).join(", ")}.`);
  return indexDatabasePool(indexDatabaseUrl(deps.config, env));
}

const unreachable = (err: unknown) => {
  const e = err as { code?: string; message?: string };
  return e.code === "ECONNREFUSED" ? "connection refused" : (e.message ?? String(err));
};

/** What each environment has applied, in promotion order; an unreadable one is marked, not fatal. */
async function environmentStates(deps: MigrationReadDeps): Promise<EnvironmentMigrations[]> {
  return Promise.all(
    deps.config.environments.map(async (e): Promise<EnvironmentMigrations> => {
      try {
        return { environment: e.name, applied: await appliedMigrations(pool(deps, e.name)) };
      } catch (err) {
        deps.log.warn({ err, environment: e.name }, "cannot read the index migrations of this environment");
        return { environment: e.name, applied: null, error: unreachable(err) };
      }
    }),
  );
}

/** Every migration's state in every environment (viewers see it on the Indexing page). */
export async function listMigrations(deps: MigrationReadDeps): Promise<MigrationMatrix> {
  return migrationMatrix(files(deps), await environmentStates(deps));
}

export interface DryRun {
  environment: string;
  /** What applying would run, in order: one migration, or every pending one. */
  migrations: { name: string; checksum: string; sql: string }[];
  /** Why applying the first of them would be refused now; null when it would run. */
  refusal: string | null;
}

/** The SQL that applying would run, without running it. */
export async function migrationDryRun(deps: MigrationReadDeps, input: MigrationDryRunInput): Promise<DryRun> {
  const all = files(deps);
  const envs = await environmentStates(deps);
  const env = envs.find((e) => e.environment === input.environment);
  if (!env) throw new AppError("NOT_FOUND", `No environment "${input.environment}".`);
  if (env.applied === null) throw new AppError("PRECONDITION_FAILED", `Cannot read the index of ${input.environment}: ${env.error}`);
  const done = new Set(env.applied.map((a) => a.name));
  let selected: IndexMigration[];
  if (input.name) {
    const one = all.find((m) => m.name === input.name);
    if (!one) throw new AppError("NOT_FOUND", `No index migration ${input.name} in this build.`);
    selected = [one];
  } else selected = all.filter((m) => !done.has(m.name));
  const refusal = selected[0] ? applyRefusal(all, envs, input.environment, selected[0].name) : undefined;
  return { environment: input.environment, migrations: selected.map((m) => ({ name: m.name, checksum: m.checksum, sql: m.sql })), refusal: refusal?.message ?? null };
}

/**
 * Applies one migration to one environment, if the rule allows it now. The rule is checked again
 * under the database lock with what the environment has applied at that moment, so two admins (or
 * the console and the CLI) cannot both apply it.
 */
export async function applyMigration(deps: MigrationDeps, actor: Actor, input: ApplyMigrationInput): Promise<AppliedMigration> {
  const all = files(deps);
  const envs = await environmentStates(deps);
  const audit = (detail: Record<string, string | number>) =>
    recordAudit(deps.db, { actor, action: "index.migration", environment: input.environment, subjectType: "index-migration", subjectId: input.name, detail });
  const refuse = async (r: { code: AppError["code"]; message: string }): Promise<never> => {
    await audit({ outcome: "refused", reason: r.message });
    throw new AppError(r.code, r.message);
  };
  const early = applyRefusal(all, envs, input.environment, input.name);
  if (early) {
    if (early.code === "NOT_FOUND") throw new AppError(early.code, early.message);
    return refuse(early);
  }
  const migration = all.find((m) => m.name === input.name)!;
  const started = performance.now();
  // Set by the check under the lock; read after the rollback to audit the refusal.
  const underLock: { refusal?: { code: AppError["code"]; message: string } } = {};
  try {
    const applied = await applyIndexMigration(pool(deps, input.environment), migration, actor.email, (current) => {
      const fresh = envs.map((e) => (e.environment === input.environment ? { ...e, applied: current } : e));
      underLock.refusal = applyRefusal(all, fresh, input.environment, input.name);
      if (underLock.refusal) throw new AppError(underLock.refusal.code, underLock.refusal.message);
    });
    await audit({ outcome: "applied", checksum: migration.checksum, durationMs: Math.round(performance.now() - started) });
    deps.log.info({ environment: input.environment, migration: input.name, by: actor.email }, "applied an index migration");
    return applied;
  } catch (err) {
    if (underLock.refusal) return refuse(underLock.refusal);
    if (err instanceof AppError) throw err;
    // The migration's SQL failed; its transaction rolled back, so the index is as it was.
    const message = `Index migration ${input.name} failed in ${input.environment} and was rolled back: ${(err as Error).message}`;
    await audit({ outcome: "failed", checksum: migration.checksum, error: (err as Error).message });
    throw new AppError("PRECONDITION_FAILED", message);
  }
}

/** Applies every pending migration of one environment in order, stopping at the first the rule refuses. */
export async function applyPendingMigrations(deps: MigrationDeps, actor: Actor, environment: string): Promise<AppliedMigration[]> {
  const all = files(deps);
  const applied: AppliedMigration[] = [];
  const done = new Set((await appliedMigrations(pool(deps, environment))).map((a) => a.name));
  for (const m of all.filter((f) => !done.has(f.name))) applied.push(await applyMigration(deps, actor, { environment, name: m.name }));
  return applied;
}

/**
 * Applies every pending migration to every environment in promotion order (dev, then staging, then
 * prod): for the embedded default's start-up, where the environments are local copies of one schema.
 */
export async function applyPendingInPromotionOrder(deps: MigrationDeps, actor: Actor): Promise<{ environment: string; applied: string[] }[]> {
  const out: { environment: string; applied: string[] }[] = [];
  for (const env of deps.config.environments) {
    out.push({ environment: env.name, applied: (await applyPendingMigrations(deps, actor, env.name)).map((a) => a.name) });
  }
  return out;
}
