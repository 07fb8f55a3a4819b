import "server-only";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "~/generated/prisma/client";
import { appDatabaseUrl, getConfig } from "~/server/config";

export type Db = PrismaClient;

/** A Prisma client on the `pg` driver adapter: the same path for the embedded server and RDS. */
export function createDb(url: string): Db {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: 10 }) });
}

const holder = globalThis as unknown as { pikselDb?: Db };

/** The process-wide app database client (kept on globalThis so dev reloads do not leak pools). */
export function getDb(): Db {
  holder.pikselDb ??= createDb(appDatabaseUrl(getConfig()));
  return holder.pikselDb;
}
