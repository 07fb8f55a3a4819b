import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

/**
 * The real ODC tools for datacube.reference.test.ts: datacube 1.8 and odc-apps-dc-tools in a
 * virtualenv under `<repo>/.cache/venv-datacube` (git-ignored), created on first use from
 * requirements.txt + constraints.txt and reused while those files are unchanged.
 */

const HERE = import.meta.dirname;
const REPO = path.resolve(HERE, "../../..");
export const VENV_DIR = path.join(REPO, ".cache", "venv-datacube");
const REQUIREMENTS = path.join(HERE, "requirements.txt");
const CONSTRAINTS = path.join(HERE, "constraints.txt");
const SCRIPT = path.join(HERE, "odc_reference.py");
// What the virtualenv was built from, and how long pip took.
const MARKER = path.join(VENV_DIR, "piksel-requirements.sha256");
const INSTALL_SECONDS = path.join(VENV_DIR, "piksel-install-seconds");

const run = promisify(execFile);

/** Python, the venv module or PyPI is missing; the message says which and how to skip. */
export class PythonReferenceUnavailableError extends Error {
  constructor(detail: string) {
    super(
      `${detail}\nThe datacube reference test needs python3 (3.9 to 3.12, with the venv module) and access to PyPI; ` +
        "set PIKSEL_SKIP_PYTHON_REFERENCE=1 to skip it on a machine without them.",
    );
    this.name = "PythonReferenceUnavailableError";
  }
}

export interface DatacubePython {
  /** Runs the `datacube` CLI against the database of `config` (a file written by `writeDatacubeConfig`). */
  datacube(config: string, args: string[]): Promise<string>;
  /** Runs odc_reference.py and parses its JSON. */
  script<T>(config: string | null, args: string[]): Promise<T>;
  /** Seconds `pip install` took, or null when an existing virtualenv was reused. */
  installSeconds: number | null;
  /** Seconds of the install that built the reused virtualenv, if recorded. */
  recordedInstallSeconds: number | null;
}

function requirementsHash(): string {
  return createHash("sha256").update(readFileSync(REQUIREMENTS)).update(readFileSync(CONSTRAINTS)).digest("hex");
}

async function output(command: string, args: string[], what: string): Promise<string> {
  try {
    const { stdout } = await run(command, args, { maxBuffer: 256 * 1024 * 1024, encoding: "utf8" });
    return stdout;
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string; message: string };
    if (e.code === "ENOENT") throw new PythonReferenceUnavailableError(`${what}: ${command} was not found.`);
    throw new Error(`${what} failed: ${command} ${args.join(" ")}\n${e.stderr?.trim() || e.message}`);
  }
}

async function systemPython(): Promise<string> {
  for (const candidate of ["python3", "python3.12", "python3.11", "python3.10", "python3.9"]) {
    try {
      const { stdout } = await run(candidate, ["-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8" });
      const [major, minor] = stdout.trim().split(".").map(Number);
      // datacube 1.8.20 supports Python 3.9 to 3.12.
      if (major === 3 && minor !== undefined && minor >= 9 && minor <= 12) return candidate;
    } catch {
      // Not installed, or without venv: try the next name.
    }
  }
  throw new PythonReferenceUnavailableError("No python3 between 3.9 and 3.12 with the venv module was found on PATH.");
}

/** The virtualenv, created and filled with `pip install` when missing or built from other requirements. */
export async function ensureDatacubePython(): Promise<DatacubePython> {
  const bin = path.join(VENV_DIR, "bin");
  const python = path.join(bin, "python");
  const hash = requirementsHash();
  let installSeconds: number | null = null;
  const usable = existsSync(MARKER) && readFileSync(MARKER, "utf8").trim() === hash && existsSync(python);
  if (!usable) {
    const system = await systemPython();
    rmSync(VENV_DIR, { recursive: true, force: true });
    mkdirSync(path.dirname(VENV_DIR), { recursive: true });
    await output(system, ["-m", "venv", VENV_DIR], "Creating the virtualenv");
    const started = performance.now();
    await output(python, ["-m", "pip", "install", "--disable-pip-version-check", "--quiet", "-r", REQUIREMENTS, "-c", CONSTRAINTS], "pip install datacube");
    installSeconds = Math.round((performance.now() - started) / 100) / 10;
    writeFileSync(INSTALL_SECONDS, `${installSeconds}\n`);
    writeFileSync(MARKER, `${hash}\n`);
  }
  const recorded = existsSync(INSTALL_SECONDS) ? Number(readFileSync(INSTALL_SECONDS, "utf8")) : null;
  return {
    installSeconds,
    recordedInstallSeconds: recorded,
    datacube: (config, args) => output(path.join(bin, "datacube"), ["--config", config, ...args], `datacube ${args.slice(0, 2).join(" ")}`),
    async script<T>(config: string | null, args: string[]) {
      const stdout = await output(python, [SCRIPT, ...(config ? ["--config", config] : []), ...args], `odc_reference.py ${args[0]}`);
      return JSON.parse(stdout) as T;
    },
  };
}

/** A datacube 1.8 configuration file (ini) for a PostgreSQL URL. */
export function writeDatacubeConfig(file: string, url: string): string {
  const u = new URL(url);
  const lines = [
    "[datacube]",
    `db_hostname: ${u.hostname}`,
    `db_port: ${u.port || "5432"}`,
    `db_database: ${decodeURIComponent(u.pathname.slice(1))}`,
    `db_username: ${decodeURIComponent(u.username)}`,
    `db_password: ${decodeURIComponent(u.password)}`,
  ];
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}
