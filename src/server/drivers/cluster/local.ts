import "server-only";
import fs from "node:fs/promises";
import type { ClusterPort } from "./index";

/**
 * The embedded default's cluster: Jobs run as child processes and a local Flux applies the overlays
 * (DESIGN.md section 4). Its state lives in a directory so every process of the platform sees it.
 */
export function createLocalCluster(opts: { stateDir: string }): ClusterPort {
  return {
    driver: "local",
    endpoint: opts.stateDir,
    async check() {
      await fs.mkdir(opts.stateDir, { recursive: true });
      await fs.access(opts.stateDir, fs.constants.W_OK);
      return "local cluster state writable";
    },
  };
}
