/**
 * The resource types the test API server serves, and the discovery documents built from them.
 * Shapes follow what kube-apiserver returns for `/api`, `/apis`, `/apis/<group>` and
 * `/apis/<group>/<version>` (k8s.io/apimachinery/pkg/apis/meta/v1 types.go: APIVersions,
 * APIGroupList, APIGroup, APIResourceList); client-node's KubernetesObjectApi reads the last one to
 * map a kind to its plural.
 */

export interface ResourceType {
  /** Plural name as in URLs: `pods`, `jobs`, `kustomizations`. */
  name: string;
  singular: string;
  kind: string;
  /** "" for the core group. */
  group: string;
  version: string;
  namespaced: boolean;
  /** Status is written through the `/status` subresource only (and spec only through the main resource). */
  statusSubresource: boolean;
  /** metadata.generation counts spec changes (CRDs with a status subresource, Jobs; not Pods or Namespaces). */
  generation: boolean;
  /** Built-in types drop kind/apiVersion from list items; custom resources (unstructured) keep them. */
  custom: boolean;
  shortNames: string[];
  /** Field selectors the real server accepts for this type (besides metadata.name / metadata.namespace). */
  fields: string[];
  /**
   * What a DELETE without propagationPolicy does to dependents. batch/v1 Jobs orphan their pods for
   * backwards compatibility (pkg/registry/batch/job/strategy.go DefaultGarbageCollectionPolicy).
   */
  defaultPropagation: "Background" | "Orphan";
  /** DELETE answers with the deleted object (Pods) rather than a Success Status. */
  returnDeletedObject: boolean;
}

export const resourceTypes: ResourceType[] = [
  {
    name: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    group: "",
    version: "v1",
    namespaced: false,
    statusSubresource: true,
    generation: false,
    custom: false,
    shortNames: ["ns"],
    fields: ["status.phase"],
    defaultPropagation: "Background",
    returnDeletedObject: false,
  },
  {
    name: "pods",
    singular: "pod",
    kind: "Pod",
    group: "",
    version: "v1",
    namespaced: true,
    statusSubresource: true,
    generation: false,
    custom: false,
    shortNames: ["po"],
    fields: ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "status.phase", "status.podIP"],
    defaultPropagation: "Background",
    returnDeletedObject: true,
  },
  {
    name: "configmaps",
    singular: "configmap",
    kind: "ConfigMap",
    group: "",
    version: "v1",
    namespaced: true,
    statusSubresource: false,
    generation: false,
    custom: false,
    shortNames: ["cm"],
    fields: [],
    defaultPropagation: "Background",
    returnDeletedObject: false,
  },
  {
    name: "jobs",
    singular: "job",
    kind: "Job",
    group: "batch",
    version: "v1",
    namespaced: true,
    statusSubresource: true,
    generation: true,
    custom: false,
    shortNames: [],
    fields: ["status.successful"],
    defaultPropagation: "Orphan",
    returnDeletedObject: false,
  },
  {
    name: "kustomizations",
    singular: "kustomization",
    kind: "Kustomization",
    group: "kustomize.toolkit.fluxcd.io",
    version: "v1",
    namespaced: true,
    statusSubresource: true,
    generation: true,
    custom: true,
    shortNames: ["ks"],
    fields: [],
    defaultPropagation: "Background",
    returnDeletedObject: false,
  },
];

export const apiVersionOf = (r: ResourceType) => (r.group ? `${r.group}/${r.version}` : r.version);

/** `pods`, `jobs.batch`: how the API server names a resource in messages. */
export const qualifiedName = (r: ResourceType) => (r.group ? `${r.name}.${r.group}` : r.name);

export function findResource(group: string, version: string, name: string): ResourceType | undefined {
  return resourceTypes.find((r) => r.group === group && r.version === version && r.name === name);
}

export function resourceForObject(obj: { apiVersion?: string; kind?: string }): ResourceType | undefined {
  return resourceTypes.find((r) => apiVersionOf(r) === obj.apiVersion && r.kind === obj.kind);
}

const verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

function resourceList(group: string, version: string) {
  const resources = resourceTypes
    .filter((r) => r.group === group && r.version === version)
    .flatMap((r) => {
      const main = {
        name: r.name,
        singularName: r.singular,
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: r.name === "namespaces" ? verbs.filter((v) => v !== "deletecollection") : verbs,
        ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
        storageVersionHash: Buffer.from(`${r.group}/${r.version}/${r.kind}`).toString("base64").slice(0, 11),
      };
      const subs = [{ name: `${r.name}/status`, singularName: "", namespaced: r.namespaced, kind: r.kind, verbs: ["get", "patch", "update"] }];
      if (r.name === "pods") subs.push({ name: "pods/log", singularName: "", namespaced: true, kind: "Pod", verbs: ["get"] });
      return [main, ...subs];
    });
  return resources;
}

export function coreVersions(serverAddress: string) {
  return { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }] };
}

export function coreResourceList() {
  return { kind: "APIResourceList", groupVersion: "v1", resources: resourceList("", "v1") };
}

function groupDoc(group: string) {
  const versions = [...new Set(resourceTypes.filter((r) => r.group === group).map((r) => r.version))].map((version) => ({
    groupVersion: `${group}/${version}`,
    version,
  }));
  return { name: group, versions, preferredVersion: versions[0]! };
}

export const groups = () => [...new Set(resourceTypes.map((r) => r.group).filter((g) => g !== ""))];

export function groupList() {
  return { kind: "APIGroupList", apiVersion: "v1", groups: groups().map(groupDoc) };
}

export function group(name: string) {
  return groups().includes(name) ? { kind: "APIGroup", apiVersion: "v1", ...groupDoc(name) } : undefined;
}

export function groupResourceList(group: string, version: string) {
  const resources = resourceList(group, version);
  return resources.length ? { kind: "APIResourceList", apiVersion: "v1", groupVersion: `${group}/${version}`, resources } : undefined;
}
