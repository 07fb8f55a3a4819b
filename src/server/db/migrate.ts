import "server-only";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";

/**
 * `prisma migrate deploy` and `prisma migrate diff` without the native schema engine (it cannot be
 * downloaded here; docs/adr/0003): @prisma/schema-engine-wasm driven through the pg driver adapter.
 * The migration folders are the ordinary prisma/migrations/<ts>_<name>/migration.sql, so the
 * official CLI works too wherever its engine is available.
 */

const require = createRequire(import.meta.url);

interface SchemaEngine {
  applyMigrations(input: unknown): Promise<{ appliedMigrationNames: string[] }>;
  diff(input: unknown): Promise<{ exitCode: number; stdout?: string }>;
  free?(): void;
}

async function loadEngineClass(): Promise<{ new: (...args: unknown[]) => Promise<SchemaEngine> }> {
  const bgPath = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
  const runtime = (await import(/* webpackIgnore: true */ bgPath)) as Record<string, unknown> & { __wbg_set_wasm(x: unknown): void; SchemaEngine: never };
  const wasm = new WebAssembly.Module(fs.readFileSync(path.join(path.dirname(bgPath), "schema_engine_bg.wasm")));
  const instance = new WebAssembly.Instance(wasm, { "./schema_engine_bg.js": runtime as WebAssembly.ModuleImports });
  runtime.__wbg_set_wasm(instance.exports);
  (instance.exports.__wbindgen_start as () => void)();
  return runtime.SchemaEngine;
}

function migrationsList(migrationsDir: string) {
  fs.mkdirSync(migrationsDir, { recursive: true });
  const lockPath = path.join(migrationsDir, "migration_lock.toml");
  const dirs = fs
    .readdirSync(migrationsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  return {
    baseDir: migrationsDir,
    lockfile: { path: "migration_lock.toml", content: fs.existsSync(lockPath) ? fs.readFileSync(lockPath, "utf8") : null },
    shadowDbInitScript: "",
    migrationDirectories: dirs.map((name) => {
      const file = path.join(migrationsDir, name, "migration.sql");
      return {
        path: name,
        migrationFile: {
          path: "migration.sql",
          content: fs.existsSync(file) ? { tag: "ok", value: fs.readFileSync(file, "utf8") } : { tag: "error", value: "missing" },
        },
      };
    }),
  };
}

function connectionConfig(url: string) {
  // Discrete fields, not { connectionString }: pg lets connectionString override `database`.
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)),
    ssl: u.searchParams.get("sslmode") === "require" ? { rejectUnauthorized: false } : undefined,
  };
}

type Connected = Awaited<ReturnType<PrismaPg["connect"]>>;

/**
 * PrismaPg's executeScript splits a migration on every ";", which breaks any function body
 * (`$$ ... ; ... $$`). node-postgres runs a multi-statement script as one simple query (one implicit
 * transaction), so hand it the whole script instead; errors still go through the adapter's mapping.
 */
function wholeScript(adapter: Connected): Connected {
  const inner = adapter as unknown as { client: { query(sql: string): Promise<unknown> }; onError(err: unknown): never };
  adapter.executeScript = async (script: string) => {
    try {
      await inner.client.query(script);
    } catch (err) {
      inner.onError(err);
    }
  };
  return adapter;
}

async function withEngine<T>(opts: { url: string; schemaPath: string }, fn: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  const cfg = connectionConfig(opts.url);
  const base = new PrismaPg(cfg);
  const adapter = bindMigrationAwareSqlAdapterFactory({
    provider: base.provider,
    adapterName: base.adapterName,
    connect: async () => wholeScript(await base.connect()),
    // Our own shadow database: PrismaPg's drops it before closing its pool ("being accessed by other users").
    async connectToShadowDb() {
      const admin = new pg.Client(cfg);
      await admin.connect();
      const name = `prisma_shadow_${process.pid}_${Date.now()}`;
      await admin.query(`CREATE DATABASE "${name}"`);
      const shadow = wholeScript(await new PrismaPg({ ...cfg, database: name }).connect());
      const release = shadow.dispose.bind(shadow);
      shadow.dispose = async () => {
        await release();
        await admin.query(`DROP DATABASE IF EXISTS "${name}"`);
        await admin.end();
      };
      return shadow;
    },
  });
  const schema = fs.readFileSync(opts.schemaPath, "utf8");
  const SchemaEngine = await loadEngineClass();
  const engine = await SchemaEngine.new({ datamodels: [[opts.schemaPath, schema]] }, () => undefined, adapter);
  try {
    return await fn(engine);
  } finally {
    engine.free?.();
  }
}

const filters = { externalTables: [], externalEnums: [] };

/** Applies the pending migrations of `migrationsDir`; returns the names applied. */
export async function deployMigrations(opts: { url: string; schemaPath: string; migrationsDir: string }): Promise<string[]> {
  return withEngine(opts, async (engine) => {
    const result = await engine.applyMigrations({ migrationsList: migrationsList(opts.migrationsDir), filters });
    return result.appliedMigrationNames;
  });
}

/**
 * Writes a new migration folder with the SQL from the last migration's schema snapshot to the
 * current schema (datamodel to datamodel: introspection through the WASM engine is unreliable).
 * Returns the folder, or undefined when nothing changed.
 */
export async function createMigration(opts: { url: string; schemaPath: string; migrationsDir: string; name: string }): Promise<string | undefined> {
  return withEngine(opts, async (engine) => {
    const dirs = migrationsList(opts.migrationsDir).migrationDirectories.map((d) => d.path).reverse();
    const last = dirs.map((d) => path.join(opts.migrationsDir, d, "schema.prisma")).find((f) => fs.existsSync(f));
    const schema = fs.readFileSync(opts.schemaPath, "utf8");
    const from = last ? { tag: "schemaDatamodel", files: [{ path: last, content: fs.readFileSync(last, "utf8") }] } : { tag: "empty" };
    const result = await engine.diff({ from, to: { tag: "schemaDatamodel", files: [{ path: opts.schemaPath, content: schema }] }, script: true, exitCode: true, filters });
    if (result.exitCode !== 2) return undefined;
    const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
    const dir = path.join(opts.migrationsDir, `${stamp}_${opts.name}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "migration.sql"), result.stdout ?? "");
    fs.writeFileSync(path.join(dir, "schema.prisma"), schema);
    const lock = path.join(opts.migrationsDir, "migration_lock.toml");
    if (!fs.existsSync(lock)) fs.writeFileSync(lock, '# Please do not edit this file manually\nprovider = "postgresql"\n');
    return dir;
  });
}
