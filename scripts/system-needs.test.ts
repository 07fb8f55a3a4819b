import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error -- a plain .mjs module of the scripts (no declaration file)
import { systemNeeds } from "./system-needs.mjs";

const root = path.resolve(import.meta.dirname, "..");
const ciRun = fs.readFileSync(path.join(root, ".ci", "run"), "utf8");
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
const testListed = new Set((systemNeeds as { pkg: string }[]).map((n) => n.pkg));

/** A bash array `name=(a b c)` of .ci/run. */
function bashArray(name: string): string[] {
  const m = ciRun.match(new RegExp(`^${name}=\\(([^)]*)\\)`, "m"));
  if (!m) throw new Error(`.ci/run has no array ${name}=(…)`);
  return m[1]!.trim().split(/\s+/);
}

// The second PostgreSQL on which CI runs the integration tier again: the one thing only CI needs.
const ALLOWED_CI_ONLY = ["postgresql-15"];

describe(".ci/run installs nothing that npm test would not", () => {
  it("installs packages only from its two arrays (no package named on an apt-get line)", () => {
    const aptLines = ciRun.split("\n").filter((l) => /apt-get\s+install/.test(l));
    expect(aptLines.length).toBeGreaterThan(0);
    for (const line of aptLines) expect(line).toMatch(/apt-get install -y -qq "\$\{missing\[@\]\}"\s*$/);
  });

  it("every package of the README's install line is in npm test's list", () => {
    const readmeInstall = bashArray("readme_install");
    expect(readmeInstall.filter((p) => !testListed.has(p))).toEqual([]);
  });

  it("what it adds for CI alone is only the second PostgreSQL", () => {
    expect(bashArray("ci_only").filter((p) => !ALLOWED_CI_ONLY.includes(p))).toEqual([]);
  });

  it("runs the README's install line exactly", () => {
    const line = readme.split("\n").find((l) => /apt-get install -y .*&& npm ci && npm start/.test(l));
    expect(line, "README's Debian install line").toBeDefined();
    const pkgs = line!.replace(/^.*apt-get install -y\s+/, "").replace(/\s*&&.*$/, "").split(/\s+/);
    expect(pkgs).toEqual(bashArray("readme_install"));
  });

  it("npm test names the COG validator's and the GDAL tools' packages (the tests call them)", () => {
    for (const pkg of ["python3-gdal", "gdal-bin", "chromium", "git"]) expect(testListed.has(pkg), pkg).toBe(true);
  });
});
