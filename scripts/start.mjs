// `npm start`: builds what is missing or stale, then runs `piksel start` (the embedded platform by
// default). Arguments after `--` go to `piksel start`, e.g. `npm start -- --reset`.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const marker = path.join(root, ".next", "standalone", "server.js");

function newest(p) {
  const st = fs.statSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const e of fs.readdirSync(p)) max = Math.max(max, newest(path.join(p, e)));
  return max;
}

const sources = ["src", "public", "prisma", "next.config.mjs", "package-lock.json"].map((p) => path.join(root, p));
const builtAt = fs.statSync(marker, { throwIfNoEntry: false })?.mtimeMs ?? 0;
// PIKSEL_START_NO_BUILD=1: run the build that is there (tests that start the platform this way).
if (process.env.PIKSEL_START_NO_BUILD !== "1" && builtAt < Math.max(...sources.map(newest))) {
  console.log(builtAt ? "Sources changed since the last build: building the console…" : "First start: building the console (about a minute)…");
  const r = spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
// Not spawnSync: a signal to this process alone (npm forwarding Ctrl-C or SIGTERM, a supervisor)
// must reach `piksel start`, and this process must wait until it has stopped everything it started.
const child = spawn(process.execPath, [path.join(root, "dist", "cli", "piksel.mjs"), "start", ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.once("exit", (code, signal) => process.exit(code ?? (signal ? 128 + (signal === "SIGINT" ? 2 : 15) : 1)));
