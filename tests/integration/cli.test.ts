import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from "~/server/embedded/postgres";
import { createLogger } from "~/server/logger";
import { buildCli, runCli } from "../support/cli";
import { pgAdminUrl } from "../support/databases";
import { freePort } from "../support/net";

/** A configuration whose every database is external, so no embedded server is started. */
function externalConfig(dir: string, indexUrl: string): string {
  const f = path.join(dir, "piksel.yaml");
  fs.writeFileSync(
    f,
    `environments:
  - name: dev
    index: { url: "${indexUrl}" }
    gitops: { remote: ${dir}/gitops.git, overlayPath: overlays/dev }
    registry: { driver: layout, path: ${dir}/registry, repository: piksel-core }
    cluster: { driver: local, stateDir: ${dir}/cluster }
    objects: { driver: local, root: ${dir}/objects, bucket: piksel-dev-data }
    catalog: { url: "http://127.0.0.1:9/v1" }
    scope: { bbox: [106, -7, 107, -6], datetime: 2024-01-01/2024-12-31 }
`,
  );
  return f;
}

beforeAll(() => buildCli());

describe("piksel CLI start-up errors", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-cli-"));

  it("an unreachable app database gives one clear line and exit code 1", async () => {
    const r = await runCli(["db", "migrate"], { PIKSEL_CONFIG: externalConfig(dir, pgAdminUrl()), DATABASE_URL: "postgres://piksel:secret@127.0.0.1:1/piksel" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      "piksel: Cannot reach the app database at postgres://piksel:***@127.0.0.1:1/piksel: connection refused (is the server running and listening there?). Check DATABASE_URL (or database.url in PIKSEL_CONFIG).",
    );
  });

  it("a broken configuration value names the key and exits with code 2", async () => {
    const f = path.join(dir, "broken.yaml");
    fs.writeFileSync(f, "console: { port: 70000 }\n");
    const r = await runCli(["db", "migrate"], { PIKSEL_CONFIG: f });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`Invalid configuration (PIKSEL_CONFIG=${f}): console.port: Too big: expected number to be <=65535`);
  });

  it("start refuses --reset against a configured database", async () => {
    const r = await runCli(["start", "--reset"], { PIKSEL_CONFIG: externalConfig(dir, pgAdminUrl()), DATABASE_URL: pgAdminUrl(), PIKSEL_AUTH_SECRET: "x".repeat(40) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--reset only clears the embedded default's data directory");
  });
});

describe("the embedded PostgreSQL", () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-embedded-"));
  let server: EmbeddedPostgresHandle;
  let port: number;

  beforeAll(async () => {
    fs.chmodSync(dataDir, 0o755);
    port = await freePort();
    server = await startEmbeddedPostgres({ dataDir, port, databases: ["piksel"], log: createLogger({ level: "warn" }) });
  });
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("is shared by two processes at once: this one holds a connection while the CLI joins it and migrates", async () => {
    expect(server.startedHere).toBe(true);
    const mine = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password: "postgres", database: "piksel" });
    await mine.connect();
    try {
      const migrate = runCli(["db", "migrate"], { PIKSEL_DATA_DIR: dataDir, PIKSEL_EMBEDDED_PG_PORT: String(port) });
      // While the CLI works, this process keeps using the same server.
      const { rows } = await mine.query("select count(*)::int as n from pg_stat_activity where datname is not null");
      expect(rows[0].n).toBeGreaterThanOrEqual(1);
      const r = await migrate;
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("joining the embedded PostgreSQL already running on this data directory");
      expect(r.stdout).toContain("20261125180023_init");
      const tables = await mine.query("select table_name from information_schema.tables where table_schema = 'public' order by 1");
      expect(tables.rows.map((t) => t.table_name)).toEqual(expect.arrayContaining(["audit_event", "user", "session", "account", "_prisma_migrations"]));
      // The server this process started is still the one serving: the CLI did not stop it.
      expect((await mine.query("select 1 as ok")).rows[0].ok).toBe(1);
    } finally {
      await mine.end();
    }
  });

  it("keeps its data across a restart", async () => {
    await server.stop();
    server = await startEmbeddedPostgres({ dataDir, port, databases: ["piksel"], log: createLogger({ level: "warn" }) });
    const c = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password: "postgres", database: "piksel" });
    await c.connect();
    const { rows } = await c.query("select migration_name from _prisma_migrations");
    await c.end();
    expect(rows.map((r) => r.migration_name)).toContain("20261125180023_init");
  });
});
