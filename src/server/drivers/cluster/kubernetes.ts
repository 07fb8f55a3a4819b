import "server-only";
import { KubeConfig, VersionApi } from "@kubernetes/client-node";
import { withTimeout } from "../port";
import type { ClusterPort } from "./index";

/** Kubernetes API through @kubernetes/client-node (EKS in production). */
export function createKubernetesCluster(opts: { kubeconfig?: string; context?: string; namespace: string }): ClusterPort {
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  if (opts.context) kc.setCurrentContext(opts.context);
  const server = kc.getCurrentCluster()?.server ?? "(in-cluster)";
  return {
    driver: "kubernetes",
    endpoint: `${server} (namespace ${opts.namespace})`,
    async check() {
      const version = await withTimeout(kc.makeApiClient(VersionApi).getCode(), 5000, "Kubernetes API");
      return `Kubernetes ${version.gitVersion}`;
    },
  };
}
