import "server-only";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { simpleGit, type SimpleGit } from "simple-git";
import YAML, { isMap, isSeq, type YAMLMap } from "yaml";
import { AppError } from "../../errors";
import { redactUrl, withTimeout } from "../port";
import type { GitopsPort, ImageChange, ImageCommitInput, OverlayHistoryEntry, OverlayImage, OverlayState } from "./index";

/** Commits the console writes are committed by the console; people appear in the trailers. */
const IDENTITY = ["-c", "user.name=Piksel Console", "-c", "user.email=console@piksel.local"];
const REMOTE_REF = "refs/remotes/origin/head";

/** Runs git with stdin (simple-git cannot feed stdin, which hash-object and mktree need). */
function gitWithInput(cwd: string, args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, { cwd });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`git ${args[0]} failed: ${err.trim()}`))));
    child.stdin.end(input);
  });
}

/** The exit code of a git command (0 = yes, 1 = no for predicates such as merge-base --is-ancestor). */
function gitExitCode(cwd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, { cwd, stdio: "ignore" });
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 128));
  });
}

function readImages(text: string, file: string): OverlayImage[] {
  const doc = YAML.parse(text) as { images?: unknown } | null;
  const images = doc?.images;
  if (images === undefined || images === null) return [];
  if (!Array.isArray(images)) throw new Error(`${file}: images: must be a list`);
  return images.map((i) => {
    const e = i as Record<string, unknown>;
    return {
      name: String(e.name),
      ...(e.newName !== undefined && { newName: String(e.newName) }),
      ...(e.newTag !== undefined && { newTag: String(e.newTag) }),
      ...(e.digest !== undefined && { digest: String(e.digest) }),
    };
  });
}

/**
 * Sets newTag and digest of one `images:` entry, keeping every comment and the formatting of the
 * rest of the file (the yaml Document API); adds the entry or the list when missing.
 */
export function editImageEntry(text: string, change: ImageChange): string {
  const doc = YAML.parseDocument(text);
  let images = doc.get("images");
  if (!isSeq(images)) {
    doc.set("images", doc.createNode([]));
    images = doc.get("images");
  }
  const seq = images as YAML.YAMLSeq;
  let entry = seq.items.find((i) => isMap(i) && (i as YAMLMap).get("name") === change.name) as YAMLMap | undefined;
  if (!entry) {
    entry = doc.createNode({ name: change.name }) as YAMLMap;
    seq.items.push(entry);
  }
  entry.set("newTag", change.newTag);
  entry.set("digest", change.digest);
  return doc.toString({ lineWidth: 0 });
}

function parseTrailers(body: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const paragraphs = body.trim().split(/\n\s*\n/);
  for (const line of (paragraphs[paragraphs.length - 1] ?? "").split("\n")) {
    const m = line.match(/^([A-Za-z][A-Za-z0-9-]*):\s*(.+)$/);
    if (m) (out[m[1]!] ??= []).push(m[2]!.trim());
  }
  return out;
}

const initialising = new Map<string, Promise<void>>();

/**
 * Creates the bare cache once, however many ports (one per environment, all on the same remote) and
 * processes (console, CLI) ask at the same time: init in a private directory, then rename it into
 * place; the loser of the rename race simply uses the winner's.
 */
function initBareCache(cache: string): Promise<void> {
  let p = initialising.get(cache);
  if (!p) {
    p = (async () => {
      if (await fs.stat(path.join(cache, "HEAD")).catch(() => null)) return;
      await fs.mkdir(path.dirname(cache), { recursive: true });
      const tmp = await fs.mkdtemp(`${cache}.init-`);
      try {
        await simpleGit(tmp).raw(["init", "--bare", "--quiet"]);
        await fs.rename(tmp, cache).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "EEXIST" && err.code !== "ENOTEMPTY") throw err;
        });
      } finally {
        await fs.rm(tmp, { recursive: true, force: true });
      }
    })().finally(() => initialising.delete(cache));
    initialising.set(cache, p);
  }
  return p;
}

/**
 * GitOps over system git (simple-git). Works on a bare cache of the remote under the data directory,
 * so no working tree is ever shared: a promotion commit is built with plumbing (hash-object, mktree,
 * commit-tree) on top of the fetched branch head and pushed; a rejected push (someone else pushed
 * first) refetches and rebuilds the commit on the new head, with backoff. The same code serves a
 * remote URL in production and a bare repository on disk in the embedded default.
 */
