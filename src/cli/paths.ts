import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Where the CLI finds the rest of the app. The bundle lives at <root>/dist/cli/piksel.mjs both in a
 * checkout and in the container image; the Next.js standalone server is <root>/.next/standalone/server.js
 * in a checkout and <root>/server.js in the image (docs/adr/0006).
 */
export function appRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, "prisma", "schema.prisma"))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error("Cannot find the app root (a folder with prisma/schema.prisma) above the piksel CLI.");
}

export function standaloneServer(root = appRoot()): string | undefined {
  return [path.join(root, "server.js"), path.join(root, ".next", "standalone", "server.js")].find((p) => fs.existsSync(p));
}

export const schemaPath = (root = appRoot()) => path.join(root, "prisma", "schema.prisma");
export const migrationsDir = (root = appRoot()) => path.join(root, "prisma", "migrations");
