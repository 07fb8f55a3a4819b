import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { seedDemoUsers, DEMO_PASSWORD, DEMO_USERS } from "~/features/auth/server/demo-users";
import { appDatabaseUrl, publicUrl, type PikselConfig } from "~/server/config";
import { createDb } from "~/server/db";
import { applyPendingInPromotionOrder } from "~/features/indexing/server/migrations.service";
import { seedPromotionHistory } from "~/features/promotion/server/seed";
import { bootstrapLocalDrivers } from "~/server/embedded/bootstrap";
import { startEmbeddedFlux } from "~/server/embedded/flux-wiring";
import { startLocalJobRunner } from "~/server/embedded/local-jobs";
import { openSampleArchive } from "~/server/embedded/samples";
import { createEnvironmentPorts } from "~/server/ports";
import { startLocalStacServer, type LocalStacServer } from "~/server/embedded/stac-server";
import type { Logger } from "~/server/logger";
import { appRoot, standaloneServer } from "./paths";
import { ensureAuthSecret, ensureEmbeddedDatabases, migrateAppDatabase } from "./platform";

async function waitForHealth(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`The console server exited with code ${child.exitCode} while starting.`);
    try {
      const res = await fetch(`${url}/api/health`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`The console did not answer ${url}/api/health within ${timeoutMs / 1000} s.`);
}

/**
 * Indexes the sample catalogue into each embedded environment within its scope, one after the other,
 * through the same `piksel index` command an operator runs (idempotent: a restart adds nothing).
 */
async function indexSamples(config: PikselConfig, log: Logger): Promise<void> {
  const cli = path.join(appRoot(), "dist", "cli", "piksel.mjs");
  for (const env of config.environments) {
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [cli, "index", "--env", env.name], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, PIKSEL_DATA_DIR: config.dataDir, PIKSEL_LOG_JSON: "1" } });
      child.once("exit", resolve);
    });
    if (code === 0) log.info({ environment: env.name }, "sample scenes indexed");
    else log.warn({ environment: env.name, code }, "indexing the sample scenes failed; see the Indexing page");
  }
}

/**
 * `piksel start`: everything the configuration needs on this machine, then the console. With the
 * embedded default that is PostgreSQL, the local GitOps repo, registry, buckets, cluster state and
 * STAC API; with a production configuration only migrations and the console server.
 */
export async function start(config: PikselConfig, log: Logger, opts: { reset: boolean }): Promise<void> {
  const embedded = !config.database.url;
  if (opts.reset) {
    if (!embedded) throw new Error("--reset only clears the embedded default's data directory; it never touches a configured database.");
    fs.rmSync(config.dataDir, { recursive: true, force: true });
    log.warn({ dataDir: config.dataDir }, "--reset: removed all local data");
  }
  fs.mkdirSync(config.dataDir, { recursive: true });
  const secret = ensureAuthSecret(config);

  const cleanups: (() => Promise<unknown>)[] = [];
  let child: ChildProcess | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    child?.kill("SIGTERM");
    for (const fn of cleanups.reverse()) await fn().catch((err) => log.error({ err }, "cleanup failed"));
    process.exit(code);
  };
  process.once("SIGINT", () => void stop(0));
  process.once("SIGTERM", () => void stop(0));

  try {
    const pg = await ensureEmbeddedDatabases(config, log);
    if (pg?.startedHere) cleanups.push(() => pg.stop());
    await migrateAppDatabase(config, log);
    await bootstrapLocalDrivers(config, log);

    let stac: LocalStacServer | undefined;
    const ports = new Map(config.environments.map((e) => [e.name, createEnvironmentPorts(config, e)]));
    if (embedded) {
      // Sample Sentinel-2 scenes over the embedded scopes: the catalogue is planned at once (cached),
      // each scene's COGs are written the first time a file of it is read (docs/adr/0011).
      const archive = openSampleArchive({ cacheDir: path.join(config.dataDir, "samples"), log: log.child({ component: "samples" }) });
      stac = await startLocalStacServer({ port: config.embedded.catalogPort, archive, log });
      cleanups.push(() => stac!.close());
      const db = createDb(appDatabaseUrl(config));
      await seedDemoUsers(db);
      // The embedded default applies the console's index migrations itself (dev -> staging -> prod);
      // elsewhere admins apply them from the Indexing page after a dry run.
      await applyPendingInPromotionOrder({ db, config, log }, { email: "system:start-up" });
      const first = config.environments[0]!;
      await seedPromotionHistory(db, config, ports.get(first.name)!.registry, first.registry.repository);
      await db.$disconnect();
    }

    // The local cluster's Flux: this process plays it for the environments on the local driver.
    const flux = await startEmbeddedFlux(config, ports, log);
    if (flux) cleanups.push(() => flux.stop());
    // ...and runs its Jobs as child processes of this CLI (docs/adr/0013).
    const localClusters = config.environments.flatMap((e) => (e.cluster.driver === "local" ? [{ name: e.name, stateDir: e.cluster.stateDir }] : []));
    if (localClusters.length) {
      const runner = await startLocalJobRunner({
        environments: localClusters,
        cli: path.join(appRoot(), "dist", "cli", "piksel.mjs"),
        env: { ...process.env, PIKSEL_DATA_DIR: config.dataDir, PIKSEL_AUTH_SECRET: secret, ...(process.env.PIKSEL_CONFIG && { PIKSEL_CONFIG: path.resolve(process.env.PIKSEL_CONFIG) }) },
        log: log.child({ component: "local-jobs" }),
      });
      cleanups.push(() => runner.stop());
    }

    const server = standaloneServer();
    if (!server) throw new Error("The console is not built: run `npm run build` (npm start does it for you).");
    const url = publicUrl(config);
    child = spawn(process.execPath, [server], {
      cwd: path.dirname(server),
      stdio: "inherit",
      env: {
        ...process.env,
        NODE_ENV: "production",
        PORT: String(config.console.port),
        HOSTNAME: config.console.host,
        PIKSEL_DATA_DIR: config.dataDir,
        PIKSEL_AUTH_SECRET: secret,
        ...(process.env.PIKSEL_CONFIG && { PIKSEL_CONFIG: path.resolve(process.env.PIKSEL_CONFIG) }),
      },
    });
    child.once("exit", (code) => {
      if (!stopping) {
        log.error({ code }, "the console server stopped");
        void stop(code ?? 1);
      }
    });
    await waitForHealth(`http://127.0.0.1:${config.console.port}`, child);
    const lines = [`Piksel Console is ready at ${url}`];
    if (embedded) {
      lines.push("", `Demo users (password: ${DEMO_PASSWORD}):`, ...DEMO_USERS.map((u) => `  ${u.email.padEnd(26)} ${u.role}`));
      lines.push("", `Data is kept in ${config.dataDir}; \`npm start -- --reset\` starts clean. Ctrl-C stops everything.`);
    }
    process.stdout.write(`\n${lines.join("\n")}\n\n`);
    if (embedded) void indexSamples(config, log);
  } catch (err) {
    log.error(err instanceof Error ? err.message : String(err));
    await stop(1);
  }
}
