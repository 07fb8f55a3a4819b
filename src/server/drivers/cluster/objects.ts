import "server-only";
import type { Condition, FluxStatus, RunningImage } from "./index";

/**
 * Pure mapping from Kubernetes objects (as JSON) to the port's types, shared by the Kubernetes
 * driver and the local driver (whose state files hold objects of the same shape).
 */

/** The fields of a Pod the port reads; client-node's V1Pod fits it. */
export interface PodObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; creationTimestamp?: string | Date };
  spec?: { containers?: { name: string; image?: string }[] };
  status?: {
    phase?: string;
    startTime?: string | Date;
    conditions?: { type: string; status: string; lastTransitionTime?: string | Date }[];
    containerStatuses?: {
      name: string;
      image?: string;
      imageID?: string;
      ready?: boolean;
      started?: boolean;
      restartCount?: number;
      state?: { running?: { startedAt?: string | Date }; waiting?: { reason?: string }; terminated?: { exitCode?: number } };
    }[];
  };
}

/** The fields of a Flux Kustomization (kustomize.toolkit.fluxcd.io/v1) the port reads. */
export interface KustomizationObject {
  metadata?: { name?: string; namespace?: string; generation?: number };
  spec?: { suspend?: boolean };
  status?: {
    observedGeneration?: number;
    lastAppliedRevision?: string;
    lastAttemptedRevision?: string;
    conditions?: { type?: string; status?: string; reason?: string; message?: string; lastTransitionTime?: string | Date }[];
  };
}

// OCI digest of a content-addressed manifest (opencontainers/image-spec descriptor.md, "Digests").
const digestRe = /@((?:sha256:[a-f0-9]{64})|(?:sha512:[a-f0-9]{128}))$/;

/**
 * The manifest digest in a container status' imageID. Runtimes report `docker-pullable://repo@sha256:…`
 * (dockershim, cri-dockerd) or `repo@sha256:…` (containerd, CRI-O): the digest follows the last `@`.
 * A bare `sha256:…` (or `docker://sha256:…`) is the local image (config) ID of an image that was never
 * pulled by digest, e.g. one side-loaded into kind: it is not a registry digest, so null.
 */
export function digestFromImageID(imageID: string | undefined): string | null {
  if (!imageID) return null;
  return digestRe.exec(imageID)?.[1] ?? null;
}

/**
 * One entry per container of each pod. A container the kubelet has not reported yet (pod Pending,
 * image being pulled) is listed with an empty imageID, so a rollout in progress is visible.
 */
export function runningImagesFromPods(pods: PodObject[]): RunningImage[] {
  return pods.flatMap((pod) => {
    const statuses = pod.status?.containerStatuses ?? [];
    const containers = pod.spec?.containers ?? statuses.map((s) => ({ name: s.name, image: s.image }));
    return containers.map((c): RunningImage => {
      const s = statuses.find((x) => x.name === c.name);
      return {
        pod: pod.metadata?.name ?? "",
        container: c.name,
        image: c.image ?? s?.image ?? "",
        imageID: s?.imageID ?? "",
        digest: digestFromImageID(s?.imageID),
        ready: s?.ready ?? false,
        phase: pod.status?.phase ?? "Unknown",
      };
    });
  });
}

const conditionStatus = (s: string | undefined): Condition["status"] => (s === "True" || s === "False" ? s : "Unknown");
const time = (t: string | Date | undefined) => (t instanceof Date ? t.toISOString() : (t ?? ""));

/**
 * The port's view of a Kustomization. Flux omits empty fields (`omitempty` in api/v1
 * kustomization_types.go KustomizationStatus), so a missing observedGeneration is 0 and a missing
 * revision is null.
 */
export function fluxStatusFromObject(obj: KustomizationObject): FluxStatus {
  const status = obj.status ?? {};
  return {
    name: obj.metadata?.name ?? "",
    namespace: obj.metadata?.namespace ?? "",
    generation: obj.metadata?.generation ?? 0,
    observedGeneration: status.observedGeneration ?? 0,
    suspended: obj.spec?.suspend === true,
    lastAppliedRevision: status.lastAppliedRevision || null,
    lastAttemptedRevision: status.lastAttemptedRevision || null,
    conditions: (status.conditions ?? []).map((c) => ({
      type: c.type ?? "",
      status: conditionStatus(c.status),
      reason: c.reason ?? "",
      message: c.message ?? "",
      lastTransitionTime: time(c.lastTransitionTime),
    })),
  };
}

/**
 * The git commit of a Flux source revision. RFC-0005 (fluxcd/flux2 rfcs/0005-artifact-revision-and-digest)
 * writes `<ref>@<algo>:<hash>` with the digest after the last `@` (`main@sha1:<40 hex>`, also
 * `refs/tags/v1@sha1:…` and `sha1:<hex>` alone for a commit); Flux before v2.0 wrote `<branch>/<sha>`.
 * Null when the revision names no git commit (e.g. an OCI artifact's `latest@sha256:…`).
 */
export function revisionCommit(revision: string | null | undefined): string | null {
  if (!revision) return null;
  const m = /(?:^|@)sha1:([0-9a-f]{40})$/.exec(revision) ?? /(?:^|\/)([0-9a-f]{40})$/.exec(revision);
  return m?.[1] ?? null;
}

/** The condition of a type, if Flux has set it. */
export function findCondition(status: Pick<FluxStatus, "conditions">, type: string): Condition | undefined {
  return status.conditions.find((c) => c.type === type);
}
