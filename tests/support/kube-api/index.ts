export { startKubeApiServer, kubeconfigYaml, type KubeApiServer, type KubeApiServerOptions, type KubeObjectInput, type RecordedRequest, type FailureRule } from "./server";
export type { KubeObject, ObjectMeta, OwnerReference } from "./store";
export { contractTarget, realClusterConfigured, type ContractTarget } from "./contract";
export { waitFor } from "./wait";
export type { Kubelet, PodScript, JobControllerOptions } from "./jobs";
