import "server-only";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The console's own schema (`piksel`) in each ODC index database ships as ordered SQL files,
 * `index-migrations/NNNN_name.sql` at the repository root (and beside the CLI bundle in the image).
 * Each runs in one transaction; a file is never edited once applied anywhere: the checksum says so.
 */

export interface IndexMigration {
  /** File name without `.sql`, e.g. `0001_index_runs`: what the tracking table records. */
  name: string;
  number: number;
  sql: string;
  /** sha256 of the text with line endings normalised, so a checkout on Windows does not change it. */
  checksum: string;
}

export const MIGRATION_FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export const migrationChecksum = (sql: string) => createHash("sha256").update(sql.replace(/\r\n/g, "\n")).digest("hex");

/** A migrations folder that cannot be used (a bad file name, two files with one number). */
export class MigrationFilesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MigrationFilesError";
  }
}

/**
 * Where `index-migrations/` is: above the working directory (the repository, `.next/standalone` in a
 * checkout, /app in the image) or above this module (the CLI bundle in dist/cli).
 */
export function indexMigrationsDir(): string {
  const starts = [process.cwd()];
  try {
    starts.push(path.dirname(fileURLToPath(import.meta.url)));
  } catch {
    // Bundlers may rewrite import.meta.url to something that is not a file URL; the cwd still counts.
  }
  for (const start of starts) {
    let dir = start;
    for (let i = 0; i < 6; i++) {
      const candidate = path.join(dir, "index-migrations");
      if (fs.existsSync(candidate) && fs.statSync(candidate).isDirectory()) return candidate;
      dir = path.dirname(dir);
    }
  }
  throw new MigrationFilesError(`Cannot find the index-migrations folder above ${starts.join(" or ")}; it ships beside prisma/ in the repository and the image.`);
}

/** The migrations of a folder, in order; refuses names out of pattern and duplicate numbers. */
export function loadIndexMigrations(dir = indexMigrationsDir()): IndexMigration[] {
  const out: IndexMigration[] = [];
  for (const file of fs.readdirSync(dir).sort()) {
    if (!file.endsWith(".sql")) continue;
    const m = MIGRATION_FILE.exec(file);
    if (!m) throw new MigrationFilesError(`index-migrations/${file}: name it NNNN_lower_snake_case.sql (four digits, then the name)`);
    const number = Number(m[1]);
    const twin = out.find((o) => o.number === number);
    if (twin) throw new MigrationFilesError(`index-migrations/${file} and ${twin.name}.sql share the number ${m[1]}: give the newer one the next free number`);
    const sql = fs.readFileSync(path.join(dir, file), "utf8");
    out.push({ name: file.slice(0, -4), number, sql, checksum: migrationChecksum(sql) });
  }
  return out;
}
