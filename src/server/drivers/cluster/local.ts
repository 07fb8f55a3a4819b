import "server-only";
import fs from "node:fs";
import fsp from "node:fs/promises";
import type { ClusterEvent, ClusterPort, ClusterWatchError } from "./index";
import { resolveJobSettings, type JobSettingsInput } from "./job-manifest";
import { labelSelector } from "./label-selector";
import { createLocalJobs } from "./local-jobs-port";
import { controlFileName, readLocalControl, readLocalState, stateFileName } from "./local-state";
import { fluxStatusFromObject, runningImagesFromPods } from "./objects";

export interface LocalClusterOptions {
  stateDir: string;
  /** Poll period when fs.watch is unavailable; a slower safety poll runs beside fs.watch. Jobs' watches and followed logs poll at it. */
  pollIntervalMs?: number;
  /** How geomedian Jobs run (config `cluster.jobs`); the runner of src/server/embedded/local-jobs.ts honours the same settings. */
  jobs?: JobSettingsInput;
  /** Namespace the local Jobs report; default `piksel`. */
  namespace?: string;
}

/**
 * The embedded default's cluster: a local Flux (src/server/embedded/local-flux.ts) plays Flux for the
 * overlays and writes what a cluster would report into `stateDir` (drivers/cluster/local-state.ts);
 * this driver reads it, from any process of the platform.
 */
export function createLocalCluster(opts: LocalClusterOptions): ClusterPort {
  const { stateDir } = opts;
  const pollMs = opts.pollIntervalMs ?? 500;
  // No platform ConfigMap on one machine: the workers inherit PIKSEL_CONFIG from the runner's process.
  const jobs = createLocalJobs({ stateDir, namespace: opts.namespace ?? "piksel", settings: { ...resolveJobSettings(opts.jobs), configMap: null }, pollIntervalMs: pollMs });

  async function readAll() {
    const [state, control] = await Promise.all([readLocalState(stateDir), readLocalControl(stateDir)]);
    return { state, control };
  }

  return {
    driver: "local",
    endpoint: stateDir,

    async check() {
      await fsp.mkdir(stateDir, { recursive: true });
      await fsp.access(stateDir, fsp.constants.W_OK);
      const state = await readLocalState(stateDir);
      return state ? `local cluster, Kustomization ${state.kustomization.namespace}/${state.kustomization.name}` : "local cluster state writable (local Flux not started yet)";
    },

    async fluxStatus() {
      const { state, control } = await readAll();
      if (!state) return null;
      // spec (generation, suspend) comes from the control file people write, status from the loop,
      // as the API server keeps a custom resource's spec and status subresource apart.
      return fluxStatusFromObject({
        metadata: { ...state.kustomization, generation: control.generation },
        spec: { suspend: control.suspend },
        status: { ...state.status, lastAppliedRevision: state.status.lastAppliedRevision ?? undefined, lastAttemptedRevision: state.status.lastAttemptedRevision ?? undefined },
      });
    },

    async runningImages(selector) {
      const matches = labelSelector(selector);
      const state = await readLocalState(stateDir);
      return runningImagesFromPods((state?.pods ?? []).filter((p) => matches(p.metadata?.labels)));
    },

    watch(onEvent, onError) {
      let stopped = false;
      let last: { flux: string; pods: string } | undefined;
      let checking = false;
      let again = false;
      const timers: NodeJS.Timeout[] = [];
      let watcher: fs.FSWatcher | undefined;

      const report = (err: unknown) => {
        if (stopped || !onError) return;
        const e: ClusterWatchError = err instanceof Error ? err : new Error(String(err));
        e.message = `local cluster ${stateDir}: ${e.message}`;
        onError(e);
      };

      // Compares what the port exposes, not file times: fs.watch fires several times per rename and
      // the control file also holds fields (the failure switch) that are not part of the status.
      async function check() {
        if (checking) {
          again = true;
          return;
        }
        checking = true;
        try {
          do {
            again = false;
            const { state, control } = await readAll();
            if (stopped) return;
            const now = {
              flux: JSON.stringify(state ? [state.kustomization, state.status, control.generation, control.suspend] : null),
              pods: JSON.stringify(state?.pods ?? null),
            };
            const events: ClusterEvent[] = [];
            if (now.flux !== last?.flux) events.push({ kind: "flux" });
            if (now.pods !== last?.pods) events.push({ kind: "pods" });
            last = now;
            for (const e of events) onEvent(e);
          } while (again && !stopped);
        } catch (err) {
          report(err);
        } finally {
          checking = false;
        }
      }

      const poll = (ms: number) => {
        const t = setInterval(() => void check(), ms);
        t.unref();
        timers.push(t);
      };

      try {
        fs.mkdirSync(stateDir, { recursive: true });
        // The directory, not the files: they are replaced by rename, which would orphan a file watch.
        watcher = fs.watch(stateDir, { persistent: false }, (_type, filename) => {
          if (!filename || filename === stateFileName || filename === controlFileName) void check();
        });
        watcher.on("error", (err) => {
          report(err);
          watcher?.close();
          poll(pollMs);
        });
        // fs.watch misses events on some file systems (network mounts, some container volumes) and
        // stops for good if the directory is replaced: a slow poll catches up.
        poll(pollMs * 10);
      } catch (err) {
        // No inotify (watch limit reached, unsupported file system): poll only.
        report(err);
        poll(pollMs);
      }
      void check();

      return () => {
        stopped = true;
        watcher?.close();
        for (const t of timers) clearInterval(t);
      };
    },

    ...jobs,
  };
}
