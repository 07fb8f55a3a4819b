import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { configSchema, type PikselConfig } from "~/server/config";
import { closeIndexDatabasePools } from "~/server/odc/migrations/database";
import { createTestDatabase } from "../databases";

/**
 * dev, staging and prod with an index database each on the test server (empty: no agdc, no piksel
 * schema), local drivers for the rest and the given STAC API: the promotion path of the migrations.
 */
export async function createEnvironments(prefix: string, catalogUrl: string): Promise<{ config: PikselConfig; indexUrls: Record<string, string>; drop(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `piksel-${prefix}-`));
  const names = ["dev", "staging", "prod"];
  const dbs = await Promise.all(names.map((n) => createTestDatabase(`${prefix}_${n}`)));
  const config = configSchema.parse({
    dataDir: dir,
    database: { url: "postgres://unused@127.0.0.1:1/unused" },
    environments: names.map((name, i) => ({
      name,
      index: { url: dbs[i]!.url },
      gitops: { remote: path.join(dir, "gitops.git"), overlayPath: `overlays/${name}` },
      registry: { driver: "layout", path: path.join(dir, "registry"), repository: "piksel-core" },
      cluster: { driver: "local", stateDir: path.join(dir, "cluster", name) },
      objects: { driver: "local", root: path.join(dir, "objects"), bucket: `piksel-${name}-data` },
      catalog: { url: catalogUrl },
      scope: { bbox: [-20, 15, 10, 25], datetime: "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z" },
    })),
  });
  return {
    config,
    indexUrls: Object.fromEntries(names.map((n, i) => [n, dbs[i]!.url])),
    async drop() {
      await closeIndexDatabasePools();
      for (const d of dbs) await d.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
