import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "./fixtures";

// `npm start` as an operator runs it (its script, scripts/start.mjs, in a process group of its own),
// next to the platform the suite's web server runs: its own data directory and ports.
const root = path.resolve(import.meta.dirname, "..");
const port = Number(process.env.PIKSEL_E2E_PORT ?? 3100) + 50;

interface Proc {
  pid: number;
  cmdline: string;
}

/** Every process whose command line or environment names the data directory. */
function processesOf(dataDir: string): Proc[] {
  const found: Proc[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      const environ = fs.readFileSync(`/proc/${entry}/environ`, "utf8");
      if (cmdline.includes(dataDir) || environ.split("\0").some((v) => v.endsWith(dataDir))) found.push({ pid: Number(entry), cmdline });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** What the platforms of the current test printed, attached to its report when it fails. */
let printed = "";

function startPlatform(dataDir: string): { child: ChildProcess; output: () => string } {
  let output = "";
  const child = spawn(process.execPath, [path.join(root, "scripts", "start.mjs")], {
    cwd: root,
    detached: true, // its own process group, as a terminal gives `npm start`
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PIKSEL_START_NO_BUILD: "1",
      PORT: String(port),
      PIKSEL_DATA_DIR: dataDir,
      PIKSEL_PUBLIC_URL: `http://localhost:${port}`,
      PIKSEL_EMBEDDED_PG_PORT: String(port + 20000),
      PIKSEL_EMBEDDED_CATALOG_PORT: String(port + 20001),
      PIKSEL_LOG_JSON: "1",
    },
  });
  const keep = (d: Buffer) => {
    output += String(d);
    printed += String(d);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  return { child, output: () => output };
}

const healthy = async () => {
  try {
    return (await fetch(`http://127.0.0.1:${port}/api/health`)).ok;
  } catch {
    return false;
  }
};

const exitOf = (child: ChildProcess) => new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once("exit", (code) => resolve(code))));

test.describe("the platform's processes", () => {
  test.describe.configure({ timeout: 240_000 });
  let dataDir: string;
  test.beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-platform-"));
    // As root the embedded PostgreSQL runs as the `postgres` user, which must enter the directory.
    fs.chmodSync(dataDir, 0o755);
  });
  test.afterEach(async ({}, testInfo) => {
    if (testInfo.status !== testInfo.expectedStatus) await testInfo.attach("platform output", { body: printed.slice(-20_000), contentType: "text/plain" });
    printed = "";
  });
  test.afterAll(() => {
    for (const p of processesOf(dataDir)) process.kill(p.pid, "SIGKILL");
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test("SIGTERM to npm start's process group while the sample scenes are indexed stops every process promptly, and the next start comes up", async () => {
    const first = startPlatform(dataDir);
    // Mid-start: the console answers and a `piksel index --env …` child is running.
    await expect.poll(() => processesOf(dataDir).some((p) => / index --env /.test(p.cmdline)), { timeout: 180_000, intervals: [200] }).toBe(true);
    const signalledAt = Date.now();
    process.kill(-first.child.pid!, "SIGTERM");
    expect(await exitOf(first.child), first.output()).toBe(0);
    // Everything of this data directory is gone, with no embedded PostgreSQL started by a child.
    await expect.poll(() => processesOf(dataDir).map((p) => p.cmdline), { timeout: 30_000, intervals: [200] }).toEqual([]);
    expect(Date.now() - signalledAt).toBeLessThan(30_000);
    expect(fs.existsSync(path.join(dataDir, "postgres", "postmaster.pid"))).toBe(false);

    // The next start comes up on the same data directory.
    const second = startPlatform(dataDir);
    await expect.poll(healthy, { timeout: 180_000, intervals: [500] }).toBe(true);
    process.kill(-second.child.pid!, "SIGTERM");
    expect(await exitOf(second.child), second.output()).toBe(0);
    await expect.poll(() => processesOf(dataDir).length, { timeout: 30_000, intervals: [200] }).toBe(0);
  });

  test("a console server killed with SIGKILL is started again; the platform stays up", async () => {
    const platform = startPlatform(dataDir);
    await expect.poll(healthy, { timeout: 180_000, intervals: [500] }).toBe(true);
    // Next.js renames its process (`next-server (v16…)`); it is the one with the data directory in its environment.
    const server = () => processesOf(dataDir).find((p) => p.cmdline.startsWith("next-server"));
    const before = server();
    expect(before, "the console server process").toBeDefined();
    process.kill(before!.pid, "SIGKILL");
    await expect.poll(() => server()?.pid ?? before!.pid, { timeout: 30_000, intervals: [200] }).not.toBe(before!.pid);
    await expect.poll(healthy, { timeout: 60_000, intervals: [500] }).toBe(true);
    expect(platform.child.exitCode).toBeNull();
    expect(platform.output()).toContain("the console server stopped unexpectedly; restarting it");
    // This time SIGTERM to `npm start`'s process alone (a supervisor's stop): it passes it on.
    process.kill(platform.child.pid!, "SIGTERM");
    expect(await exitOf(platform.child)).toBe(0);
    await expect.poll(() => processesOf(dataDir).length, { timeout: 30_000, intervals: [200] }).toBe(0);
  });
});
