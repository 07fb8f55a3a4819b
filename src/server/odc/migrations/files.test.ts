import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { indexMigrationsDir, loadIndexMigrations, migrationChecksum } from "./files";

function folder(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "index-migrations-"));
  for (const [name, sql] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), sql);
  return dir;
}

describe("index migration files", () => {
  it("load in order with their checksums, ignoring other files", () => {
    const list = loadIndexMigrations(folder({ "0002_b.sql": "SELECT 2;", "0001_a.sql": "SELECT 1;", "README.md": "notes" }));
    expect(list.map((m) => [m.name, m.number])).toEqual([["0001_a", 1], ["0002_b", 2]]);
    expect(list[0]!.checksum).toBe(migrationChecksum("SELECT 1;"));
  });
  it("have the same checksum with Windows line endings", () => expect(migrationChecksum("A;\r\nB;\r\n")).toBe(migrationChecksum("A;\nB;\n")));
  it("refuse a name out of pattern and two files with one number", () => {
    expect(() => loadIndexMigrations(folder({ "1_a.sql": "" }))).toThrow(/name it NNNN_lower_snake_case\.sql/);
    expect(() => loadIndexMigrations(folder({ "0001_a.sql": "", "0001_b.sql": "" }))).toThrow(/share the number 0001/);
  });
  it("ship with the repository, starting with the run records", () => {
    expect(loadIndexMigrations(indexMigrationsDir())[0]!.name).toBe("0001_index_runs");
  });
});
