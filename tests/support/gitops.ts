import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const git = (cwd: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=Test", "-c", "user.email=test@piksel.local", ...args], { cwd, encoding: "utf8" }).trim();

export const OVERLAY = (env: string, tag: string, digest: string) => `# Overlay of ${env}: promotions edit only images: below.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: piksel
resources:
  - ../../base # the shared base
images:
  # piksel-core is promoted dev -> staging -> prod
  - name: piksel-core
    newName: registry.example/piksel-core
    newTag: ${tag} # set by the console
    digest: ${digest}
patches: []
`;

/** A bare GitOps repository with a base and an overlay per environment; returns its path and a helper to edit it like a person would. */
export function createGitopsRepo(overlays: Record<string, { tag: string; digest: string }>): { remote: string; humanEdit(file: string, edit: (text: string) => string, message: string): string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-gitops-test-"));
  const remote = path.join(dir, "remote.git");
  execFileSync("git", ["init", "--bare", "--quiet", "--initial-branch=main", remote]);
  const work = path.join(dir, "work");
  execFileSync("git", ["clone", "--quiet", remote, work], { stdio: "ignore" });
  git(work, "checkout", "-q", "-b", "main");
  fs.mkdirSync(path.join(work, "base"));
  fs.writeFileSync(path.join(work, "base/kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n");
  fs.writeFileSync(
    path.join(work, "base/deployment.yaml"),
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: piksel-console\nspec:\n  selector:\n    matchLabels: { app: piksel-console }\n  template:\n    metadata:\n      labels: { app: piksel-console }\n    spec:\n      containers:\n        - name: console\n          image: piksel-core\n",
  );
  for (const [env, o] of Object.entries(overlays)) {
    fs.mkdirSync(path.join(work, "overlays", env), { recursive: true });
    fs.writeFileSync(path.join(work, "overlays", env, "kustomization.yaml"), OVERLAY(env, o.tag, o.digest));
  }
  git(work, "add", "-A");
  git(work, "commit", "-q", "-m", "seed");
  git(work, "push", "-q", "origin", "main");
  return {
    remote,
    humanEdit(file, edit, message) {
      git(work, "pull", "-q", "--rebase", "origin", "main");
      const p = path.join(work, file);
      fs.writeFileSync(p, edit(fs.readFileSync(p, "utf8")));
      git(work, "commit", "-q", "-am", message);
      git(work, "push", "-q", "origin", "main");
      return git(work, "rev-parse", "HEAD");
    },
  };
}

/** Checks out the remote's branch into a fresh directory (to render it or read files). */
export function checkout(remote: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-gitops-co-"));
  execFileSync("git", ["clone", "--quiet", remote, dir], { stdio: "ignore" });
  return dir;
}

export const gitLog = (remote: string, ...args: string[]) => execFileSync("git", ["--git-dir", remote, "log", ...args], { encoding: "utf8" });
