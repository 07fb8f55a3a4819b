import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { deployMigrations } from "~/server/db/migrate";
import { createDb, type Db } from "~/server/db";
import path from "node:path";

/** The admin URL of the integration tier's PostgreSQL server (see global-setup.ts). */
export const pgAdminUrl = () => inject("pgAdminUrl");

/** A fresh, uniquely named database on the test server; `drop()` removes it. */
export async function createTestDatabase(prefix: string): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `t_${prefix.replace(/[^a-z0-9_]/gi, "_").toLowerCase()}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: pgAdminUrl() });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  await admin.end();
  const u = new URL(pgAdminUrl());
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: pgAdminUrl() });
      await c.connect();
      await c.query(`drop database if exists "${name}" with (force)`);
      await c.end();
    },
  };
}

const root = path.resolve(import.meta.dirname, "../..");

/** A fresh app database with every migration applied, and a Prisma client on it. */
export async function createAppDatabase(prefix: string): Promise<{ url: string; db: Db; drop(): Promise<void> }> {
  const t = await createTestDatabase(prefix);
  await deployMigrations({ url: t.url, schemaPath: path.join(root, "prisma/schema.prisma"), migrationsDir: path.join(root, "prisma/migrations") });
  const db = createDb(t.url);
  return {
    url: t.url,
    db,
    async drop() {
      await db.$disconnect();
      await t.drop();
    },
  };
}
