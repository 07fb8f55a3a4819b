/**
 * The environments matrix API with 500 images x 3 environments (target: p95 under 100 ms).
 *   node bench/lib/run-ts.mjs bench/environments/matrix.bench.ts [--images 500] [--calls 300]
 *
 * Real drivers throughout: a bare GitOps repository whose three overlays list 500 images, the local
 * cluster with its local Flux applying them (500 pods per environment), an embedded PostgreSQL for the
 * app database. After the observer's first refresh, it times the tRPC procedure `environments.matrix`
 * through a server-side caller plus the superjson serialisation the HTTP layer adds, and prints
 * p50/p95/max; the refresh time (what the background engine spends per pass) is printed beside it.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import superjson from "superjson";
import { getObserver } from "~/features/environments/server/observer";
import { appDatabaseUrl, loadConfig } from "~/server/config";
import { createDb } from "~/server/db";
import { deployMigrations } from "~/server/db/migrate";
import { startEmbeddedFlux } from "~/server/embedded/flux-wiring";
import { startEmbeddedPostgres } from "~/server/embedded/postgres";
import { createLogger } from "~/server/logger";
import { createEnvironmentPorts } from "~/server/ports";
import { createCaller } from "~/server/trpc/root";
import { freePort } from "../../tests/support/net";

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const digest = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;

export async function main(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { images: { type: "string", default: "500" }, calls: { type: "string", default: "300" } } });
  const images = Number(values.images);
  const calls = Number(values.calls);
  const log = createLogger({ level: "warn" });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-bench-matrix-"));
  fs.chmodSync(dataDir, 0o755);
  const pgPort = await freePort();
  const config = loadConfig({ PIKSEL_DATA_DIR: dataDir, PIKSEL_EMBEDDED_PG_PORT: String(pgPort) });
  for (const e of config.environments) if (e.cluster.driver === "local") e.cluster.reconcileDelaySeconds = 0;

  // GitOps repository: three overlays of `images` entries, each pinned to a digest.
  const remote = config.environments[0]!.gitops.remote;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-bench-work-"));
  execFileSync("git", ["init", "--bare", "--quiet", "--initial-branch=main", remote]);
  execFileSync("git", ["init", "--quiet", "--initial-branch=main", work]);
  for (const env of config.environments) {
    const dir = path.join(work, env.gitops.overlayPath);
    fs.mkdirSync(dir, { recursive: true });
    const entries = Array.from({ length: images }, (_, i) => `  - name: component-${String(i).padStart(3, "0")}\n    newTag: v1.${i % 7}.0\n    digest: ${digest(`${env.name}-${i % 7}`)}\n`);
    fs.writeFileSync(path.join(dir, "kustomization.yaml"), `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n${entries.join("")}`);
  }
  execFileSync("git", ["-C", work, "add", "-A"]);
  execFileSync("git", ["-C", work, "-c", "user.name=bench", "-c", "user.email=bench@piksel.local", "commit", "--quiet", "-m", "500 images"]);
  execFileSync("git", ["-C", work, "push", "--quiet", remote, "HEAD:refs/heads/main"]);

  const pg = await startEmbeddedPostgres({ dataDir, port: pgPort, databases: ["piksel"], log });
  const root = path.resolve(import.meta.dirname ?? ".", "../../..");
  const repo = fs.existsSync(path.join(process.cwd(), "prisma/schema.prisma")) ? process.cwd() : root;
  await deployMigrations({ url: appDatabaseUrl(config), schemaPath: path.join(repo, "prisma/schema.prisma"), migrationsDir: path.join(repo, "prisma/migrations") });
  const db = createDb(appDatabaseUrl(config));
  const ports = new Map(config.environments.map((e) => [e.name, createEnvironmentPorts(config, e)]));
  const flux = await startEmbeddedFlux(config, ports, log);
  // The observer singleton reads the process configuration; hand it this one.
  const holder = globalThis as unknown as { pikselObserver?: unknown };
  const { EnvironmentObserver } = await import("~/features/environments/server/observer");
  holder.pikselObserver = new EnvironmentObserver({ config, ports, db, log });
  const observer = getObserver();

  const t0 = performance.now();
  for (;;) {
    const snaps = await observer.refreshAll();
    if (snaps.every((s) => s.images.length === images && s.images.every((c) => c.deployed))) break;
    if (performance.now() - t0 > 120_000) throw new Error("the local Flux did not deploy the 500 images within 2 minutes");
    await new Promise((r) => setTimeout(r, 200));
  }
  const r0 = performance.now();
  await observer.refreshAll();
  const refreshMs = performance.now() - r0;

  const caller = createCaller({ db, config, ports, log, headers: new Headers(), user: { id: "bench", email: "bench@piksel.local", name: "bench", role: "viewer" } });
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    const m = await caller.environments.matrix();
    bytes = JSON.stringify(superjson.serialize(m)).length;
    times.push(performance.now() - t);
  }
  console.log(`environments.matrix, ${images} images x ${config.environments.length} environments, ${calls} calls (response ${(bytes / 1024).toFixed(0)} KiB):`);
  console.log(`  p50 ${pct(times, 50).toFixed(1)} ms   p95 ${pct(times, 95).toFixed(1)} ms   max ${Math.max(...times).toFixed(1)} ms   (target p95 < 100 ms)`);
  console.log(`  observer refresh of all environments (background, per pass): ${refreshMs.toFixed(0)} ms`);

  await flux?.stop();
  await db.$disconnect();
  await pg.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
  process.exit(0);
}
