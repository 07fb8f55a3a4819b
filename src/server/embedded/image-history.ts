import "server-only";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { digestOf, isRepository, isTag, mediaTypes, parseManifest, platformName, type Platform } from "../drivers/registry/image";
import { layoutRefName, refNameAnnotation } from "../drivers/registry/layout";

/** One CI build of an image: what its OCI labels say. */
export interface Release {
  tag: string;
  /** Git commit the image was built from (40 hex). */
  revision: string;
  /** Build time, RFC 3339. */
  created: string;
  /** Source repository URL. */
  source: string;
  /** `org.opencontainers.image.version`; default: the tag without a leading "v". */
  version?: string;
  /** Platforms built; more than one makes an image index. Default: linux/amd64 only. */
  platforms?: Platform[];
  /** Further config labels. */
  labels?: Record<string, string>;
}

/** Content-addressed bytes with their media type. */
export interface Blob {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** A release as a real OCI image, ready to write into a layout or push to a registry. */
export interface BuiltImage {
  tag: string;
  /** What the tag points at: the manifest, or the image index of a multi-platform image. */
  digest: string;
  mediaType: string;
  /** Configs and layers. */
  blobs: Blob[];
  /** Manifests in push order: per-platform manifests first, the tagged one last. */
  manifests: Blob[];
  /** Per platform, the digest of its manifest. */
  platforms: { platform: string; digest: string }[];
}

const linuxAmd64: Platform = { os: "linux", architecture: "amd64" };
const linuxArm64: Platform = { os: "linux", architecture: "arm64", variant: "v8" };

const blob = (mediaType: string, bytes: Buffer): Blob => ({ digest: digestOf(bytes), mediaType, bytes });
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const sorted = (record: Record<string, string>) => Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** One ustar header block. Fixed owner, mode and mtime keep the layer, and so every digest, reproducible. */
function tarHeader(name: string, size: number, type: "0" | "5", mtime: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number) => h.write(value, offset, length, "ascii");
  const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, "0") + "\0";
  put(name, 0, 100);
  put(octal(type === "5" ? 0o755 : 0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(mtime, 12), 136, 12);
  put(" ".repeat(8), 148, 8);
  put(type, 156, 1);
  put("ustar\u000000", 257, 8);
  put("root", 265, 32);
  put("root", 297, 32);
  let sum = 0;
  for (const byte of h) sum += byte;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return h;
}

