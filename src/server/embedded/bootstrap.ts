import "server-only";
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { PikselConfig } from "../config";
import { createLayoutRegistry } from "../drivers/registry/layout";
import { defaultImageHistory, writeImageHistory } from "./image-history";
import type { Logger } from "../logger";

const run = promisify(execFile);
const exists = (p: string) => fs.access(p).then(() => true, () => false);

/** Identity of commits the platform itself writes (seeds, local Flux); promotions use the actor's. */
export const PLATFORM_GIT_IDENTITY = ["-c", "user.name=Piksel Console", "-c", "user.email=console@piksel.local"];

/**
 * Creates what the local drivers need on disk when it does not exist yet: the GitOps bare repository
 * with a base and one overlay per environment, an empty OCI image layout, the bucket directories and
 * the local cluster state. Idempotent: existing state is never touched.
 */
export async function bootstrapLocalDrivers(config: PikselConfig, log: Logger): Promise<void> {
  const seeded = new Map<string, string>();
  for (const env of config.environments) {
    if (env.registry.driver === "layout" && !(await exists(path.join(env.registry.path, "oci-layout")))) {
      const images = await writeImageHistory(env.registry.path, env.registry.repository, defaultImageHistory());
      for (const i of images) seeded.set(i.tag, i.digest);
      log.info({ path: env.registry.path, tags: images.map((i) => i.tag) }, "seeded the OCI image layout with a release history");
    }
    if (env.objects.driver === "local") await fs.mkdir(path.join(env.objects.root, env.objects.bucket), { recursive: true });
    if (env.cluster.driver === "local") await fs.mkdir(env.cluster.stateDir, { recursive: true });
  }
  const localRemotes = new Map<string, PikselConfig["environments"]>();
  for (const env of config.environments) {
    if (/^[a-z]+:\/\//.test(env.gitops.remote) || env.gitops.remote.includes("@")) continue;
    localRemotes.set(env.gitops.remote, [...(localRemotes.get(env.gitops.remote) ?? []), env]);
  }
  for (const [remote, envs] of localRemotes) {
    if (await exists(path.join(remote, "HEAD"))) continue;
    const registry = envs[0]!.registry;
    if (seeded.size === 0 && registry.driver === "layout") {
      // The layout survived from an earlier start: read the release digests back from it.
      const layout = createLayoutRegistry(registry);
      for (const r of defaultImageHistory()) {
        const digest = await layout.resolve(r.tag).catch(() => undefined);
        if (digest) seeded.set(r.tag, digest);
      }
    }
    await seedGitopsRepository(remote, envs, seeded, log);
  }
}

/**
 * The overlay history of the embedded default, oldest first: which release each environment desired
 * after each commit. It ends with v1.8.0 in dev, v1.7.0 in staging and v1.6.0 in prod, so a visitor
 * can promote right away.
 */
export const SEED_ROLLOUTS: { subject: string; tags: Record<string, string> }[] = [
  { subject: "Seed base and environment overlays", tags: { dev: "v1.5.0", staging: "v1.5.0", prod: "v1.5.0" } },
  { subject: "Promote piksel-core:v1.6.0 to dev", tags: { dev: "v1.6.0" } },
  { subject: "Promote piksel-core:v1.6.0 to staging", tags: { staging: "v1.6.0" } },
  { subject: "Promote piksel-core:v1.6.0 to prod", tags: { prod: "v1.6.0" } },
  { subject: "Promote piksel-core:v1.7.0 to dev", tags: { dev: "v1.7.0" } },
  { subject: "Promote piksel-core:v1.7.0 to staging", tags: { staging: "v1.7.0" } },
  { subject: "Promote piksel-core:v1.8.0 to dev", tags: { dev: "v1.8.0" } },
];

function overlayText(env: PikselConfig["environments"][number], base: string, image: { name: string; tag: string; digest: string } | undefined) {
  const lines = [
    `# Overlay of the ${env.name} environment. Promotions edit only the images: entry below.`,
    "apiVersion: kustomize.config.k8s.io/v1beta1",
    "kind: Kustomization",
    "namespace: piksel",
    "resources:",
    `  - ${base}`,
  ];
  if (image) lines.push("images:", `  - name: ${image.name}`, `    newTag: ${image.tag}`, `    digest: ${image.digest}`);
  return `${lines.join("\n")}\n`;
}

async function seedGitopsRepository(remote: string, envs: PikselConfig["environments"], digests: Map<string, string>, log: Logger) {
  const branch = envs[0]!.gitops.branch;
  const repository = envs[0]!.registry.repository;
  await fs.mkdir(remote, { recursive: true });
  await run("git", ["init", "--bare", "--quiet", `--initial-branch=${branch}`, remote]);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "piksel-gitops-"));
  try {
    await run("git", ["init", "--quiet", `--initial-branch=${branch}`, work]);
    await fs.mkdir(path.join(work, "base"), { recursive: true });
    await fs.writeFile(path.join(work, "README.md"), "# piksel-kubernetes\n\nGitOps repository of the Piksel platform: `base/` and one kustomize overlay per environment, applied by Flux.\n");
    await fs.writeFile(path.join(work, "base", "kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n");
    await fs.writeFile(
      path.join(work, "base", "deployment.yaml"),
      [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        "  name: piksel-console",
        "spec:",
        "  replicas: 2",
        "  selector:",
        "    matchLabels: { app: piksel-console }",
        "  template:",
        "    metadata:",
        "      labels: { app: piksel-console }",
        "    spec:",
        "      containers:",
        "        - name: console",
        `          image: ${repository}`,
        "          args: [start]",
        "          ports: [{ containerPort: 3000 }]",
        "",
      ].join("\n"),
    );
    const current: Record<string, string> = {};
    for (const rollout of SEED_ROLLOUTS) {
      Object.assign(current, rollout.tags);
      for (const env of envs) {
        const dir = path.join(work, env.gitops.overlayPath);
        await fs.mkdir(dir, { recursive: true });
        const tag = current[env.name];
        const digest = tag ? digests.get(tag) : undefined;
        const image = tag && digest ? { name: repository, tag, digest } : undefined;
        await fs.writeFile(path.join(dir, "kustomization.yaml"), overlayText(env, path.relative(dir, path.join(work, "base")), image));
      }
      await run("git", ["-C", work, "add", "-A"]);
      await run("git", ["-C", work, ...PLATFORM_GIT_IDENTITY, "commit", "--quiet", "--allow-empty", "-m", rollout.subject]);
    }
    await run("git", ["-C", work, "push", "--quiet", remote, `HEAD:refs/heads/${branch}`]);
    log.info({ remote }, "seeded the local GitOps repository with a rollout history");
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
