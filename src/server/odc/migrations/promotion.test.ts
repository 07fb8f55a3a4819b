import { describe, expect, it } from "vitest";
import type { IndexMigration } from "./files";
import { applyRefusal, migrationMatrix, type EnvironmentMigrations } from "./promotion";

const file = (name: string, checksum = `sum-${name}`): IndexMigration => ({ name, number: Number(name.slice(0, 4)), sql: "", checksum });
const files = [file("0001_runs"), file("0002_coverage")];
const at = new Date("2026-11-01T00:00:00Z");
const applied = (...names: string[]) => names.map((n) => ({ name: n, checksum: `sum-${n}`, appliedAt: at, appliedBy: "ops@piksel" }));
const env = (environment: string, list: ReturnType<typeof applied> | null, error?: string): EnvironmentMigrations => ({ environment, applied: list, error });

const states = (envs: EnvironmentMigrations[]) => Object.fromEntries(migrationMatrix(files, envs).rows.map((r) => [r.name, Object.values(r.cells).map((c) => c.state)]));

describe("the promotion rule of index migrations", () => {
  it("offers a migration to dev first, then to each environment after the one before it", () => {
    expect(states([env("dev", []), env("staging", []), env("prod", [])])).toEqual({ "0001_runs": ["ready", "blocked", "blocked"], "0002_coverage": ["blocked", "blocked", "blocked"] });
    expect(states([env("dev", applied("0001_runs", "0002_coverage")), env("staging", applied("0001_runs")), env("prod", [])])).toEqual({
      "0001_runs": ["applied", "applied", "ready"],
      "0002_coverage": ["applied", "ready", "blocked"],
    });
  });

  it("applies migrations in file order within an environment", () => {
    const envs = [env("dev", applied("0001_runs")), env("staging", [])];
    expect(applyRefusal(files, [env("dev", [])], "dev", "0002_coverage")).toEqual({ code: "PRECONDITION_FAILED", message: "0002_coverage cannot be applied to dev yet: apply 0001_runs to dev first" });
    expect(applyRefusal(files, envs, "staging", "0001_runs")).toBeUndefined();
  });

  it("says why staging must wait, and that an applied migration is not applied twice", () => {
    const envs = [env("dev", applied("0001_runs")), env("staging", applied("0001_runs")), env("prod", [])];
    expect(applyRefusal(files, envs, "staging", "0002_coverage")?.message).toBe("0002_coverage cannot be applied to staging yet: apply it to dev first (promotion order dev → staging → prod)");
    expect(applyRefusal(files, envs, "dev", "0001_runs")).toEqual({ code: "CONFLICT", message: "0001_runs is already applied to dev" });
    expect(applyRefusal(files, envs, "dev", "0009_none")?.code).toBe("NOT_FOUND");
    expect(applyRefusal(files, envs, "qa", "0001_runs")?.code).toBe("NOT_FOUND");
  });

  it("marks an applied migration whose file changed, and holds everything after it", () => {
    const edited = [file("0001_runs", "sum-edited"), file("0002_coverage")];
    const matrix = migrationMatrix(edited, [env("dev", applied("0001_runs")), env("staging", [])]);
    expect(matrix.rows[0]!.cells.dev).toMatchObject({ state: "changed", appliedBy: "ops@piksel" });
    expect(matrix.rows[1]!.cells.dev).toMatchObject({ state: "blocked", reason: expect.stringContaining("0001_runs was edited after it was applied to dev") });
    // Staging would take a version dev never ran.
    expect(matrix.rows[0]!.cells.staging).toMatchObject({ state: "blocked", reason: expect.stringContaining("dev applied a different version") });
  });

  it("cannot confirm the previous environment when its index is unreachable", () => {
    const matrix = migrationMatrix(files, [env("dev", applied("0001_runs")), env("staging", null, "connection refused"), env("prod", [])]);
    expect(matrix.rows[0]!.cells.staging).toEqual({ state: "unavailable", reason: "connection refused" });
    expect(matrix.rows[0]!.cells.prod).toMatchObject({ state: "blocked", reason: "cannot confirm it is applied to staging (connection refused)" });
  });

  it("lists migrations an environment has that this build does not know", () => {
    expect(migrationMatrix(files, [env("dev", applied("0001_runs", "0003_future"))]).unknown).toEqual([{ environment: "dev", name: "0003_future", appliedAt: at }]);
  });
});
