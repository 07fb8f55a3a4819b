import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigration, applyPendingInPromotionOrder, applyPendingMigrations, listMigrations, migrationDryRun, type MigrationDeps } from "~/features/indexing/server/migrations.service";
import type { Role } from "~/lib/roles";
import { createLogger } from "~/server/logger";
import { indexMigrationsDir } from "~/server/odc/migrations/files";
import type { Context } from "~/server/trpc/init";
import { createCaller } from "~/server/trpc/root";
import { createAppDatabase } from "../support/databases";
import { createEnvironments } from "../support/stac/environments";

const log = createLogger({ level: "silent" });
const admin = { id: "u-admin", email: "admin@test.local" };

let app: Awaited<ReturnType<typeof createAppDatabase>>;
let envs: Awaited<ReturnType<typeof createEnvironments>>;
let dir: string;
let deps: MigrationDeps;

/**
 * A copy of the first shipped migration that a test may add to or (wrongly) edit: the promotion rule
 * is tested on it and on the test's own files, whatever later migrations ship.
 */
function migrationsCopy(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-index-migrations-"));
  fs.copyFileSync(path.join(indexMigrationsDir(), "0001_index_runs.sql"), path.join(d, "0001_index_runs.sql"));
  return d;
}

async function tables(env: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: envs.indexUrls[env] });
  await c.connect();
  const { rows } = await c.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'piksel' ORDER BY 1");
  await c.end();
  return rows.map((r) => r.t);
}

async function audits() {
  return app.db.auditEvent.findMany({ where: { action: "index.migration" }, orderBy: { id: "asc" } });
}

beforeAll(async () => {
  app = await createAppDatabase("indexing_migrations");
  envs = await createEnvironments("migr", "http://127.0.0.1:9/v1");
  dir = migrationsCopy();
  deps = { db: app.db, config: envs.config, log, migrationsDir: dir };
});
afterAll(async () => {
  await envs?.drop();
  await app?.drop();
});

const states = async () => Object.fromEntries((await listMigrations(deps)).rows.map((r) => [r.name, Object.fromEntries(Object.entries(r.cells).map(([e, c]) => [e, c.state]))]));

describe("index migrations promoted dev -> staging -> prod", () => {
  it("starts ready in dev only; staging and prod wait for the environment before them", async () => {
    const matrix = await listMigrations(deps);
    expect(matrix.environments).toEqual(["dev", "staging", "prod"]);
    expect(matrix.rows[0]).toMatchObject({
      name: "0001_index_runs",
      cells: { dev: { state: "ready" }, staging: { state: "blocked", reason: expect.stringContaining("apply it to dev first") }, prod: { state: "blocked", reason: expect.stringContaining("apply it to staging first") } },
    });
  });

  it("a dry run returns the SQL and applies nothing", async () => {
    const dry = await migrationDryRun(deps, { environment: "dev" });
    expect(dry.refusal).toBeNull();
    expect(dry.migrations.map((m) => m.name)).toEqual(["0001_index_runs"]);
    expect(dry.migrations[0]!.sql).toContain("CREATE TABLE piksel.index_run");
    expect(await tables("dev")).toEqual([]);
    expect((await migrationDryRun(deps, { environment: "prod", name: "0001_index_runs" })).refusal).toMatch(/cannot be applied to prod yet: apply it to staging first/);
  });

  it("refuses prod and staging before dev, and audits the refusal", async () => {
    await expect(applyMigration(deps, admin, { environment: "staging", name: "0001_index_runs" })).rejects.toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringContaining("apply it to dev first") });
    expect(await tables("staging")).toEqual([]);
    expect((await audits()).at(-1)).toMatchObject({ actorEmail: admin.email, environment: "staging", subjectType: "index-migration", subjectId: "0001_index_runs", detail: { outcome: "refused" } });
  });

  it("applies in promotion order, records who and when, and audits each apply", async () => {
    const dev = await applyMigration(deps, admin, { environment: "dev", name: "0001_index_runs" });
    expect(dev).toMatchObject({ name: "0001_index_runs", appliedBy: admin.email });
    expect(await tables("dev")).toEqual(["index_failure", "index_run", "schema_migration"]);
    expect(await states()).toEqual({ "0001_index_runs": { dev: "applied", staging: "ready", prod: "blocked" } });
    await applyMigration(deps, admin, { environment: "staging", name: "0001_index_runs" });
    await applyPendingMigrations(deps, { email: "cli:ops" }, "prod");
    expect(await states()).toEqual({ "0001_index_runs": { dev: "applied", staging: "applied", prod: "applied" } });
    const applied = (await audits()).filter((a) => (a.detail as { outcome: string }).outcome === "applied");
    expect(applied.map((a) => [a.environment, a.actorEmail])).toEqual([["dev", admin.email], ["staging", admin.email], ["prod", "cli:ops"]]);
    expect(applied[0]!.detail).toMatchObject({ checksum: (await listMigrations(deps)).rows[0]!.checksum });
    await expect(applyMigration(deps, admin, { environment: "dev", name: "0001_index_runs" })).rejects.toMatchObject({ code: "CONFLICT" });
  });

  it("rolls a failing migration back, says so and audits it", async () => {
    fs.writeFileSync(path.join(dir, "0002_broken.sql"), "CREATE TABLE piksel.coverage_cell (id int);\nSELEKT 1;\n");
    const err = await applyMigration(deps, admin, { environment: "dev", name: "0002_broken" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringMatching(/^Index migration 0002_broken failed in dev and was rolled back: syntax error/) });
    expect(await tables("dev")).toEqual(["index_failure", "index_run", "schema_migration"]);
    expect((await audits()).at(-1)).toMatchObject({ environment: "dev", subjectId: "0002_broken", detail: { outcome: "failed" } });
    fs.rmSync(path.join(dir, "0002_broken.sql"));
  });

  it("refuses everything while an applied migration's file has changed", async () => {
    fs.writeFileSync(path.join(dir, "0002_coverage.sql"), "CREATE TABLE piksel.coverage_cell (id int PRIMARY KEY);\n");
    expect((await states())["0002_coverage"]).toEqual({ dev: "ready", staging: "blocked", prod: "blocked" });
    const original = fs.readFileSync(path.join(dir, "0001_index_runs.sql"), "utf8");
    fs.writeFileSync(path.join(dir, "0001_index_runs.sql"), `${original}\nALTER TABLE piksel.index_run ADD COLUMN note text;\n`);
    try {
      const matrix = await listMigrations(deps);
      expect(matrix.rows[0]!.cells.dev).toMatchObject({ state: "changed", reason: expect.stringContaining("was edited after it was applied to dev") });
      expect(matrix.rows[1]!.cells.dev).toMatchObject({ state: "blocked", reason: expect.stringContaining("0001_index_runs was edited") });
      await expect(applyMigration(deps, admin, { environment: "dev", name: "0002_coverage" })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
      await expect(applyMigration(deps, admin, { environment: "dev", name: "0001_index_runs" })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("edited") });
    } finally {
      fs.writeFileSync(path.join(dir, "0001_index_runs.sql"), original);
    }
    await applyMigration(deps, admin, { environment: "dev", name: "0002_coverage" });
    expect((await states())["0002_coverage"]).toEqual({ dev: "applied", staging: "ready", prod: "blocked" });
  });

  it("refuses a version of a migration that differs from the one the previous environment applied", async () => {
    fs.writeFileSync(path.join(dir, "0002_coverage.sql"), "CREATE TABLE piksel.coverage_cell (id int PRIMARY KEY, n int);\n");
    const matrix = await listMigrations(deps);
    expect(matrix.rows[1]!.cells).toMatchObject({ dev: { state: "changed" }, staging: { state: "blocked", reason: expect.stringContaining("dev applied a different version") } });
    await expect(applyMigration(deps, admin, { environment: "staging", name: "0002_coverage" })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    fs.rmSync(path.join(dir, "0002_coverage.sql"));
  });

  it("lists an environment whose index is unreachable as unavailable, and blocks the one after it", async () => {
    const broken = { ...deps, config: { ...envs.config, environments: envs.config.environments.map((e) => (e.name === "staging" ? { ...e, index: { url: "postgres://postgres:postgres@127.0.0.1:1/none" } } : e)) } };
    fs.writeFileSync(path.join(dir, "0003_later.sql"), "SELECT 1;\n");
    try {
      const matrix = await listMigrations(broken);
      expect(matrix.rows.find((r) => r.name === "0003_later")!.cells).toMatchObject({ staging: { state: "unavailable" }, prod: { state: "blocked", reason: expect.stringContaining("cannot confirm it is applied to staging") } });
    } finally {
      fs.rmSync(path.join(dir, "0003_later.sql"));
    }
  });
});

