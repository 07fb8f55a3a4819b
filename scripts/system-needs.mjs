// What `npm test`'s tiers need from the machine, one entry per Debian package: which tiers need it,
// how to tell it is there, and why. scripts/test.mjs installs what is missing with apt (as root) or
// names it; `.ci/run` installs nothing else but the README's install line and what only CI needs,
// which scripts/system-needs.test.ts checks.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
const exists = (...paths) => paths.some((p) => fs.existsSync(p));

/** GDAL's own COG validator (python3-gdal); tests call it with Debian's python3, which sees `osgeo`. */
export const COG_VALIDATOR = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py";

const gdalBindingOk = () => spawnSync(process.execPath, [path.join(root, "scripts", "build-gdal.mjs"), "--check"], { stdio: "ignore" }).status === 0;

/**
 * @typedef {{ pkg: string, tiers: string[], ok: () => boolean, why: string, brew?: string }} SystemNeed
 * @type {SystemNeed[]}
 */
export const systemNeeds = [
  { pkg: "chromium", tiers: ["e2e"], ok: () => exists("/usr/bin/chromium", "/usr/bin/chromium-browser"), why: "browser tests (Playwright drives Debian's Chromium)", brew: "--cask chromium" },
  { pkg: "git", tiers: ["integration", "e2e"], ok: () => has("git"), why: "the GitOps driver" },
  { pkg: "docker-registry", tiers: ["integration"], ok: () => has("docker-registry"), why: "the registry driver's tests against a real OCI registry", brew: "distribution" },
  { pkg: "skopeo", tiers: ["integration"], ok: () => has("skopeo"), why: "cross-checking digests in the registry tests" },
  { pkg: "apache2-utils", tiers: ["integration"], ok: () => has("htpasswd"), why: "htpasswd (bcrypt) for the registry's basic-auth tests", brew: "httpd" },
  { pkg: "openssl", tiers: ["integration"], ok: () => has("openssl"), why: "the token-auth certificate of the registry tests" },
  { pkg: "python3-venv", tiers: ["reference"], ok: () => spawnSync("python3", ["-m", "venv", "--help"], { stdio: "ignore" }).status === 0, why: "reference checks against the Python implementations (datacube, geomad)", brew: "python" },
  { pkg: "python3-pip", tiers: ["reference"], ok: () => spawnSync("python3", ["-m", "pip", "--version"], { stdio: "ignore" }).status === 0, why: "installing the Python references into their virtualenvs", brew: "python" },
  // The worker's binding: npm ci builds it (scripts/build-gdal.mjs); these are what that build needs.
  { pkg: "libgdal-dev", tiers: ["unit", "integration", "reference", "build", "e2e"], ok: () => has("gdal-config") || gdalBindingOk(), why: "the worker's GDAL binding (gdal-async, built against the system GDAL)", brew: "gdal" },
  { pkg: "g++", tiers: ["unit", "integration", "reference", "build", "e2e"], ok: () => has("g++") || gdalBindingOk(), why: "compiling the GDAL binding", brew: "gcc" },
  { pkg: "make", tiers: ["unit", "integration", "reference", "build", "e2e"], ok: () => has("make") || gdalBindingOk(), why: "compiling the GDAL binding" },
  { pkg: "gdal-bin", tiers: ["integration", "e2e"], ok: () => has("gdalinfo"), why: "GDAL's command-line tools beside the COG validator", brew: "gdal" },
  { pkg: "python3-gdal", tiers: ["integration", "e2e"], ok: () => exists(COG_VALIDATOR), why: "GDAL's COG validator, run on the worker's outputs", brew: "gdal" },
];
