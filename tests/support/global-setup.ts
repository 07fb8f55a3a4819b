import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "~/server/embedded/postgres";
import { createLogger } from "~/server/logger";
import { freePort } from "./net";

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin URL of the PostgreSQL server the integration tier uses (its `postgres` database). */
    pgAdminUrl: string;
  }
}

/** Tests refuse a non-local database (STYLE.md 11): they create and drop databases freely. */
export function assertLocal(url: string): void {
  const host = new URL(url).hostname;
  if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(host)) {
    throw new Error(`Refusing to run tests against a non-local database (${host}). PIKSEL_TEST_DATABASE_URL must point at 127.0.0.1 or localhost.`);
  }
}

/**
 * The integration tier's PostgreSQL: PIKSEL_TEST_DATABASE_URL when set (CI runs the tier again on
 * Debian's PostgreSQL), else an embedded server in a temporary directory, stopped at the end.
 */
export default async function setup(project: TestProject) {
  const external = process.env.PIKSEL_TEST_DATABASE_URL;
  if (external) {
    assertLocal(external);
    const u = new URL(external);
    u.pathname = "/postgres";
    project.provide("pgAdminUrl", u.toString());
    return;
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-test-pg-"));
  fs.chmodSync(dataDir, 0o755);
  const port = await freePort();
  const pg = await startEmbeddedPostgres({ dataDir, port, databases: [], log: createLogger({ level: "warn" }) });
  project.provide("pgAdminUrl", `postgres://postgres:postgres@127.0.0.1:${port}/postgres`);
  return async () => {
    await pg.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
}
