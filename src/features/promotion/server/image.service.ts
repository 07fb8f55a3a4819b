import "server-only";
import type { EnvironmentObserver } from "~/features/environments/server/observer";
import type { PikselConfig } from "~/server/config";
import type { Db } from "~/server/db";
import type { ImageInfo, RegistryPort } from "~/server/drivers/registry";
import type { EnvironmentPorts } from "~/server/ports";

// Manifests are immutable: what a digest says never changes, so it is cached for the process' life.
const infoCache = new Map<string, Promise<ImageInfo | null>>();
function inspect(registry: RegistryPort, digest: string): Promise<ImageInfo | null> {
  const key = `${registry.imageName}@${digest}`;
  let p = infoCache.get(key);
  if (!p) {
    p = registry.inspect(digest).catch(() => null);
    infoCache.set(key, p);
    void p.then((v) => v === null && infoCache.delete(key));
  }
  return p;
}

/** The releases (tags) created after `from` and up to `to`, oldest first, from the images' OCI labels. */
async function releasesBetween(registry: RegistryPort, from: ImageInfo | null, to: ImageInfo) {
  const tags = await registry.listTags();
  const refs = await Promise.all(tags.map(async (tag) => ({ tag, digest: await registry.resolve(tag).catch(() => null) })));
  const infos = await Promise.all(refs.filter((r) => r.digest).map(async (r) => ({ ...r, info: await inspect(registry, r.digest!) })));
  const after = from?.created ? Date.parse(from.created) : -Infinity;
  const until = to.created ? Date.parse(to.created) : Infinity;
  const seen = new Set<string>();
  return infos
    .filter((i) => i.info?.created && Date.parse(i.info.created) > after && Date.parse(i.info.created) <= until)
    .sort((a, b) => Date.parse(a.info!.created!) - Date.parse(b.info!.created!))
    .filter((i) => !seen.has(i.digest!) && !!seen.add(i.digest!))
    .map((i) => ({ tag: i.tag, digest: i.digest!, revision: i.info!.revision, created: i.info!.created, source: i.info!.source }));
}

/** Everything about one digest: labels, where it has been in each environment, validations, and what promoting it changes. */
export async function imageDetail(deps: { db: Db; config: PikselConfig; ports: Map<string, EnvironmentPorts>; observer: EnvironmentObserver }, input: { digest: string; imageName: string }) {
  const { config, ports, db } = deps;
  const registry = ports.get(config.environments[0]!.name)!.registry;
  const info = await inspect(registry, input.digest);
  if (deps.observer.all().length < config.environments.length) await deps.observer.refreshAll();

  const environments = await Promise.all(
    config.environments.map(async (env, position) => {
      const p = ports.get(env.name)!;
      const history = await p.gitops.history(200).catch(() => []);
      const commits = history
        .filter((h) => h.images.find((i) => i.name === input.imageName)?.digest === input.digest)
        .map((h) => ({ commit: h.commit, at: h.at, subject: h.subject, promotionId: h.trailers["Promotion-Id"]?.[0] ?? null }));
      const deployment = await db.deployment.findUnique({ where: { environment_imageName_digest: { environment: env.name, imageName: input.imageName, digest: input.digest } } });
      const cell = deps.observer.get(env.name)?.images.find((i) => i.imageName === input.imageName) ?? null;
      return { name: env.name, label: env.label ?? env.name, position, current: cell?.desired.digest === input.digest, currentDigest: cell?.desired.digest ?? null, commits, deployedFrom: deployment?.firstSeenAt ?? null, deployedUntil: deployment?.lastSeenAt ?? null };
    }),
  );
  const validations = await db.validation.findMany({ where: { digest: input.digest }, orderBy: { at: "desc" } });

  // What promoting this digest to the last environment (prod) would change.
  const last = environments[environments.length - 1]!;
  let changes: Awaited<ReturnType<typeof releasesBetween>> = [];
  let diff = "";
  if (info && !last.current) {
    const prodInfo = last.currentDigest ? await inspect(registry, last.currentDigest) : null;
    changes = await releasesBetween(registry, prodInfo, info).catch(() => []);
    const tag = changes.find((c) => c.digest === input.digest)?.tag;
    if (tag) diff = await ports.get(last.name)!.gitops.diffImageChange({ name: input.imageName, newTag: tag, digest: input.digest }).catch(() => "");
  }
  return { digest: input.digest, imageName: input.imageName, repository: registry.imageName, info, environments, validations, promoteTo: last.name, changes, diff };
}