describe("index migrations through tRPC", () => {
  function caller(role: Role) {
    const ctx: Context = { db: app.db, config: envs.config, ports: new Map(), log, user: { id: `u-${role}`, email: `${role}@test.local`, name: role, role }, headers: new Headers() };
    return createCaller(ctx);
  }
  const code = (p: Promise<unknown>) => p.then(() => "OK", (e: unknown) => (e instanceof TRPCError ? e.code : Promise.reject(e)));

  it("shows the states to viewers and keeps dry run and apply for admins", async () => {
    const matrix = await caller("viewer").indexing.migrations();
    expect(matrix.rows.map((r) => r.name)).toEqual(["0001_index_runs", "0002_coverage_summaries"]);
    expect(await code(caller("approver").indexing.migrationDryRun({ environment: "dev" }))).toBe("FORBIDDEN");
    expect(await code(caller("approver").indexing.applyMigration({ environment: "dev", name: "0001_index_runs" }))).toBe("FORBIDDEN");
    expect(await code(caller("admin").indexing.applyMigration({ environment: "dev", name: "0001_index_runs" }))).toBe("CONFLICT");
    expect(await code(caller("admin").indexing.applyMigration({ environment: "dev", name: "0099_missing" }))).toBe("NOT_FOUND");
    // The shipped 0002 is pending everywhere here: prod's dry run shows it and why it must wait.
    expect(await caller("admin").indexing.migrationDryRun({ environment: "prod" })).toMatchObject({
      environment: "prod",
      migrations: [{ name: "0002_coverage_summaries" }],
      refusal: expect.stringContaining("apply it to staging first"),
    });
  });
});

describe("start-up of the embedded default", () => {
  it("applies pending migrations to every environment in promotion order", async () => {
    const fresh = await createEnvironments("migr_startup", "http://127.0.0.1:9/v1");
    try {
      const result = await applyPendingInPromotionOrder({ db: app.db, config: fresh.config, log }, { email: "system:start-up" });
      expect(result).toEqual([
        { environment: "dev", applied: ["0001_index_runs", "0002_coverage_summaries"] },
        { environment: "staging", applied: ["0001_index_runs", "0002_coverage_summaries"] },
        { environment: "prod", applied: ["0001_index_runs", "0002_coverage_summaries"] },
      ]);
      expect(await applyPendingInPromotionOrder({ db: app.db, config: fresh.config, log }, { email: "system:start-up" })).toEqual([
        { environment: "dev", applied: [] },
        { environment: "staging", applied: [] },
        { environment: "prod", applied: [] },
      ]);
    } finally {
      await fresh.drop();
    }
  });
});
