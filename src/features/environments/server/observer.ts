import "server-only";
import { randomUUID } from "node:crypto";
import { revisionCommit } from "~/lib/flux";
import { getConfig, type PikselConfig } from "~/server/config";
import { getDb, type Db } from "~/server/db";
import type { OverlayHistoryEntry, OverlayImage } from "~/server/drivers/gitops";
import { getLogger, type Logger } from "~/server/logger";
import { getPorts, type EnvironmentPorts } from "~/server/ports";
import { deployedUnmet, fluxState, type FluxState } from "../../promotion/promotion.rules";

/** One image (component) in one environment: what git desires, what runs, and whether they agree. */
export interface ImageCell {
  imageName: string;
  desired: { tag: string | null; digest: string | null; newName: string | null; commit: string | null; setAt: Date | null; promotionId: string | null };
  running: { digests: string[]; pods: number; ready: number };
  /** Pods run something other than the desired digest (and Flux is not mid-way applying it). */
  drift: boolean;
  deployed: boolean;
  unmet: string[];
}

/** What the console knows about one environment at one moment (read from git and the cluster). */
export interface EnvironmentSnapshot {
  environment: string;
  observedAt: Date;
  head: string | null;
  flux: { state: FluxState; message: string; lastAppliedRevision: string | null; suspended: boolean };
  images: ImageCell[];
  /** Systems that could not be read, with the reason; the rest of the snapshot is still valid. */
  problems: string[];
}

