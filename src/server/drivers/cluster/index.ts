import "server-only";
import type { Port } from "../port";

/** A Kubernetes condition as Flux reports it. */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
}

/** Status of the environment's Flux Kustomization (kustomize.toolkit.fluxcd.io/v1). */
export interface FluxStatus {
  name: string;
  namespace: string;
  generation: number;
  observedGeneration: number;
  suspended: boolean;
  /** `main@sha1:<sha>` (RFC-0005) or the old `main/<sha>`; null before the first apply. */
  lastAppliedRevision: string | null;
  lastAttemptedRevision: string | null;
  conditions: Condition[];
}

/** One container of a running pod and the image it actually runs. */
export interface RunningImage {
  pod: string;
  container: string;
  /** The image reference of the spec, e.g. `registry/piksel-core:v1.2.0@sha256:…`. */
  image: string;
  /** What the kubelet reports (`docker-pullable://…@sha256:…` or `…@sha256:…`). */
  imageID: string;
  /** The `sha256:…` digest from imageID, or null when the runtime reports none. */
  digest: string | null;
  ready: boolean;
  phase: string;
}

/** A change seen by a watch; consumers re-read what they need. */
export type ClusterEvent = { kind: "flux" } | { kind: "pods" };

/** Why a watch is not seeing changes right now (it keeps retrying until stopped). */
export interface ClusterWatchError extends Error {
  /** HTTP status of the failed call, when there was one. */
  status?: number;
}

/** One environment's cluster: Flux status and pods (read side). Jobs come with product requests. */
export interface ClusterPort extends Port {
  /** The configured Kustomization's status, or null when it does not exist. */
  fluxStatus(): Promise<FluxStatus | null>;
  /** Containers of the pods in the environment's namespace (optionally a label selector). */
  runningImages(labelSelector?: string): Promise<RunningImage[]>;
  /**
   * Calls `onEvent` on every change of the Kustomization or the pods until the returned stop is
   * called, and once per kind when the watch (re)starts from a fresh read (at start, after a relist),
   * since changes may have happened unseen. Disconnects are resumed and retried with backoff; each
   * failure is passed to `onError` (the watch keeps going). Handlers must not throw.
   */
  watch(onEvent: (event: ClusterEvent) => void, onError?: (error: ClusterWatchError) => void): () => void;
}
