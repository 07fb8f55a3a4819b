import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { freePort } from "../net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import YAML from "yaml";

/** A user of a registry with basic (htpasswd) auth. */
export interface RegistryUser {
  username: string;
  password: string;
}

/** Token auth as docker-registry's `auth.token` section expects it (see token-server.ts). */
export interface RegistryTokenAuth {
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate(s) whose keys may sign tokens. */
  rootCertBundle: string;
}

export interface RegistryServer {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  /** host:port, as image names and skopeo take it. */
  host: string;
  /** The registry's log so far (stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** bcrypt entries, the only hash docker-registry's htpasswd auth accepts (from apache2-utils). */
function htpasswd(users: RegistryUser[]): string {
  try {
    return users.map((u) => execFileSync("htpasswd", ["-nbB", u.username, u.password], { encoding: "utf8" }).trim()).join("\n") + "\n";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error("htpasswd not found: install apache2-utils (apt-get install -y apache2-utils) for the registry auth tests");
    throw err;
  }
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

/**
 * Starts Debian's `docker-registry serve` (distribution 2.8) on a free loopback port with filesystem
 * storage in a temporary directory, optionally with htpasswd basic auth or token auth, and resolves
 * once `/v2/` answers.
 */
export async function startRegistry(opts: { users?: RegistryUser[]; token?: RegistryTokenAuth } = {}): Promise<RegistryServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-registry-"));
  let auth: Record<string, unknown> | undefined;
  if (opts.users) {
    fs.writeFileSync(path.join(dir, "htpasswd"), htpasswd(opts.users));
    auth = { htpasswd: { realm: "piksel-test", path: path.join(dir, "htpasswd") } };
  } else if (opts.token) {
    auth = { token: { realm: opts.token.realm, service: opts.token.service, issuer: opts.token.issuer, rootcertbundle: opts.token.rootCertBundle } };
  }
  // The port is picked, then bound by the registry: another process may take it in between, so a
  // start that fails to bind is retried on a new port.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = {
      version: 0.1,
      log: { level: "warn", accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: path.join(dir, "data") }, delete: { enabled: true } },
      http: { addr: `127.0.0.1:${port}`, secret: "piksel-test-registry-secret" },
      ...(auth && { auth }),
    };
    const configFile = path.join(dir, "config.yml");
    fs.writeFileSync(configFile, YAML.stringify(config));
    const child = spawn("docker-registry", ["serve", configFile], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15_000;
    let up = false;
    while (!up && Date.now() < deadline && child.exitCode === null) {
      const r = await Promise.race([
        fetch(`${url}/v2/`).then((res) => [200, 401].includes(res.status), () => false),
        spawnError.then((e) => {
          throw (e as NodeJS.ErrnoException).code === "ENOENT" ? new Error("docker-registry not found: install it (apt-get install -y docker-registry)") : e;
        }),
      ]);
      if (r) up = true;
      else await sleep(50);
    }
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited(child);
    };
    if (up) {
      return {
        url,
        host: `127.0.0.1:${port}`,
        log: () => log,
        stop: async () => {
          await stop();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await stop();
    if (!/address already in use/.test(log) || attempt >= 3) throw new Error(`docker-registry did not start on ${url}:\n${log.slice(-2000)}`);
  }
}