/** The repository part of an image reference: `reg/piksel-core:v1@sha256:…` -> `reg/piksel-core`. */
export function imageRepository(ref: string): string {
  const noDigest = ref.split("@")[0]!;
  const slash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

const matches = (entry: OverlayImage, repository: string) => {
  const want = entry.newName ?? entry.name;
  return repository === want || repository.endsWith(`/${want}`) || repository.split("/").pop() === entry.name;
};

/** The newest run of history in which the entry held its current digest: its oldest commit set it. */
function settingCommit(history: OverlayHistoryEntry[], name: string, digest: string | undefined): OverlayHistoryEntry | null {
  let found: OverlayHistoryEntry | null = null;
  for (const h of history) {
    if (h.images.find((i) => i.name === name)?.digest !== digest) break;
    found = h;
  }
  return found;
}

/**
 * Reads each environment's desired state (GitOps overlay) and observed state (Flux, pods), keeps the
 * latest snapshot per environment in memory (the matrix API reads only this), and records every
 * digest seen deployed (soak time and rollback candidates are computed from those records).
 */
export class EnvironmentObserver {
  private readonly snapshots = new Map<string, EnvironmentSnapshot>();
  private readonly historyCache = new Map<string, { head: string; history: OverlayHistoryEntry[] }>();
  private readonly inFlight = new Map<string, Promise<EnvironmentSnapshot>>();
  private listeners = new Set<(s: EnvironmentSnapshot) => void>();

  constructor(
    private readonly deps: { config: PikselConfig; ports: Map<string, EnvironmentPorts>; db: Db; log: Logger },
  ) {}

  /** The latest snapshot of each environment that has one, in promotion order. */
  all(): EnvironmentSnapshot[] {
    return this.deps.config.environments.map((e) => this.snapshots.get(e.name)).filter((s): s is EnvironmentSnapshot => !!s);
  }

  get(environment: string): EnvironmentSnapshot | undefined {
    return this.snapshots.get(environment);
  }

  /** Called after every refresh (the promotion engine listens). */
  onSnapshot(fn: (s: EnvironmentSnapshot) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Refreshes one environment; concurrent calls share one read. */
  refresh(environment: string): Promise<EnvironmentSnapshot> {
    const running = this.inFlight.get(environment);
    if (running) return running;
    const p = this.read(environment).finally(() => this.inFlight.delete(environment));
    this.inFlight.set(environment, p);
    return p;
  }

  refreshAll(): Promise<EnvironmentSnapshot[]> {
    return Promise.all(this.deps.config.environments.map((e) => this.refresh(e.name)));
  }

  private async history(environment: string, head: string): Promise<OverlayHistoryEntry[]> {
    const cached = this.historyCache.get(environment);
    if (cached?.head === head) return cached.history;
    const history = await this.deps.ports.get(environment)!.gitops.history(200);
    this.historyCache.set(environment, { head, history });
    return history;
  }

  private async read(environment: string): Promise<EnvironmentSnapshot> {
    const ports = this.deps.ports.get(environment)!;
    const problems: string[] = [];
    const fail = (what: string) => (err: unknown) => {
      problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    };
    const [overlay, flux, pods] = await Promise.all([
      ports.gitops.readOverlay().catch(fail("GitOps")),
      ports.cluster.fluxStatus().catch(fail("Flux status")),
      ports.cluster.runningImages().catch(fail("pods")),
    ]);
    const history = overlay ? await this.history(environment, overlay.commit).catch(fail("GitOps history")) : null;
    const appliedCommit = revisionCommit(flux?.lastAppliedRevision);
    const fs = fluxState(flux);

    // Most images share the few commits that set them: ask git once per commit, not once per image.
    const containsMemo = new Map<string, Promise<boolean>>();
    const applied = (commit: string) => {
      if (!appliedCommit) return Promise.resolve(false);
      let p = containsMemo.get(commit);
      if (!p) {
        p = ports.gitops.contains(appliedCommit, commit).catch(() => false);
        containsMemo.set(commit, p);
      }
      return p;
    };
    // Pods by the last segment of their image repository, so matching stays linear in images + pods.
    const podsByName = new Map<string, NonNullable<typeof pods>>();
    for (const p of pods ?? []) {
      const last = imageRepository(p.image).split("/").pop()!;
      podsByName.set(last, [...(podsByName.get(last) ?? []), p]);
    }
    const images: ImageCell[] = [];
    for (const entry of overlay?.images ?? []) {
      const set = history ? settingCommit(history, entry.name, entry.digest) : null;
      const candidates = new Set([...(podsByName.get(entry.name) ?? []), ...(podsByName.get((entry.newName ?? entry.name).split("/").pop()!) ?? [])]);
      const mine = [...candidates].filter((p) => matches(entry, imageRepository(p.image)));
      const digests = mine.map((p) => p.digest);
      const contains = !!(set && (await applied(set.commit)));
      const unmet = entry.digest ? deployedUnmet({ flux, appliedContainsCommit: contains, digest: entry.digest, runningDigests: digests }) : ["the overlay pins no digest"];
      const runningOther = mine.some((p) => p.digest && p.digest !== entry.digest);
      images.push({
        imageName: entry.name,
        desired: {
          tag: entry.newTag ?? null,
          digest: entry.digest ?? null,
          newName: entry.newName ?? null,
          commit: set?.commit ?? null,
          setAt: set?.at ?? null,
          promotionId: set?.trailers["Promotion-Id"]?.[0] ?? null,
        },
        running: { digests: [...new Set(digests.filter((d): d is string => !!d))], pods: mine.length, ready: mine.filter((p) => p.ready).length },
        // Mid-apply (Flux reconciling a newer revision) is progress, not drift.
        drift: runningOther && fs.state !== "reconciling",
        deployed: unmet.length === 0,
        unmet,
      });
      if (unmet.length === 0 && entry.digest && set) await this.recordDeployment(environment, entry, set.commit);
    }
    const snapshot: EnvironmentSnapshot = {
      environment,
      observedAt: new Date(),
      head: overlay?.commit ?? null,
      flux: { state: fs.state, message: fs.message, lastAppliedRevision: flux?.lastAppliedRevision ?? null, suspended: flux?.suspended ?? false },
      images,
      problems,
    };
    this.snapshots.set(environment, snapshot);
    for (const fn of this.listeners) fn(snapshot);
    return snapshot;
  }

  /** When each (environment, image, digest) was last written, to write lastSeenAt at most once a minute. */
  private readonly recorded = new Map<string, number>();

  private async recordDeployment(environment: string, entry: OverlayImage, commit: string) {
    const key = `${environment}\u0000${entry.name}\u0000${entry.digest}`;
    const last = this.recorded.get(key);
    if (last && Date.now() - last < 60_000) return;
    this.recorded.set(key, Date.now());
    const now = new Date();
    await this.deps.db.deployment.upsert({
      where: { environment_imageName_digest: { environment, imageName: entry.name, digest: entry.digest! } },
      create: { id: randomUUID(), environment, imageName: entry.name, digest: entry.digest!, tag: entry.newTag ?? null, gitCommit: commit, firstSeenAt: now, lastSeenAt: now },
      update: { lastSeenAt: now, tag: entry.newTag ?? null },
    });
  }
}

const holder = globalThis as unknown as { pikselObserver?: EnvironmentObserver };

/** The process-wide observer of the console server. */
export function getObserver(): EnvironmentObserver {
  holder.pikselObserver ??= new EnvironmentObserver({ config: getConfig(), ports: getPorts(), db: getDb(), log: getLogger().child({ component: "observer" }) });
  return holder.pikselObserver;
}
