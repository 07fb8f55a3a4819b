import "server-only";
import type { PikselConfig } from "../config";
import type { Logger } from "../logger";
import type { EnvironmentPorts } from "../ports";
import { startLocalFlux, type LocalFlux } from "./local-flux";

/**
 * Starts the local Flux for every environment on the local cluster driver: it reads the overlay at
 * the branch head through the GitOps port and resolves tags through the registry port, as Flux and
 * the kubelet would (docs/adr/0009). Undefined when no environment uses the local cluster.
 */
export async function startEmbeddedFlux(config: PikselConfig, ports: Map<string, EnvironmentPorts>, log: Logger): Promise<LocalFlux | undefined> {
  const local = config.environments.flatMap((e) => (e.cluster.driver === "local" ? [{ env: e, cluster: e.cluster }] : []));
  if (!local.length) return undefined;
  return startLocalFlux({
    log: log.child({ component: "local-flux" }),
    environments: local.map(({ env, cluster }) => {
      const p = ports.get(env.name)!;
      return {
        name: env.name,
        stateDir: cluster.stateDir,
        reconcileDelaySeconds: cluster.reconcileDelaySeconds,
        desired: async () => {
          const overlay = await p.gitops.readOverlay();
          return { revision: `${env.gitops.branch}@sha1:${overlay.commit}`, images: overlay.images };
        },
        resolveDigest: (_name: string, tag: string) => p.registry.resolve(tag).catch(() => null),
      };
    }),
  });
}
