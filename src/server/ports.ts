import "server-only";
import path from "node:path";
import { getConfig, indexDatabaseUrl, type EnvironmentConfig, type PikselConfig } from "./config";
import { createStacCatalog } from "./drivers/catalog/stac";
import type { CatalogPort } from "./drivers/catalog";
import { createKubernetesCluster } from "./drivers/cluster/kubernetes";
import { createLocalCluster } from "./drivers/cluster/local";
import type { ClusterPort } from "./drivers/cluster";
import { createGitGitops } from "./drivers/gitops/git";
import type { GitopsPort } from "./drivers/gitops";
import { createPostgresIndex } from "./drivers/index/postgres";
import type { IndexPort } from "./drivers/index";
import { createLocalObjects } from "./drivers/objects/local";
import { createS3Objects } from "./drivers/objects/s3";
import type { ObjectsPort } from "./drivers/objects";
import { createLayoutRegistry } from "./drivers/registry/layout";
import { createOciRegistry } from "./drivers/registry/oci";
import type { RegistryPort } from "./drivers/registry";

/** The ports of one environment, each served by the driver its configuration names (DESIGN.md section 4). */
export interface EnvironmentPorts {
  index: IndexPort;
  gitops: GitopsPort;
  registry: RegistryPort;
  cluster: ClusterPort;
  objects: ObjectsPort;
  catalog: CatalogPort;
}
export type PortName = keyof EnvironmentPorts;
export const portNames: PortName[] = ["index", "gitops", "registry", "cluster", "objects", "catalog"];

/** Builds the drivers of one environment. Nothing connects until a port is used. */
export function createEnvironmentPorts(config: PikselConfig, env: EnvironmentConfig): EnvironmentPorts {
  return {
    index: createPostgresIndex(indexDatabaseUrl(config, env)),
    gitops: createGitGitops({ ...env.gitops, cacheDir: path.join(config.dataDir, "cache", "gitops") }),
    registry: env.registry.driver === "oci" ? createOciRegistry(env.registry) : createLayoutRegistry(env.registry),
    cluster: env.cluster.driver === "kubernetes" ? createKubernetesCluster(env.cluster) : createLocalCluster(env.cluster),
    objects: env.objects.driver === "s3" ? createS3Objects(env.objects) : createLocalObjects(env.objects),
    catalog: createStacCatalog(env.catalog),
  };
}

const holder = globalThis as unknown as { pikselPorts?: Map<string, EnvironmentPorts> };

/** The process-wide ports of every configured environment, keyed by environment name. */
export function getPorts(): Map<string, EnvironmentPorts> {
  if (!holder.pikselPorts) {
    const config = getConfig();
    holder.pikselPorts = new Map(config.environments.map((e) => [e.name, createEnvironmentPorts(config, e)]));
  }
  return holder.pikselPorts;
}
