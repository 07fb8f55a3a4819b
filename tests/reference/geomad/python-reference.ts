import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * Runs the Python reference (`geomad_reference.py`, the `geomad` package that odc-algo uses) on a cube
 * and reads its outputs back. The interpreter is a virtualenv under `<repo>/.cache/venv-geomad`,
 * created on first use with `python3 -m venv` and `pip install geomad==1.0.0 numpy`.
 */

const HERE = import.meta.dirname;
const REPO = path.resolve(HERE, "../../..");
/** Where the virtualenv lives (inside the repository, not committed). */
export const VENV_DIR = path.join(REPO, ".cache", "venv-geomad");
const SCRIPT = path.join(HERE, "geomad_reference.py");
const REQUIREMENTS = ["geomad==1.0.0", "numpy"];

/** Outputs of the reference, in the kernel's layout, plus its own timing. */
export interface ReferenceOutput {
  median: Float32Array;
  smad: Float32Array;
  emad: Float32Array;
  bcmad: Float32Array;
  count: Uint16Array;
  /** Wall-clock seconds around the geomad calls, measured in Python. */
  seconds: { gm: number; madsAndCount: number; total: number };
  /** CPU seconds (process_time) around the geomad calls. */
  cpuSeconds: { gm: number; total: number };
  versions: { geomad: string; numpy: string };
}

/** Shape and parameters handed to the reference. */
export interface ReferenceInput {
  cube: Float32Array;
  bands: number;
  times: number;
  height: number;
  width: number;
  eps: number;
  maxiters: number;
  scale: number;
}

/** Thrown when Python, the virtualenv or the packages are missing; the message says which and how to fix it. */
export class ReferenceUnavailableError extends Error {}

function venvPython(): string {
  return path.join(VENV_DIR, process.platform === "win32" ? "Scripts/python.exe" : "bin/python");
}

function canImport(python: string): boolean {
  const probe = spawnSync(python, ["-c", "import geomad, numpy"], { encoding: "utf8" });
  return probe.status === 0;
}

function run(command: string, args: string[], what: string): void {
  const result = spawnSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (result.error !== undefined) {
    throw new ReferenceUnavailableError(`${what} failed: cannot run "${command}" (${result.error.message}).`);
  }
  if (result.status !== 0) {
    throw new ReferenceUnavailableError(`${what} failed (exit ${result.status}): ${command} ${args.join(" ")}\n${result.stderr.trim()}`);
  }
}

/**
 * Returns the virtualenv's interpreter, creating the virtualenv and installing the packages when
 * needed. Throws `ReferenceUnavailableError` saying what is missing.
 */
export function ensureReferencePython(): string {
  const python = venvPython();
  if (existsSync(python) && canImport(python)) return python;

  const hint =
    "The geomad reference needs python3 (with the venv module) and access to PyPI. " +
    "Set PIKSEL_SKIP_PYTHON_REFERENCE=1 to skip the reference tests on a machine without them.";
  const system = spawnSync("python3", ["--version"], { encoding: "utf8" });
  if (system.error !== undefined || system.status !== 0) {
    throw new ReferenceUnavailableError(`python3 was not found on PATH. ${hint}`);
  }
  mkdirSync(path.dirname(VENV_DIR), { recursive: true });
  try {
    if (!existsSync(python)) run("python3", ["-m", "venv", VENV_DIR], "Creating the virtualenv " + VENV_DIR);
    run(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", ...REQUIREMENTS], "pip install " + REQUIREMENTS.join(" "));
  } catch (error) {
    if (error instanceof ReferenceUnavailableError) throw new ReferenceUnavailableError(`${error.message}\n${hint}`);
    throw error;
  }
  if (!canImport(python)) throw new ReferenceUnavailableError(`geomad and numpy are still not importable from ${python}. ${hint}`);
  return python;
}

/** Runs the reference on `input`; throws if the script fails. */
export function runGeomadReference(input: ReferenceInput): ReferenceOutput {
  const python = ensureReferencePython();
  const { bands, times, height, width } = input;
  const pixels = height * width;
  if (input.cube.length !== bands * times * pixels) throw new RangeError("runGeomadReference: cube length does not match its shape");

  const dir = mkdtempSync(path.join(tmpdir(), "piksel-geomad-"));
  try {
    const header = { bands, times, height, width, eps: input.eps, maxiters: input.maxiters, scale: input.scale };
    writeFileSync(path.join(dir, "header.json"), JSON.stringify(header));
    writeFileSync(path.join(dir, "cube.f32"), littleEndian(input.cube));
    execFileSync(python, [SCRIPT, dir], { stdio: ["ignore", "inherit", "inherit"] });

    const result = JSON.parse(readFileSync(path.join(dir, "result.json"), "utf8")) as {
      geomad: string;
      numpy: string;
      seconds_gm: number;
      seconds_mads_count: number;
      seconds_total: number;
      cpu_seconds_gm: number;
      cpu_seconds_total: number;
    };
    return {
      median: readFloat32(path.join(dir, "median.f32"), bands * pixels),
      smad: readFloat32(path.join(dir, "smad.f32"), pixels),
      emad: readFloat32(path.join(dir, "emad.f32"), pixels),
      bcmad: readFloat32(path.join(dir, "bcmad.f32"), pixels),
      count: readUint16(path.join(dir, "count.u16"), pixels),
      seconds: { gm: result.seconds_gm, madsAndCount: result.seconds_mads_count, total: result.seconds_total },
      cpuSeconds: { gm: result.cpu_seconds_gm, total: result.cpu_seconds_total },
      versions: { geomad: result.geomad, numpy: result.numpy },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function littleEndian(values: Float32Array): Uint8Array {
  if (HOST_IS_LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new DataView(new ArrayBuffer(values.byteLength));
  values.forEach((v, i) => out.setFloat32(i * 4, v, true));
  return new Uint8Array(out.buffer);
}

function readFloat32(file: string, length: number): Float32Array {
  const bytes = readFileSync(file);
  if (bytes.byteLength !== length * 4) throw new Error(`${file}: ${bytes.byteLength} bytes, expected ${length * 4}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

function readUint16(file: string, length: number): Uint16Array {
  const bytes = readFileSync(file);
  if (bytes.byteLength !== length * 2) throw new Error(`${file}: ${bytes.byteLength} bytes, expected ${length * 2}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint16Array(length);
  for (let i = 0; i < length; i++) out[i] = view.getUint16(i * 2, true);
  return out;
}
