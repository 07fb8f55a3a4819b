import "server-only";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { redactUrl, withTimeout } from "../port";
import type { GitopsPort } from "./index";

const run = promisify(execFile);

/** GitOps over system git: a remote URL in production, a bare repository on disk locally (same code). */
export function createGitGitops(opts: { remote: string; branch: string; overlayPath: string }): GitopsPort {
  const headCommit = async () => {
    const { stdout } = await withTimeout(
      run("git", ["-c", "credential.interactive=never", "ls-remote", "--heads", opts.remote, opts.branch]),
      10_000,
      "git ls-remote",
    );
    return stdout.split(/\s+/)[0] || undefined;
  };
  return {
    driver: "git",
    endpoint: `${redactUrl(opts.remote)} (${opts.branch}, ${opts.overlayPath})`,
    headCommit,
    async check() {
      const head = await headCommit().catch((err: Error & { stderr?: string }) => {
        throw new Error(`git remote ${redactUrl(opts.remote)} is not reachable: ${(err.stderr || err.message).trim().split("\n")[0]}`);
      });
      if (!head) throw new Error(`branch ${opts.branch} does not exist on ${redactUrl(opts.remote)}`);
      return `${opts.branch} at ${head.slice(0, 7)}`;
    },
  };
}
