// `npm test`: every tier in order — lint, typecheck, unit, integration, reference, build, e2e — then
// one summary. Pass tier names to run only those (`npm test -- unit integration`). It checks what the
// tiers need from the machine first and installs it with apt where it can, or says what is missing.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { systemNeeds } from "./system-needs.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "test-results");
fs.mkdirSync(out, { recursive: true });

const allTiers = ["lint", "typecheck", "unit", "integration", "reference", "build", "e2e"];
const asked = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const unknown = asked.filter((t) => !allTiers.includes(t));
if (unknown.length) {
  console.error(`Unknown tier(s): ${unknown.join(", ")}. Tiers: ${allTiers.join(", ")}.`);
  process.exit(2);
}
const tiers = asked.length ? allTiers.filter((t) => asked.includes(t)) : allTiers;
const bail = process.argv.includes("--bail");

const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
const isRoot = process.getuid?.() === 0;

/**
 * kustomize renders the overlays in the GitOps tests; kubectl embeds it. Without either, install the
 * standalone binary into .cache/bin with Go (the Go module proxy is reachable where npm is).
 */
function ensureKustomize() {
  const bin = path.join(root, ".cache", "bin");
  process.env.PATH = `${bin}${path.delimiter}${process.env.PATH}`;
  if (has("kustomize") || has("kubectl")) return;
  if (!has("go")) {
    console.error("Missing: kustomize — needed to render GitOps overlays in the integration tests. Install kubectl or kustomize (https://kubectl.docs.kubernetes.io), or Go so that this script can `go install` it.");
    process.exit(1);
  }
  console.log("Installing kustomize v5.5.0 into .cache/bin with go install…");
  const r = spawnSync("go", ["install", "sigs.k8s.io/kustomize/kustomize/v5@v5.5.0"], { stdio: "inherit", env: { ...process.env, GOBIN: bin } });
  if (r.status !== 0) process.exit(1);
}

function ensureSystem() {
  if (tiers.includes("integration")) ensureKustomize();
  const needed = systemNeeds.filter((n) => n.tiers.some((t) => tiers.includes(t)));
  const missing = needed.filter((n) => !n.ok());
  if (missing.length) {
    const pkgs = missing.map((m) => m.pkg);
    if (isRoot && has("apt-get")) {
      console.log(`Installing ${pkgs.join(" ")} with apt (needed for ${missing.map((m) => m.why).join("; ")})…`);
      spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
      spawnSync("apt-get", ["install", "-y", "-qq", ...pkgs], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    }
    const still = missing.filter((m) => !m.ok());
    for (const m of still) console.error(`Missing: ${m.pkg} — needed for ${m.why}. Install it (Debian/Ubuntu: sudo apt-get install -y ${m.pkg}; macOS: brew install ${m.brew ?? m.pkg}).`);
    if (still.length) process.exit(1);
  }
  // The worker's GDAL binding: built by npm ci's postinstall; built here if GDAL came only now.
  if (needed.some((n) => n.pkg === "libgdal-dev") && !run(process.execPath, [path.join(root, "scripts", "build-gdal.mjs")])) process.exit(1);
}

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });
  return r.status === 0;
}

function vitestCounts(file) {
  try {
    const j = JSON.parse(fs.readFileSync(file, "utf8"));
    return { passed: j.numPassedTests, failed: j.numFailedTests + (j.numTotalTestSuites && !j.success && !j.numFailedTests ? 1 : 0), skipped: j.numPendingTests + j.numTodoTests };
  } catch {
    return undefined;
  }
}

function playwrightCounts(file) {
  try {
    const s = JSON.parse(fs.readFileSync(file, "utf8")).stats;
    return { passed: s.expected, failed: s.unexpected + s.flaky, skipped: s.skipped };
  } catch {
    return undefined;
  }
}

const vitest = (project) => () => {
  const file = path.join(out, `vitest-${project}.json`);
  fs.rmSync(file, { force: true });
  const ok = run("npx", ["vitest", "run", "--project", project, "--passWithNoTests", "--reporter=default", "--reporter=json", `--outputFile.json=${file}`]);
  const counts = vitestCounts(file);
  // A failed test fails the tier even if the runner's exit code says otherwise.
  return { ok: ok && (counts?.failed ?? 0) === 0, counts };
};

const steps = {
  lint: () => ({ ok: run("npx", ["eslint", ".", "--max-warnings", "0"]) }),
  typecheck: () => ({ ok: run("npx", ["tsc", "--noEmit"]) }),
  unit: vitest("unit"),
  integration: vitest("integration"),
  reference: vitest("reference"),
  build: () => ({ ok: run("npm", ["run", "build"]) }),
  e2e: () => {
    const file = path.join(out, "playwright.json");
    fs.rmSync(file, { force: true });
    const ok = run("npx", ["playwright", "test", "--reporter=list,json"], { PLAYWRIGHT_JSON_OUTPUT_NAME: file });
    const counts = playwrightCounts(file);
    return { ok: ok && (counts?.failed ?? 0) === 0, counts };
  },
};

ensureSystem();
const results = [];
for (const tier of tiers) {
  console.log(`\n━━ ${tier} ━━`);
  const t0 = Date.now();
  const r = steps[tier]();
  results.push({ tier, ...r, seconds: Math.round((Date.now() - t0) / 1000) });
  if (!r.ok && bail) break;
}

let passed = 0;
let failed = 0;
let skipped = 0;
console.log("\n━━ summary ━━");
for (const r of results) {
  const c = r.counts;
  if (c) {
    passed += c.passed;
    failed += c.failed;
    skipped += c.skipped;
  } else if (!r.ok) failed += 1;
  const detail = c ? `${c.passed} passed, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped` : ""}` : r.ok ? "ok" : "FAILED";
  console.log(`${r.ok ? "✓" : "✗"} ${r.tier.padEnd(12)} ${detail.padEnd(36)} ${r.seconds}s`);
}
const allOk = results.every((r) => r.ok) && results.length === tiers.length;
if (!allOk && failed === 0) failed = 1;
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(allOk ? 0 : 1);
