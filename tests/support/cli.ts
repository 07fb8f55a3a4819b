import { execFile, spawnSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");
export const cliPath = path.join(root, "dist", "cli", "piksel.mjs");

/** Bundles the CLI as the build does, so the tests run the same file that ships. */
export function buildCli(): void {
  const r = spawnSync(process.execPath, [path.join(root, "scripts", "build-cli.mjs"), "--quiet"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`building the CLI failed: ${r.stderr}`);
}

/** Runs `piksel <args>` with exactly the given environment (plus PATH and HOME). */
export function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliPath, ...args],
      { env: { NODE_ENV: "production", PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PIKSEL_LOG_JSON: "1", ...env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
