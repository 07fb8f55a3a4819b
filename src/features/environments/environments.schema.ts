import { z } from "zod";

export const environmentName = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "an environment name such as dev, staging or prod");

export const portNames = ["index", "gitops", "registry", "cluster", "objects", "catalog"] as const;
export type PortNameView = (typeof portNames)[number];

/** How people name each port in the UI. */
export const portLabels: Record<PortNameView, string> = {
  index: "ODC index",
  gitops: "GitOps",
  registry: "Registry",
  cluster: "Cluster",
  objects: "Object store",
  catalog: "STAC catalogue",
};
