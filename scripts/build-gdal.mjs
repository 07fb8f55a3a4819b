// Builds gdal-async's native binding against the system GDAL (apt libgdal-dev / brew gdal), run by
// the root postinstall. Why not gdal-async's own install script: without the options below it tries
// a prebuilt download from GitHub (unreachable here) and then compiles its bundled GDAL for 30+
// minutes, and npm 11 says it will stop passing unknown `.npmrc` keys (`build_from_source`,
// `shared_gdal`) to install scripts in its next major. So package.json's `allowScripts` keeps npm
// from running that script, and this one runs node-pre-gyp itself with the options as `npm_config_*`
// environment variables of its own child (which no npm version reads or drops), then refuses a
// binding that does not link the system library.
//
//   node scripts/build-gdal.mjs           build if the binding is missing or not on the system GDAL
//   node scripts/build-gdal.mjs --check   only check; exit 1 with the reason if it is not usable
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkgDir = path.join(root, "node_modules", "gdal-async");
const checkOnly = process.argv.includes("--check");

const installHint =
  "Install GDAL's development files first: Debian/Ubuntu `sudo apt-get install -y libgdal-dev g++ make`, macOS `brew install gdal`; then run `npm ci` again (or `node scripts/build-gdal.mjs`).";

/** What the binding in node_modules is: missing, bundled GDAL, or the system's (with its version). */
function probe() {
  // A child process: a binding that fails to load must not take this script down with it.
  const r = spawnSync(process.execPath, ["-e", "const g=require(process.argv[1]);process.stdout.write(JSON.stringify({bundled:g.bundled,version:g.version}))", pkgDir], { encoding: "utf8" });
  if (r.status !== 0) return { state: "missing", detail: (r.stderr || "").trim().split("\n").find((l) => /Error/.test(l)) ?? "does not load" };
  const info = JSON.parse(r.stdout);
  return info.bundled ? { state: "bundled", detail: `bundled GDAL ${info.version}` } : { state: "system", detail: `system GDAL ${info.version}` };
}

if (!fs.existsSync(path.join(pkgDir, "package.json"))) {
  // `npm ci --omit=optional` or a partial install: nothing to build, and the worker will say so.
  console.error("build-gdal: node_modules/gdal-async is not installed.");
  process.exit(checkOnly ? 1 : 0);
}

const before = probe();
if (before.state === "system") {
  if (!checkOnly) console.log(`gdal-async: linked against the ${before.detail}`);
  process.exit(0);
}
if (checkOnly) {
  console.error(`gdal-async is not usable (${before.detail}): it must link the system GDAL. ${installHint}`);
  process.exit(1);
}

const hasGdalConfig = spawnSync("sh", ["-c", "command -v gdal-config"], { stdio: "ignore" }).status === 0;
if (!hasGdalConfig) {
  console.error(`gdal-async cannot be built: \`gdal-config\` is not on PATH. ${installHint}`);
  process.exit(1);
}

const require = createRequire(path.join(pkgDir, "package.json"));
// node-gyp downloads Node's headers unless told where they are; an installed Node has them beside its
// binary (<prefix>/include/node), which also works offline.
const prefix = path.dirname(path.dirname(process.execPath));
const nodedir = process.env.npm_config_nodedir || (fs.existsSync(path.join(prefix, "include", "node", "node.h")) ? prefix : undefined);
const preGyp = require.resolve("@mapbox/node-pre-gyp/bin/node-pre-gyp");
console.log("gdal-async: building the native binding against the system GDAL (about two minutes)…");
const r = spawnSync(process.execPath, [preGyp, "rebuild", "--build-from-source", "--shared_gdal=true", "-j", "max", ...(nodedir ? [`--nodedir=${nodedir}`] : [])], {
  cwd: pkgDir,
  stdio: "inherit",
  env: { ...process.env, npm_config_build_from_source: "true", npm_config_shared_gdal: "true" },
});
if (r.status !== 0) {
  console.error(`gdal-async: the build failed (exit ${r.status}). ${installHint}`);
  process.exit(1);
}
const after = probe();
if (after.state !== "system") {
  console.error(`gdal-async: the build finished but the binding is not linked against the system GDAL (${after.detail}). ${installHint}`);
  process.exit(1);
}
console.log(`gdal-async: linked against the ${after.detail}`);
