import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createGitGitops } from "~/server/drivers/gitops/git";
import { AppError } from "~/server/errors";
import { checkout, createGitopsRepo, gitLog } from "../support/gitops";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const cacheDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "piksel-gitops-cache-"));
const port = (remote: string, env: string, cache = cacheDir()) => createGitGitops({ remote, branch: "main", overlayPath: `overlays/${env}`, cacheDir: cache });
const change = { name: "piksel-core", newTag: "v1.8.0", digest: d("b") };
const commitInput = (promotionId: string, expectedDigest: string | null) => ({
  promotionId,
  change,
  expectedDigest,
  subject: "Promote piksel-core:v1.8.0 to prod",
  body: `registry.example/piksel-core:v1.8.0@${d("b")}`,
  trailers: [["Requested-By", "Rudi <requester@piksel.local>"], ["Approved-By", "Ayu <approver@piksel.local>"], ["Approved-By", "Budi <approver2@piksel.local>"]] as [string, string][],
});

function kustomize(dir: string): string {
  const tools = [["kustomize", ["build", dir]], ["kubectl", ["kustomize", dir]]] as const;
  for (const [cmd, args] of tools) {
    try {
      return execFileSync(cmd, [...args], { encoding: "utf8" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  throw new Error("Neither kustomize nor kubectl is installed: `go install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0` (.ci/run does it).");
}

describe("the GitOps driver", () => {
  it("reads each overlay's images entry at the branch head", async () => {
    const repo = createGitopsRepo({ staging: { tag: "v1.8.0", digest: d("b") }, prod: { tag: "v1.6.0", digest: d("a") } });
    const overlay = await port(repo.remote, "prod").readOverlay();
    expect(overlay.images).toEqual([{ name: "piksel-core", newName: "registry.example/piksel-core", newTag: "v1.6.0", digest: d("a") }]);
    expect(overlay.commit).toMatch(/^[0-9a-f]{40}$/);
  });

  it("checks that the remote and its branch answer", async () => {
    const repo = createGitopsRepo({ prod: { tag: "v1.6.0", digest: d("a") } });
    expect(await port(repo.remote, "prod").check()).toMatch(/^main at [0-9a-f]{7}$/);
    const missing = createGitGitops({ remote: path.join(os.tmpdir(), "no-such-repo.git"), branch: "main", overlayPath: "overlays/prod", cacheDir: cacheDir() });
    await expect(missing.check()).rejects.toThrow(/no-such-repo\.git is not reachable/);
  });

  it("shows the exact overlay diff a promotion would make, without pushing anything", async () => {
    const repo = createGitopsRepo({ prod: { tag: "v1.6.0", digest: d("a") } });
    const before = gitLog(repo.remote, "--format=%H");
    const diff = await port(repo.remote, "prod").diffImageChange(change);
    expect(diff).toContain("--- a/overlays/prod/kustomization.yaml");
    expect(diff).toContain(`-    newTag: v1.6.0 # set by the console\n-    digest: ${d("a")}\n+    newTag: v1.8.0 # set by the console\n+    digest: ${d("b")}\n`);
    expect(diff.split("\n").filter((l) => /^[-+][^-+]/.test(l))).toHaveLength(4);
    expect(gitLog(repo.remote, "--format=%H")).toBe(before);
  });

  it("commits only the images entry, keeps comments, adds the trailers, and kustomize renders name:tag@digest", async () => {
    const repo = createGitopsRepo({ prod: { tag: "v1.6.0", digest: d("a") } });
    const r = await port(repo.remote, "prod").commitImageChange(commitInput("prm_1", d("a")));
    expect(r).toMatchObject({ alreadyPushed: false, attempts: 1 });
    const message = gitLog(repo.remote, "-1", "--format=%B");
    expect(message).toContain("Promotion-Id: prm_1\nRequested-By: Rudi <requester@piksel.local>\nApproved-By: Ayu <approver@piksel.local>\nApproved-By: Budi <approver2@piksel.local>");
    const co = checkout(repo.remote);
    const text = fs.readFileSync(path.join(co, "overlays/prod/kustomization.yaml"), "utf8");
    expect(text).toContain("# piksel-core is promoted dev -> staging -> prod");
    expect(text).toContain("newTag: v1.8.0 # set by the console");
    expect(text).toContain("- ../../base # the shared base");
    expect(kustomize(path.join(co, "overlays/prod"))).toContain(`image: registry.example/piksel-core:v1.8.0@${d("b")}`);
  });

  it("never pushes the same promotion twice (a retry after a crash finds the commit by its Promotion-Id)", async () => {
    const repo = createGitopsRepo({ prod: { tag: "v1.6.0", digest: d("a") } });
    const first = await port(repo.remote, "prod").commitImageChange(commitInput("prm_2", d("a")));
    const again = await port(repo.remote, "prod").commitImageChange(commitInput("prm_2", d("a")));
    expect(again).toMatchObject({ commit: first.commit, alreadyPushed: true });
    expect(await port(repo.remote, "prod").findPromotionCommit("prm_2")).toBe(first.commit);
    expect(gitLog(repo.remote, "--format=%s").trim().split("\n")).toHaveLength(2);
  });

  it("refuses to overwrite a conflicting human edit of the same entry", async () => {
    const repo = createGitopsRepo({ prod: { tag: "v1.6.0", digest: d("a") } });
    repo.humanEdit("overlays/prod/kustomization.yaml", (t) => t.replace(d("a"), d("c")), "hotfix by hand");
    const err = await port(repo.remote, "prod").commitImageChange(commitInput("prm_3", d("a"))).catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe("CONFLICT");
    expect(err.message).toContain(`it now holds ${d("c")}`);
  });

  it("two pushers at once: the loser refetches, rebuilds on the new head and both commits land", async () => {
    const repo = createGitopsRepo({ staging: { tag: "v1.6.0", digest: d("a") }, prod: { tag: "v1.5.0", digest: d("9") } });
    const [a, b] = await Promise.all([
      port(repo.remote, "staging").commitImageChange({ ...commitInput("prm_s", d("a")) }),
      port(repo.remote, "prod").commitImageChange({ ...commitInput("prm_p", d("9")) }),
    ]);
    expect(a.commit).not.toBe(b.commit);
    const log = gitLog(repo.remote, "--format=%B");
    expect(log).toContain("Promotion-Id: prm_s");
    expect(log).toContain("Promotion-Id: prm_p");
    const co = checkout(repo.remote);
    expect(fs.readFileSync(path.join(co, "overlays/staging/kustomization.yaml"), "utf8")).toContain(d("b"));
    expect(fs.readFileSync(path.join(co, "overlays/prod/kustomization.yaml"), "utf8")).toContain(d("b"));
  });

  it("a push racing a human commit to another file is rebased, not refused", async () => {
    const repo = createGitopsRepo({ prod: { tag: "v1.6.0", digest: d("a") } });
    const gitops = port(repo.remote, "prod");
    await gitops.readOverlay(); // warm the cache at the old head
    repo.humanEdit("base/deployment.yaml", (t) => `${t}# touched\n`, "unrelated change");
    const r = await gitops.commitImageChange(commitInput("prm_4", d("a")));
    expect(r.alreadyPushed).toBe(false);
    expect(gitLog(repo.remote, "--format=%s").split("\n")[1]).toBe("unrelated change");
  });

  it("lists the overlay's history and tells whether an applied revision contains a commit", async () => {
    const repo = createGitopsRepo({ prod: { tag: "v1.6.0", digest: d("a") } });
    const gitops = port(repo.remote, "prod");
    const r = await gitops.commitImageChange(commitInput("prm_5", d("a")));
    const history = await gitops.history();
    expect(history[0]).toMatchObject({ commit: r.commit, trailers: { "Promotion-Id": ["prm_5"] } });
    expect(history[0]!.images[0]!.digest).toBe(d("b"));
    expect(history[1]!.images[0]!.digest).toBe(d("a"));
    expect(await gitops.contains(r.commit, history[1]!.commit)).toBe(true);
    expect(await gitops.contains(history[1]!.commit, r.commit)).toBe(false);
  });
});
