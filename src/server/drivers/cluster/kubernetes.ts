import "server-only";
import { CoreV1Api, CustomObjectsApi, KubeConfig, VersionApi, type V1Pod } from "@kubernetes/client-node";
import { withTimeout } from "../port";
import { KubernetesApiError, toKubernetesApiError } from "./api-error";
import type { ClusterEvent, ClusterPort } from "./index";
import { resolveJobSettings, type JobSettingsInput } from "./job-manifest";
import { createKubernetesJobs } from "./kubernetes-jobs";
import { startListWatch } from "./list-watch";
import { fluxStatusFromObject, runningImagesFromPods, type KustomizationObject } from "./objects";

export { KubernetesApiError } from "./api-error";

// Flux's Kustomization API (fluxcd/kustomize-controller api/v1, GroupVersion kustomize.toolkit.fluxcd.io/v1).
const flux = { group: "kustomize.toolkit.fluxcd.io", version: "v1", plural: "kustomizations" } as const;

export interface KubernetesClusterOptions {
  /** Path of a kubeconfig; absent = $KUBECONFIG, ~/.kube/config or the in-cluster service account. */
  kubeconfig?: string;
  context?: string;
  /** Namespace of the environment's workloads (pods). */
  namespace: string;
  /** Namespace and name of the environment's Flux Kustomization. */
  fluxNamespace: string;
  kustomization: string;
  /** Watch reconnect backoff; tests shorten it. */
  watchBackoff?: { initialMs: number; maxMs: number };
  /** How geomedian Jobs run (config `cluster.jobs`); defaults when absent. */
  jobs?: JobSettingsInput;
  /** Bounded retries of a submit on 5xx, 429 and network errors; tests shorten them. */
  submitRetry?: { attempts: number; initialMs: number; maxMs: number };
  /** How often a followed log checks whether its pod has started; default 1 s. */
  logPollMs?: number;
}

/** Kubernetes API through @kubernetes/client-node (EKS in production). */
export function createKubernetesCluster(opts: KubernetesClusterOptions): ClusterPort {
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  if (opts.context) kc.setCurrentContext(opts.context);
  const server = kc.getCurrentCluster()?.server ?? "(in-cluster)";
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const ksRef = `${opts.fluxNamespace}/${opts.kustomization}`;
  const jobs = createKubernetesJobs({ kc, namespace: opts.namespace, settings: resolveJobSettings(opts.jobs), submitRetry: opts.submitRetry, watchBackoff: opts.watchBackoff, logPollMs: opts.logPollMs });

  async function listPods(labelSelector?: string): Promise<V1Pod[]> {
    const pods: V1Pod[] = [];
    let next: string | undefined;
    // Paged like kubectl (limit 500) so a namespace with many pods does not make one huge response.
    do {
      const page = await core.listNamespacedPod({ namespace: opts.namespace, labelSelector, limit: 500, _continue: next });
      pods.push(...page.items);
      next = page.metadata?._continue || undefined;
    } while (next);
    return pods;
  }

  return {
    driver: "kubernetes",
    endpoint: `${server} (namespace ${opts.namespace}, Kustomization ${ksRef})`,

    async check() {
      const version = await withTimeout(kc.makeApiClient(VersionApi).getCode(), 5000, "Kubernetes API");
      return `Kubernetes ${version.gitVersion}`;
    },

    async fluxStatus() {
      let obj: KustomizationObject;
      try {
        obj = (await custom.getNamespacedCustomObject({ ...flux, namespace: opts.fluxNamespace, name: opts.kustomization })) as KustomizationObject;
      } catch (err) {
        const e = toKubernetesApiError(err, server, `read Kustomization ${ksRef}`);
        // A 404 naming the object means it does not exist. A 404 without details means the API server
        // does not serve the resource type at all: Flux (its CRDs) is not installed, which is a fault.
        if (e.status === 404 && e.details?.name === opts.kustomization) return null;
        if (e.status === 404) {
          throw new KubernetesApiError(`Kubernetes API ${server}: ${flux.group}/${flux.version} ${flux.plural} is not served: are Flux's CRDs installed? (${e.message})`, 404, e.reason, e.details, { cause: e });
        }
        throw e;
      }
      return fluxStatusFromObject(obj);
    },

    async runningImages(labelSelector) {
      try {
        return runningImagesFromPods(await listPods(labelSelector));
      } catch (err) {
        throw toKubernetesApiError(err, server, `list pods in namespace ${opts.namespace}`);
      }
    },

    watch(onEvent, onError) {
      const emit = (event: ClusterEvent) => () => onEvent(event);
      const report = (error: KubernetesApiError) => onError?.(error);
      const stops = [
        startListWatch({
          kc,
          what: `Kustomization ${ksRef}`,
          path: `/apis/${flux.group}/${flux.version}/namespaces/${opts.fluxNamespace}/${flux.plural}`,
          fieldSelector: `metadata.name=${opts.kustomization}`,
          async list() {
            const list = (await custom.listNamespacedCustomObject({ ...flux, namespace: opts.fluxNamespace, fieldSelector: `metadata.name=${opts.kustomization}` })) as { metadata?: { resourceVersion?: string } };
            return list.metadata?.resourceVersion ?? "";
          },
          onChange: emit({ kind: "flux" }),
          onError: report,
          backoff: opts.watchBackoff,
        }),
        startListWatch({
          kc,
          what: `pods in namespace ${opts.namespace}`,
          path: `/api/v1/namespaces/${opts.namespace}/pods`,
          // Only the collection's resourceVersion is needed to start watching (consumers re-read), so
          // the list asks for a single item: still a consistent read, at a fraction of the cost.
          async list() {
            const page = await core.listNamespacedPod({ namespace: opts.namespace, limit: 1 });
            return page.metadata?.resourceVersion ?? "";
          },
          onChange: emit({ kind: "pods" }),
          onError: report,
          backoff: opts.watchBackoff,
        }),
      ];
      return () => stops.forEach((stop) => stop());
    },

    ...jobs,
  };
}
