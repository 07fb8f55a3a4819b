import "server-only";
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { PikselConfig } from "../config";
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
  for (const env of config.environments) {
    if (env.registry.driver === "layout" && !(await exists(path.join(env.registry.path, "oci-layout")))) {
      await fs.mkdir(path.join(env.registry.path, "blobs", "sha256"), { recursive: true });
      await fs.writeFile(path.join(env.registry.path, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
      await fs.writeFile(path.join(env.registry.path, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] }, null, 2));
      log.info({ path: env.registry.path }, "created an empty OCI image layout");
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
    await seedGitopsRepository(remote, envs, log);
  }
}

async function seedGitopsRepository(remote: string, envs: PikselConfig["environments"], log: Logger) {
  const branch = envs[0]!.gitops.branch;
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
        "          image: piksel-core",
        "          args: [start]",
        "          ports: [{ containerPort: 3000 }]",
        "",
      ].join("\n"),
    );
    for (const env of envs) {
      const dir = path.join(work, env.gitops.overlayPath);
      await fs.mkdir(dir, { recursive: true });
      const up = path.relative(dir, path.join(work, "base"));
      await fs.writeFile(
        path.join(dir, "kustomization.yaml"),
        `# Overlay of the ${env.name} environment. Promotions edit only the images: entry below.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: piksel\nresources:\n  - ${up}\n`,
      );
    }
    await run("git", ["-C", work, "add", "-A"]);
    await run("git", ["-C", work, ...PLATFORM_GIT_IDENTITY, "commit", "--quiet", "-m", "Seed base and environment overlays"]);
    await run("git", ["-C", work, "push", "--quiet", remote, `HEAD:refs/heads/${branch}`]);
    log.info({ remote }, "seeded the local GitOps repository");
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