export function createGitGitops(opts: { remote: string; branch: string; overlayPath: string; cacheDir: string; pushAttempts?: number }): GitopsPort {
  const file = path.posix.join(opts.overlayPath, "kustomization.yaml");
  const cache = path.join(opts.cacheDir, `${createHash("sha1").update(opts.remote).digest("hex").slice(0, 16)}.git`);
  let ready: Promise<SimpleGit> | undefined;

  const repo = () =>
    (ready ??= (async () => {
      await initBareCache(cache);
      return simpleGit({ baseDir: cache, timeout: { block: 60_000 } });
    })().catch((err) => {
      ready = undefined;
      throw err;
    }));

  /** Fetches the branch into the cache; two processes may fetch at once, so a ref-lock race is retried. */
  const fetch = async (): Promise<string> => {
    const git = await repo();
    for (let attempt = 1; ; attempt++) {
      try {
        await git.raw(["fetch", "--quiet", "--no-tags", opts.remote, `+refs/heads/${opts.branch}:${REMOTE_REF}`]);
        return (await git.raw(["rev-parse", REMOTE_REF])).trim();
      } catch (err) {
        const msg = (err as Error).message;
        if (/couldn't find remote ref/i.test(msg)) throw new Error(`branch ${opts.branch} does not exist on ${redactUrl(opts.remote)}`);
        if (attempt >= 3 || !/lock|unable to update local ref/i.test(msg)) throw new Error(`git fetch ${redactUrl(opts.remote)} failed: ${msg.trim().split("\n")[0]}`);
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  };

  const show = async (commit: string, p: string) => (await repo()).raw(["show", `${commit}:${p}`]);

  const readOverlay = async (commit?: string): Promise<OverlayState> => {
    const git = await repo();
    const at = commit ?? (await fetch());
    const text = await show(at, file).catch(() => {
      throw new Error(`${file} does not exist at ${at.slice(0, 7)} of ${redactUrl(opts.remote)}`);
    });
    const when = (await git.raw(["show", "-s", "--format=%cI", at])).trim();
    return { commit: at, committedAt: new Date(when), path: file, images: readImages(text, file) };
  };

  /** Builds (but does not push) the commit that applies `change` on `base`. */
  const buildCommit = async (base: string, change: ImageChange, message: string) => {
    const git = await repo();
    const before = await show(base, file);
    const after = editImageEntry(before, change);
    const blob = await gitWithInput(cache, ["hash-object", "-w", "--stdin"], after);
    // Rewrite the trees along the overlay path, bottom up.
    const parts = file.split("/");
    const rewrite = async (treeish: string, depth: number): Promise<string> => {
      const listing = (await git.raw(["ls-tree", treeish])).split("\n").filter(Boolean);
      const name = parts[depth]!;
      const leaf = depth === parts.length - 1;
      const child = listing.find((l) => l.split("\t")[1] === name);
      const sha = leaf ? blob : await rewrite(child ? child.split(/\s+/)[2]! : "4b825dc642cb6eb9a060e54bf8d69288fbee4904", depth + 1);
      const entry = `${leaf ? "100644 blob" : "040000 tree"} ${sha}\t${name}`;
      const lines = child ? listing.map((l) => (l === child ? entry : l)) : [...listing, entry];
      return gitWithInput(cache, ["mktree"], `${lines.join("\n")}\n`);
    };
    const tree = await rewrite(`${base}^{tree}`, 0);
    const commit = await gitWithInput(cache, [...IDENTITY, "commit-tree", tree, "-p", base, "-F", "-"], message);
    return { commit, before, after };
  };

  const findPromotionCommit = async (promotionId: string, head?: string): Promise<string | undefined> => {
    const git = await repo();
    const tip = head ?? (await fetch());
    const out = await git.raw(["log", "--format=%H", "-F", `--grep=Promotion-Id: ${promotionId}`, "-n", "1", tip]);
    return out.trim() || undefined;
  };

  const headCommit = async () => {
    const git = simpleGit();
    // simple-git tasks are thenables without .finally: make a real promise of it.
    const out = await withTimeout(Promise.resolve(git.listRemote(["--heads", opts.remote, opts.branch])), 10_000, "git ls-remote");
    return out.split(/\s+/)[0] || undefined;
  };

  return {
    driver: "git",
    endpoint: `${redactUrl(opts.remote)} (${opts.branch}, ${opts.overlayPath})`,
    overlayPath: opts.overlayPath,
    branch: opts.branch,
    headCommit,
    readOverlay,
    findPromotionCommit: (id) => findPromotionCommit(id),

    async check() {
      const head = await headCommit().catch((err: Error) => {
        throw new Error(`git remote ${redactUrl(opts.remote)} is not reachable: ${err.message.trim().split("\n")[0]}`);
      });
      if (!head) throw new Error(`branch ${opts.branch} does not exist on ${redactUrl(opts.remote)}`);
      return `${opts.branch} at ${head.slice(0, 7)}`;
    },

    async history(limit = 50) {
      const git = await repo();
      const tip = await fetch();
      const sep = "\u001e";
      const out = await git.raw(["log", `-n${limit}`, `--format=%H%x1f%cI%x1f%s%x1f%B${sep}`, tip, "--", file]);
      const entries: OverlayHistoryEntry[] = [];
      for (const rec of out.split(sep).map((r) => r.trim()).filter(Boolean)) {
        const [commit, at, subject, body] = rec.split("\u001f") as [string, string, string, string];
        const images = await show(commit, file).then((t) => readImages(t, file), () => []);
        entries.push({ commit, at: new Date(at), subject, images, trailers: parseTrailers(body ?? "") });
      }
      return entries;
    },

    async diffImageChange(change) {
      const git = await repo();
      const base = await fetch();
      const { commit } = await buildCommit(base, change, "preview\n");
      // The preview commit stays unreferenced; git's gc removes it.
      return git.raw(["diff", "--no-color", "-U3", base, commit, "--", file]);
    },

    async commitImageChange(input: ImageCommitInput) {
      const git = await repo();
      const attempts = opts.pushAttempts ?? 6;
      const message = `${input.subject}\n\n${input.body.trim()}\n\n${[["Promotion-Id", input.promotionId] as const, ...input.trailers].map(([k, v]) => `${k}: ${v}`).join("\n")}\n`;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        const base = await fetch();
        const existing = await findPromotionCommit(input.promotionId, base);
        if (existing) return { commit: existing, alreadyPushed: true, attempts: attempt };
        const current = (await readOverlay(base)).images.find((i) => i.name === input.change.name);
        const currentDigest = current?.digest ?? null;
        if (currentDigest !== input.expectedDigest && currentDigest !== input.change.digest) {
          throw new AppError(
            "CONFLICT",
            `The ${input.change.name} entry of ${file} changed since the promotion was approved: it now holds ${currentDigest ?? "no digest"} (expected ${input.expectedDigest ?? "no digest"}). Someone edited it by hand; review the overlay and request the promotion again.`,
            { currentDigest, expectedDigest: input.expectedDigest },
          );
        }
        const { commit } = await buildCommit(base, input.change, message);
        try {
          await git.raw(["push", "--quiet", opts.remote, `${commit}:refs/heads/${opts.branch}`]);
          return { commit, alreadyPushed: false, attempts: attempt };
        } catch (err) {
          const msg = (err as Error).message;
          // A stale base: someone pushed first. Rebuild on the new head (the race of two promotions or a human push).
          if (!/\[rejected\]|non-fast-forward|fetch first|cannot lock ref|failed to update ref/i.test(msg) || attempt === attempts) {
            throw new Error(`git push to ${redactUrl(opts.remote)} failed after ${attempt} attempt(s): ${msg.trim().split("\n")[0]}`);
          }
          await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt) * (0.5 + Math.random())));
        }
      }
      throw new Error("unreachable");
    },

    async contains(revision, commit) {
      await repo();
      // simple-git reports no error for a non-zero exit without stderr, and --is-ancestor answers
      // "no" with exit code 1 and nothing on stderr: read the exit code ourselves.
      const ancestor = () => gitExitCode(cache, ["merge-base", "--is-ancestor", commit, revision]);
      let code = await ancestor();
      if (code > 1) {
        // A commit the cache has not seen yet: fetch once and ask again.
        await fetch();
        code = await ancestor();
      }
      return code === 0;
    },
  };
}