/** An uncompressed tar (a valid OCI layer) of a few small files. */
function tar(files: { name: string; body: Buffer }[], mtime: number): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  for (const f of files) {
    const segments = f.name.split("/").slice(0, -1);
    segments.forEach((_, i) => {
      const d = `${segments.slice(0, i + 1).join("/")}/`;
      if (dirs.has(d)) return;
      dirs.add(d);
      parts.push(tarHeader(d, 0, "5", mtime));
    });
    parts.push(tarHeader(f.name, f.body.length, "0", mtime), f.body, Buffer.alloc((512 - (f.body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function platformImage(repository: string, release: Release, labels: Record<string, string>, platform: Platform) {
  const mtime = Math.floor(Date.parse(release.created) / 1000);
  const releaseFile = json({ image: repository, tag: release.tag, version: labels["org.opencontainers.image.version"], revision: release.revision, created: release.created, platform: platformName(platform) });
  const layer = blob(mediaTypes.ociLayer, tar([{ name: "etc/piksel/release.json", body: releaseFile }], mtime));
  const config = blob(
    mediaTypes.ociConfig,
    json({
      created: release.created,
      architecture: platform.architecture,
      ...(platform.variant && { variant: platform.variant }),
      os: platform.os,
      config: {
        User: "10001:10001",
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NODE_ENV=production"],
        Entrypoint: ["/usr/local/bin/piksel"],
        Cmd: ["console"],
        WorkingDir: "/app",
        Labels: labels,
      },
      // An uncompressed layer's diff_id is its own digest.
      rootfs: { type: "layers", diff_ids: [layer.digest] },
      history: [{ created: release.created, created_by: "COPY release.json /etc/piksel/release.json # buildkit" }],
    }),
  );
  const manifest = blob(
    mediaTypes.ociManifest,
    json({
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.bytes.length },
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.bytes.length }],
    }),
  );
  return { config, layer, manifest };
}

/** Builds the image of one release. The same input gives the same bytes, hence the same digests. */
export function buildImage(repository: string, release: Release): BuiltImage {
  if (!isTag(release.tag)) throw new Error(`"${release.tag}" is not a valid image tag`);
  if (Number.isNaN(Date.parse(release.created))) throw new Error(`Release ${release.tag}: created "${release.created}" is not an RFC 3339 time`);
  const labels = sorted({
    "org.opencontainers.image.title": repository.split("/").pop()!,
    "org.opencontainers.image.version": release.version ?? release.tag.replace(/^v/, ""),
    "org.opencontainers.image.revision": release.revision,
    "org.opencontainers.image.created": release.created,
    "org.opencontainers.image.source": release.source,
    ...release.labels,
  });
  const platforms = release.platforms?.length ? release.platforms : [linuxAmd64];
  const images = platforms.map((p) => ({ platform: p, ...platformImage(repository, release, labels, p) }));
  const blobs = images.flatMap((i) => [i.config, i.layer]);
  const perPlatform = images.map((i) => ({ platform: platformName(i.platform), digest: i.manifest.digest }));
  if (images.length === 1) {
    const only = images[0]!.manifest;
    return { tag: release.tag, digest: only.digest, mediaType: only.mediaType, blobs, manifests: [only], platforms: perPlatform };
  }
  const index = blob(
    mediaTypes.ociIndex,
    json({
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: images.map((i) => ({
        mediaType: i.manifest.mediaType,
        digest: i.manifest.digest,
        size: i.manifest.bytes.length,
        platform: { architecture: i.platform.architecture, os: i.platform.os, ...(i.platform.variant && { variant: i.platform.variant }) },
      })),
    }),
  );
  return { tag: release.tag, digest: index.digest, mediaType: index.mediaType, blobs, manifests: [...images.map((i) => i.manifest), index], platforms: perPlatform };
}

const exists = (p: string) => fs.access(p).then(() => true, () => false);

/** Writes through a temporary file and a rename, so a reader never sees half a file. */
async function writeAtomically(file: string, bytes: Buffer | string): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  await fs.writeFile(tmp, bytes);
  await fs.rename(tmp, file);
}

/**
 * Writes the images of `releases` into the OCI image layout at `layoutDir` (created when missing)
 * and tags each as `<repository>:<tag>` in index.json, replacing an earlier entry of the same name.
 * Blobs are written before index.json, so a concurrent reader sees either the old or the new tags.
 * Returns what each tag now points at.
 */
export async function writeImageHistory(layoutDir: string, repository: string, releases: Release[]): Promise<BuiltImage[]> {
  if (!isRepository(repository)) throw new Error(`"${repository}" is not a valid repository name`);
  const images = releases.map((r) => buildImage(repository, r));
  await fs.mkdir(path.join(layoutDir, "blobs", "sha256"), { recursive: true });
  if (!(await exists(path.join(layoutDir, "oci-layout")))) await writeAtomically(path.join(layoutDir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  for (const b of images.flatMap((i) => [...i.blobs, ...i.manifests])) {
    const file = path.join(layoutDir, "blobs", "sha256", b.digest.slice("sha256:".length));
    if (!(await exists(file))) await writeAtomically(file, b.bytes);
  }
  const indexFile = path.join(layoutDir, "index.json");
  const index: { schemaVersion: 2; mediaType: string; manifests: Record<string, unknown>[] } & Record<string, unknown> = (await exists(indexFile))
    ? JSON.parse(await fs.readFile(indexFile, "utf8"))
    : { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [] };
  parseManifest(Buffer.from(JSON.stringify(index)), mediaTypes.ociIndex, indexFile);
  const nameOf = (m: Record<string, unknown>) => (m.annotations as Record<string, string> | undefined)?.[refNameAnnotation];
  for (const image of images) {
    const name = layoutRefName(repository, image.tag);
    const top = image.manifests.at(-1)!;
    const entry = { mediaType: image.mediaType, digest: image.digest, size: top.bytes.length, annotations: { [refNameAnnotation]: name } };
    const at = index.manifests.findIndex((m) => nameOf(m) === name);
    const kept = index.manifests.filter((m) => nameOf(m) !== name);
    // A re-tagged release keeps its place; a new one goes last.
    kept.splice(at >= 0 ? at : kept.length, 0, entry);
    index.manifests = kept;
  }
  await writeAtomically(indexFile, `${JSON.stringify(index, null, 2)}\n`);
  return images;
}

/** Where the default history says the images were built from (a reserved domain: it links nowhere real). */
export const defaultImageSource = "https://git.piksel.example/platform/piksel-core";

/**
 * Five monthly releases of `piksel-core` in 2026, the two newest multi-platform (linux/amd64 and
 * linux/arm64). The embedded default seeds its layout with them: enough history for "one digest in
 * dev, another validated in staging, an older one in prod", and for rollbacks.
 */
export function defaultImageHistory(source = defaultImageSource): Release[] {
  const multi = [linuxAmd64, linuxArm64];
  return [
    { tag: "v1.4.0", revision: "3f9c2a7e1b5d48c0a6e2f71d9b34c85e0a1f6d27", created: "2026-01-14T09:12:41Z", source },
    { tag: "v1.5.0", revision: "a81d4e6f0c3b92757e1a0d8c4f6b3e29d5c7a104", created: "2026-02-10T14:03:18Z", source },
    { tag: "v1.6.0", revision: "5c2e8b1a7f94d3060b8e5a2c1d7f9e43b6a0c582", created: "2026-03-09T11:47:55Z", source },
    { tag: "v1.7.0", revision: "e4b7a0193d6c5f82a1e9b0d3c7f45a68e2d1b936", created: "2026-04-06T16:25:09Z", source, platforms: multi },
    { tag: "v1.8.0", revision: "7d1f3c9e5a0b48e26c9a7f1d3b8e05c4a2f6d71b", created: "2026-05-04T08:58:32Z", source, platforms: multi },
  ];
}
