import { randomBytes } from "node:crypto";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import type { JobControllerOptions, Kubelet } from "./jobs";
import { startKubeApiServer, type KubeApiServer } from "./server";

/**
 * Where a cluster contract suite runs: the local test API server, or a real cluster when KUBECONFIG
 * is set (then in a throwaway namespace, deleted at the end; Flux's CRDs must be installed). The
 * fixtures below create the same objects either way: through the server's controls here, through the
 * Kubernetes API there.
 */
export interface ContractTarget {
  mode: "test-server" | "real";
  /** For the driver: the test server's kubeconfig; undefined on a real cluster ($KUBECONFIG applies). */
  kubeconfigPath: string | undefined;
  /** Namespace of the pods and Kustomizations the suite creates. */
  namespace: string;
  /** Only in test-server mode: the controls that break the server on purpose. */
  server: KubeApiServer | undefined;
  /** Only in test-server mode with a Job controller: how pods end. A real cluster's kubelet runs real containers. */
  kubelet: Kubelet | undefined;
  putKustomization(name: string, k: { suspend?: boolean; interval?: string; status?: Record<string, unknown> }): Promise<void>;
  deleteKustomization(name: string): Promise<void>;
  /**
   * A pod. On the test server its status is the given one (the tests play the kubelet); on a real
   * cluster the kubelet reports it, so `status` is ignored there.
   */
  putPod(name: string, pod: { labels?: Record<string, string>; containers: { name: string; image: string }[]; status?: Record<string, unknown> }): Promise<void>;
  deletePod(name: string): Promise<void>;
  close(): Promise<void>;
}

/** True when the cluster suites run against the real cluster of $KUBECONFIG instead of the test server. */
export const realClusterConfigured = Boolean(process.env.KUBECONFIG);

const flux = { group: "kustomize.toolkit.fluxcd.io", version: "v1", plural: "kustomizations" } as const;

/** Kustomization spec fields the v1 CRD requires (interval, prune, sourceRef); the source need not exist. */
const ksSpec = (suspend: boolean, interval: string) => ({ interval, prune: false, path: "./", sourceRef: { kind: "GitRepository", name: "piksel-contract-source" }, suspend });

export async function contractTarget(opts: { jobController?: boolean | JobControllerOptions } = {}): Promise<ContractTarget> {
  if (realClusterConfigured) return realTarget();
  const server = await startKubeApiServer({ namespaces: ["default", "kube-system", "flux-system", "piksel-contract"], jobController: opts.jobController });
  const namespace = "piksel-contract";
  return {
    mode: "test-server",
    kubeconfigPath: server.kubeconfigPath,
    namespace,
    server,
    kubelet: server.kubelet,
    async putKustomization(name, k) {
      server.put({ apiVersion: `${flux.group}/${flux.version}`, kind: "Kustomization", metadata: { name, namespace }, spec: ksSpec(k.suspend ?? false, k.interval ?? "10m"), ...(k.status ? { status: k.status } : {}) });
    },
    async deleteKustomization(name) {
      if (server.get("Kustomization", namespace, name)) server.remove("Kustomization", namespace, name);
    },
    async putPod(name, p) {
      server.put({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace, labels: p.labels }, spec: { containers: p.containers }, status: p.status ?? { phase: "Pending" } });
    },
    async deletePod(name) {
      if (server.get("Pod", namespace, name)) server.remove("Pod", namespace, name);
    },
    close: () => server.close(),
  };
}

async function realTarget(): Promise<ContractTarget> {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const namespace = `piksel-contract-${randomBytes(3).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name: namespace, labels: { "app.kubernetes.io/part-of": "piksel-contract-tests" } } } });
  const get = (name: string) => custom.getNamespacedCustomObject({ ...flux, namespace, name }).catch(() => undefined) as Promise<Record<string, unknown> | undefined>;
  return {
    mode: "real",
    kubeconfigPath: undefined,
    namespace,
    server: undefined,
    kubelet: undefined,
    async putKustomization(name, k) {
      // Always suspended on a real cluster: kustomize-controller returns before touching the status
      // of a suspended Kustomization (kustomization_controller.go Reconcile), so the status written
      // here stays. A test that needs suspend=false only looks at spec.
      const body = { apiVersion: `${flux.group}/${flux.version}`, kind: "Kustomization", metadata: { name, namespace }, spec: ksSpec(k.suspend ?? true, k.interval ?? "10m") };
      const existing = await get(name);
      const stored = (existing
        ? await custom.replaceNamespacedCustomObject({ ...flux, namespace, name, body: { ...body, metadata: { ...body.metadata, resourceVersion: (existing.metadata as { resourceVersion: string }).resourceVersion } } })
        : await custom.createNamespacedCustomObject({ ...flux, namespace, body })) as Record<string, unknown>;
      if (k.status) await custom.replaceNamespacedCustomObjectStatus({ ...flux, namespace, name, body: { ...stored, status: k.status } });
    },
    async deleteKustomization(name) {
      if (await get(name)) await custom.deleteNamespacedCustomObject({ ...flux, namespace, name });
    },
    async putPod(name, p) {
      const exists = await core.readNamespacedPod({ namespace, name }).catch(() => undefined);
      if (exists) return;
      await core.createNamespacedPod({ namespace, body: { metadata: { name, labels: p.labels }, spec: { containers: p.containers, terminationGracePeriodSeconds: 0 } } });
    },
    async deletePod(name) {
      await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }).catch(() => undefined);
    },
    async close() {
      await core.deleteNamespace({ name: namespace });
    },
  };
}
