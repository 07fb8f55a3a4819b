import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { appDatabaseUrl, ConfigError, indexDatabaseUrl, needsEmbeddedPostgres, type PikselConfig } from "~/server/config";
import { deployMigrations } from "~/server/db/migrate";
import { redactUrl } from "~/server/drivers/port";
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from "~/server/embedded/postgres";
import type { Logger } from "~/server/logger";
import { migrationsDir, schemaPath } from "./paths";

/** The auth secret: configured, or generated once per data directory for the embedded default. */
export function ensureAuthSecret(config: PikselConfig): string {
  if (config.auth.secret) return config.auth.secret;
  if (config.database.url) {
    throw new ConfigError("Invalid configuration: auth.secret (PIKSEL_AUTH_SECRET): required outside the embedded default, at least 32 characters");
  }
  const file = path.join(config.dataDir, "auth-secret");
  if (!fs.existsSync(file)) {
    fs.mkdirSync(config.dataDir, { recursive: true });
    fs.writeFileSync(file, crypto.randomBytes(32).toString("base64url"), { mode: 0o600 });
  }
  return fs.readFileSync(file, "utf8").trim();
}

/** Starts (or joins) the embedded PostgreSQL when some database of the configuration lives there. */
export async function ensureEmbeddedDatabases(config: PikselConfig, log: Logger): Promise<EmbeddedPostgresHandle | undefined> {
  if (!needsEmbeddedPostgres(config)) return undefined;
  const databases = [
    ...(config.database.url ? [] : ["piksel"]),
    ...config.environments.filter((e) => !e.index.url).map((e) => new URL(indexDatabaseUrl(config, e)).pathname.slice(1)),
  ];
  return startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embedded.postgresPort, databases, log, joinOnly: config.embedded.joinOnly });
}

/** Fails with one clear line when the app database cannot be reached. */
export async function assertDatabaseReachable(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query("select 1");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "ECONNREFUSED" ? "connection refused (is the server running and listening there?)" : e.code === "ENOTFOUND" ? "host not found" : e.message;
    throw new Error(`Cannot reach the app database at ${redactUrl(url)}: ${why}. Check DATABASE_URL (or database.url in PIKSEL_CONFIG).`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Applies pending app-database migrations; returns their names. */
export async function migrateAppDatabase(config: PikselConfig, log: Logger): Promise<string[]> {
  const url = appDatabaseUrl(config);
  await assertDatabaseReachable(url);
  const applied = await deployMigrations({ url, schemaPath: schemaPath(), migrationsDir: migrationsDir() });
  if (applied.length) log.info({ applied }, "applied app database migrations");
  else log.info("app database schema is up to date");
  return applied;
}
