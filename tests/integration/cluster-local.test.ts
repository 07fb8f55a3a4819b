import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { build } from "esbuild";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ClusterPort, FluxStatus, RunningImage } from "~/server/drivers/cluster";
import { createLocalCluster } from "~/server/drivers/cluster/local";
import { readLocalState } from "~/server/drivers/cluster/local-state";
import { findCondition } from "~/server/drivers/cluster/objects";
import { setFailure, startLocalFlux, suspend, type DesiredState, type LocalFlux } from "~/server/embedded/local-flux";
import { createLogger } from "~/server/logger";
import { waitFor } from "../support/kube-api";

/**
 * The embedded default's cluster: the local Flux loop writes, the local driver reads, in one process
 * or in two (the `piksel start` parent runs the loop; the console and the CLI read).
 */

const root = path.resolve(import.meta.dirname, "../..");
const log = createLogger({ level: "warn" });
const rev = (c: string) => `main@sha1:${c.repeat(40)}`;
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const registry: Record<string, string> = { "registry.local/piksel-core:v1.3.0": digest("3"), "piksel-worker:v2": digest("7") };

interface Env {
  dir: string;
  desired: DesiredState;
  cluster: ClusterPort;
  start(delaySeconds?: number): Promise<LocalFlux>;
  status(): Promise<FluxStatus>;
  images(): Promise<RunningImage[]>;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function environment(): Env {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-local-cluster-"));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cluster = createLocalCluster({ stateDir: dir, pollIntervalMs: 50 });
  const env: Env = {
    dir,
    desired: { revision: rev("1"), images: [{ name: "piksel-core", newName: "registry.local/piksel-core", newTag: "v1.2.0", digest: digest("2") }] },
    cluster,
    async start(delaySeconds = 0.3) {
      const flux = await startLocalFlux({
        environments: [
          {
            name: "dev",
            stateDir: dir,
            reconcileDelaySeconds: delaySeconds,
            desired: async () => structuredClone(env.desired),
            resolveDigest: async (name, tag) => registry[`${name}:${tag}`] ?? null,
          },
        ],
        log,
        pollIntervalMs: 50,
      });
      cleanups.push(() => flux.stop());
      return flux;
    },
    status: async () => (await cluster.fluxStatus())!,
    images: () => cluster.runningImages(),
  };
  return env;
}

const ready = (s: FluxStatus | null) => (s ? findCondition(s, "Ready") : undefined);

/** Records every distinct Kustomization status the local driver's watch shows. */
function recordStatuses(cluster: ClusterPort) {
  const seen: FluxStatus[] = [];
  const stop = cluster.watch(async (e) => {
    if (e.kind !== "flux") return;
    const s = await cluster.fluxStatus();
    if (s && JSON.stringify(s) !== JSON.stringify(seen[seen.length - 1])) seen.push(s);
  });
  cleanups.push(stop);
  return seen;
}

describe("local cluster: the local Flux and the local driver", () => {
  it("applies a new revision: Progressing, then Ready with the pods running the digests", async () => {
    const env = environment();
    expect(await env.cluster.fluxStatus()).toBeNull();
    const seen = recordStatuses(env.cluster);
    await env.start();
    await waitFor("Ready=True", async () => ready(await env.cluster.fluxStatus())?.status === "True");
    const progressing = seen.find((s) => ready(s)?.reason === "Progressing");
    expect(progressing).toMatchObject({ lastAttemptedRevision: rev("1"), lastAppliedRevision: null });
    expect(ready(progressing!)).toMatchObject({ status: "Unknown", message: "Reconciliation in progress" });
    expect(findCondition(progressing!, "Reconciling")).toMatchObject({ status: "True", reason: "Progressing" });

    const s = await env.status();
    expect(s).toMatchObject({ name: "piksel-dev", namespace: "flux-system", generation: 1, observedGeneration: 1, suspended: false, lastAppliedRevision: rev("1"), lastAttemptedRevision: rev("1") });
    expect(ready(s)).toMatchObject({ reason: "ReconciliationSucceeded", message: `Applied revision: ${rev("1")}` });
    expect(findCondition(s, "Healthy")).toMatchObject({ status: "True" });
    expect(findCondition(s, "Reconciling")).toBeUndefined();
    expect(await env.images()).toEqual([
      expect.objectContaining({ container: "piksel-core", image: `registry.local/piksel-core:v1.2.0@${digest("2")}`, imageID: `registry.local/piksel-core@${digest("2")}`, digest: digest("2"), ready: true, phase: "Running" }),
    ]);

    // The next commit, with an image given by tag only: its digest comes from the registry.
    env.desired = { revision: rev("4"), images: [env.desired.images[0]!, { name: "piksel-worker", newTag: "v2" }] };
    await waitFor("the second revision applied", async () => (await env.cluster.fluxStatus())?.lastAppliedRevision === rev("4"));
    expect((await env.images()).map((i) => i.digest)).toEqual([digest("2"), digest("7")]);
    expect((await env.cluster.runningImages("app.kubernetes.io/name=piksel-worker")).map((i) => i.pod)).toEqual([expect.stringMatching(/^piksel-worker-/)]);
  });

  it("fails when told to, like Flux: Ready=False with the message, last applied revision and pods unchanged", async () => {
    const env = environment();
    const flux = await env.start();
    await waitFor("the first revision", async () => ready(await env.cluster.fluxStatus())?.status === "True");
    const pods = await env.images();

    await setFailure(env.dir, "Deployment/piksel/piksel-core dry-run failed: spec.template.spec.containers[0].image: Required value");
    env.desired = { revision: rev("5"), images: [{ name: "piksel-core", digest: digest("5") }] };
    await waitFor("Ready=False", async () => ready(await env.cluster.fluxStatus())?.status === "False");
    let s = await env.status();
    expect(ready(s)).toMatchObject({ reason: "ReconciliationFailed", message: "Deployment/piksel/piksel-core dry-run failed: spec.template.spec.containers[0].image: Required value" });
    expect(s).toMatchObject({ lastAppliedRevision: rev("1"), lastAttemptedRevision: rev("5"), observedGeneration: 1 });
    expect(findCondition(s, "Reconciling")).toMatchObject({ reason: "ProgressingWithRetry" });
    expect(await env.images()).toEqual(pods);

    // Not retried in a loop: the same revision waits for the retry interval (or a change).
    await flux.reconcile();
    expect(ready(await env.status())?.reason).toBe("ReconciliationFailed");

    await setFailure(env.dir, { reason: "HealthCheckFailed", message: "timeout waiting for: [Deployment/piksel/piksel-core status: 'InProgress']" });
    await waitFor("the health check failure", async () => ready(await env.cluster.fluxStatus())?.reason === "HealthCheckFailed");
    s = await env.status();
    expect(findCondition(s, "Healthy")).toMatchObject({ status: "False", reason: "HealthCheckFailed" });
    expect(await env.images()).toEqual(pods);

    // Clearing the failure retries the revision at once.
    await setFailure(env.dir, null);
    await waitFor("the revision applied", async () => (await env.cluster.fluxStatus())?.lastAppliedRevision === rev("5"));
    expect((await env.images()).map((i) => i.digest)).toEqual([digest("5")]);
  });

  it("fails the health check when a tag has no digest in the registry", async () => {
    const env = environment();
    env.desired = { revision: rev("6"), images: [{ name: "piksel-core", newTag: "v9.9.9" }] };
    await env.start();
    await waitFor("Ready=False", async () => ready(await env.cluster.fluxStatus())?.status === "False");
    const s = await env.status();
    expect(ready(s)).toMatchObject({ reason: "HealthCheckFailed", message: "timeout waiting for: [Deployment/piksel/piksel-core status: 'InProgress']: image piksel-core:v9.9.9 cannot be pulled: not found in the registry" });
    expect(s.lastAppliedRevision).toBeNull();
    expect(await env.images()).toEqual([]);
  });

  it("suspends: nothing is reconciled and the status stays; resuming applies the branch head", async () => {
    const env = environment();
    const flux = await env.start();
    await waitFor("the first revision", async () => ready(await env.cluster.fluxStatus())?.status === "True");
    const before = await env.status();
    await suspend(env.dir, true);
    expect(await env.status()).toEqual({ ...before, suspended: true, generation: 2 });

    env.desired = { revision: rev("8"), images: [{ name: "piksel-core", digest: digest("8") }] };
    await flux.reconcile("dev");
    await flux.reconcile("dev");
    expect(await env.status()).toEqual({ ...before, suspended: true, generation: 2 });

    await suspend(env.dir, false);
    await waitFor("the head applied after resume", async () => (await env.cluster.fluxStatus())?.lastAppliedRevision === rev("8"));
    expect(await env.status()).toMatchObject({ suspended: false, generation: 3, observedGeneration: 3 });
  });

  it("resumes after a restart of the loop and finishes the reconciliation it had started, once", async () => {
    const env = environment();
    let flux = await env.start(0.5);
    await waitFor("Progressing", async () => ready(await env.cluster.fluxStatus())?.reason === "Progressing");
    await flux.stop();
    const attempt = (await readLocalState(env.dir))!.attempt!;
    expect(attempt.revision).toBe(rev("1"));

    // A new commit lands while the loop is down: the restarted loop first finishes what it started.
    env.desired = { revision: rev("9"), images: [{ name: "piksel-core", digest: digest("9") }] };
    flux = await env.start(0.5);
    await waitFor("the new commit applied", async () => (await env.cluster.fluxStatus())?.lastAppliedRevision === rev("9"));
    const history = (await readLocalState(env.dir))!.status.history;
    expect(history.map((h) => [h.metadata.revision, h.lastReconciledStatus, h.totalReconciliations])).toEqual([
      [rev("9"), "ReconciliationSucceeded", 1],
      [rev("1"), "ReconciliationSucceeded", 1],
    ]);

    // Restarting once more applies nothing again.
    await flux.stop();
    const settled = await env.status();
    const pods = await env.images();
    flux = await env.start(0.5);
    await flux.reconcile();
    expect(await env.status()).toEqual(settled);
    expect(await env.images()).toEqual(pods);
  });

  it("lets only one loop run per environment", async () => {
    const env = environment();
    await env.start();
    await expect(env.start()).rejects.toThrow(`the local Flux of environment dev already runs in process ${process.pid}`);
  });
});

describe("local cluster across processes", () => {
  let childScript: string;

  beforeAll(async () => {
    // The child runs the same sources, bundled as the CLI is (scripts/build-cli.mjs), into a cache
    // directory inside node_modules so its packages resolve.
    const outDir = path.join(root, "node_modules", ".cache", "piksel-tests");
    childScript = path.join(outDir, `cluster-child-${process.pid}.mjs`);
    await build({
      stdin: {
        contents: `
          import fs from "node:fs";
          import { createLocalCluster } from "~/server/drivers/cluster/local";
          import { setFailure, startLocalFlux } from "~/server/embedded/local-flux";
          import { createLogger } from "~/server/logger";
          const [mode, stateDir, arg] = process.argv.slice(2);
          const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
          if (mode === "read") {
            const cluster = createLocalCluster({ stateDir, pollIntervalMs: 50 });
            cluster.watch(async (e) => out({ kind: e.kind, flux: await cluster.fluxStatus(), images: await cluster.runningImages() }), (err) => out({ error: err.message }));
            setInterval(() => {}, 60_000);
          } else if (mode === "fail") {
            await setFailure(stateDir, arg);
          } else {
            await startLocalFlux({
              environments: [{ name: "dev", stateDir, reconcileDelaySeconds: 60, desired: async () => JSON.parse(fs.readFileSync(arg, "utf8")), resolveDigest: async () => null }],
              log: createLogger({ level: "warn" }),
              pollIntervalMs: 50,
            });
            out({ started: true });
          }
        `,
        resolveDir: root,
        loader: "ts",
      },
      outfile: childScript,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      alias: { "~": path.join(root, "src"), "server-only": path.join(root, "tests/support/empty.ts") },
      logLevel: "warning",
    });
    return () => fs.rmSync(childScript, { force: true });
  });

  function child(args: string[]): { proc: ChildProcess; lines: Record<string, unknown>[]; exited: Promise<void> } {
    const proc = spawn(process.execPath, [childScript, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const lines: Record<string, unknown>[] = [];
    readline.createInterface({ input: proc.stdout! }).on("line", (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
    proc.stderr!.on("data", (d: Buffer) => process.stderr.write(`[child] ${d.toString()}`));
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    cleanups.push(async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL");
        await exited;
      }
    });
    return { proc, lines, exited };
  }

  it("a second process reading with the local driver sees what the loop in this process applies", async () => {
    const env = environment();
    const reader = child(["read", env.dir]);
    await waitFor("the reader's first event", () => reader.lines.length > 0);
    await env.start();
    await waitFor("the reader to see Ready=True", () =>
      reader.lines.some((l) => {
        const flux = l.flux as FluxStatus | null;
        return flux?.lastAppliedRevision === rev("1") && ready(flux)?.status === "True";
      }),
    );
    await waitFor("the reader to see the pods", () => reader.lines.some((l) => (l.images as RunningImage[] | undefined)?.[0]?.digest === digest("2")));
    expect(reader.lines.some((l) => ready(l.flux as FluxStatus | null)?.reason === "Progressing")).toBe(true);
    expect(reader.lines.filter((l) => l.error)).toEqual([]);
  });

  it("a loop killed mid-reconciliation (kill -9) is resumed by the next process, exactly once", async () => {
    const env = environment();
    const desiredFile = path.join(env.dir, "..", `${path.basename(env.dir)}-desired.json`);
    cleanups.push(() => fs.rmSync(desiredFile, { force: true }));
    fs.writeFileSync(desiredFile, JSON.stringify(env.desired));
    const loop = child(["loop", env.dir, desiredFile]);
    await waitFor("the child's reconciliation to start", async () => ready(await env.cluster.fluxStatus())?.reason === "Progressing", { timeoutMs: 20_000 });
    loop.proc.kill("SIGKILL");
    await loop.exited;

    env.desired = { revision: rev("b"), images: [{ name: "piksel-core", digest: digest("b") }] };
    await env.start(0.2);
    await waitFor("the new commit applied", async () => (await env.cluster.fluxStatus())?.lastAppliedRevision === rev("b"));
    const state = (await readLocalState(env.dir))!;
    expect(state.status.history.map((h) => [h.metadata.revision, h.totalReconciliations])).toEqual([
      [rev("b"), 1],
      [rev("1"), 1],
    ]);
    expect(state.attempt).toBeNull();
  });

  it("setFailure from another process reaches the loop", async () => {
    const env = environment();
    await env.start();
    await waitFor("the first revision", async () => ready(await env.cluster.fluxStatus())?.status === "True");
    const control = child(["fail", env.dir, "told from another process"]);
    await control.exited;
    expect(control.proc.exitCode).toBe(0);
    env.desired = { revision: rev("c"), images: [{ name: "piksel-core", digest: digest("c") }] };
    await waitFor("Ready=False", async () => ready(await env.cluster.fluxStatus())?.message === "told from another process");
    expect((await env.status()).lastAppliedRevision).toBe(rev("1"));
  });
});
