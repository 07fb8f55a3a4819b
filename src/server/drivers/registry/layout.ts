import "server-only";
import fs from "node:fs/promises";
import path from "node:path";
import { AppError } from "../../errors";
import {
  checkReference,
  inspectImage,
  isDigest,
  isTag,
  maxConfigBytes,
  maxManifestBytes,
  mediaTypes,
  parseManifest,
  verifyContent,
  type ContentSource,
  type Descriptor,
  type Platform,
} from "./image";
import type { RegistryPort } from "./index";

/** Annotation that names an index.json entry (image-spec annotations.md). */
export const refNameAnnotation = "org.opencontainers.image.ref.name";
/** containerd and buildx put the full image name here and the bare tag in ref.name. */
const containerdNameAnnotation = "io.containerd.image.name";

/** The `org.opencontainers.image.ref.name` this project writes for a repository's tag. */
export const layoutRefName = (repository: string, tag: string) => `${repository}:${tag}`;

const isRegistryHost = (s: string) => s === "localhost" || /[.:]/.test(s);

/**
 * The tag an index.json entry gives `repository`, or null when the entry is not one of its tags.
 * This project writes `<repository>:<tag>` in ref.name (one layout may hold several repositories, and
 * skopeo addresses it as `oci:<dir>:<repository>:<tag>`). Layouts written by other tools are read too:
 * containerd/buildx (`io.containerd.image.name: [host/]<repository>:<tag>`) and single-repository
 * layouts whose ref.name is the bare tag (skopeo `oci:<dir>:<tag>`, oras, crane).
 */
export function layoutTag(annotations: Record<string, string> | undefined, repository: string): string | null {
  const full = annotations?.[containerdNameAnnotation];
  if (full) {
    const colon = full.lastIndexOf(":");
    if (colon < full.lastIndexOf("/") || colon < 0) return null;
    const name = full.slice(0, colon);
    const tag = full.slice(colon + 1);
    const slash = name.indexOf("/");
    const sameName = name === repository || (slash > 0 && isRegistryHost(name.slice(0, slash)) && name.slice(slash + 1) === repository);
    return sameName && isTag(tag) ? tag : null;
  }
  const ref = annotations?.[refNameAnnotation];
  if (!ref) return null;
  if (ref.startsWith(`${repository}:`)) {
    const tag = ref.slice(repository.length + 1);
    return isTag(tag) ? tag : null;
  }
  return isTag(ref) ? ref : null;
}

/** What `createLayoutRegistry` takes besides configuration. */
export interface LayoutRegistryOptions {
  /** Platform whose config `inspect` reads from a multi-platform image (default linux/amd64). */
  platform?: Platform;
}

/**
 * An OCI image-layout directory (image-spec image-layout.md) as a registry: the embedded default's.
 * Same semantics as the OCI driver: tags from index.json, digests verified on every read, nested
 * indexes followed. See docs/adr/0008-registry-drivers.md.
 */
export function createLayoutRegistry(config: { path: string; repository: string }, options: LayoutRegistryOptions = {}): RegistryPort {
  const dir = config.path;
  const repo = config.repository;
  const platform = options.platform ?? { os: "linux", architecture: "amd64" };
  const describe = (reference: string) => `${dir}:${isDigest(reference) ? `${repo}@${reference}` : layoutRefName(repo, reference)}`;

  async function readIndex(): Promise<Descriptor[]> {
    const file = path.join(dir, "index.json");
    const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new Error(err.code === "ENOENT" ? `${dir} is not an OCI image layout (no index.json)` : `Cannot read ${file}: ${err.code ?? err.message}`);
    });
    const index = parseManifest(bytes, mediaTypes.ociIndex, file);
    if (index.kind !== "index") throw new Error(`${file} is not an image index`);
    return index.manifests;
  }

  /** Tag -> descriptor, in index order; a later entry for the same tag wins, as when a tag is moved. */
  async function tagged(): Promise<Map<string, Descriptor>> {
    const tags = new Map<string, Descriptor>();
    for (const d of await readIndex()) {
      const tag = layoutTag(d.annotations, repo);
      if (tag !== null) tags.set(tag, d);
    }
    return tags;
  }

  /** A blob's bytes, verified; null when the file does not exist. */
  async function readBlob(digest: string, what: string, maxBytes: number, size?: number): Promise<Buffer | null> {
    // The digest pattern (hex only) is what keeps a reference from walking out of blobs/.
    if (!isDigest(digest)) throw new Error(`${what}: "${digest}" is not a digest`);
    const [algorithm, hex] = digest.split(":") as [string, string];
    const file = path.join(dir, "blobs", algorithm, hex);
    const stat = await fs.stat(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw new Error(`${what}: cannot read ${file}: ${err.code ?? err.message}`);
    });
    if (!stat) return null;
    if (stat.size > maxBytes) throw new Error(`${what}: ${file} is ${stat.size} bytes, more than a manifest or config can be`);
    const bytes = await fs.readFile(file);
    verifyContent(bytes, digest, `${what} (${file})`, size);
    return bytes;
  }

  async function manifest(reference: string, expected?: Descriptor) {
    checkReference(reference);
    let descriptor = expected;
    if (!isDigest(reference)) {
      descriptor = (await tagged()).get(reference);
      if (!descriptor) throw new AppError("NOT_FOUND", `Image ${layoutRefName(repo, reference)} not found in the image layout ${dir}`);
    }
    const digest = descriptor?.digest ?? reference;
    const bytes = await readBlob(digest, `Manifest of ${describe(reference)}`, maxManifestBytes, descriptor?.size);
    if (!bytes) {
      // A digest asked for by a user may simply not exist; one that index.json or an index names must.
      if (!descriptor) throw new AppError("NOT_FOUND", `Image ${repo}@${reference} not found in the image layout ${dir}`);
      throw new Error(`Image layout ${dir} is damaged: blob ${digest} of ${describe(reference)} is missing`);
    }
    return { digest, contentType: descriptor?.mediaType || null, bytes };
  }

  const source: ContentSource = {
    describe,
    manifest,
    async blob(d) {
      const bytes = await readBlob(d.digest, `Blob ${d.digest} of ${repo}`, maxConfigBytes, d.size);
      if (!bytes) throw new Error(`Image layout ${dir} is damaged: blob ${d.digest} of ${repo} is missing`);
      return bytes;
    },
  };

  return {
    driver: "layout",
    endpoint: `${dir} (${repo})`,
    imageName: repo,

    async listTags() {
      return [...(await tagged()).keys()];
    },

    async resolve(reference) {
      const m = await manifest(reference);
      // Proves the digest names a manifest and not some other blob (a config, a layer).
      parseManifest(m.bytes, m.contentType, `Manifest of ${describe(reference)}`);
      return m.digest;
    },

    inspect(reference) {
      return inspectImage(source, reference, platform);
    },

    async check() {
      const file = path.join(dir, "oci-layout");
      const text = await fs.readFile(file, "utf8").catch(() => {
        throw new Error(`${dir} is not an OCI image layout (no oci-layout file)`);
      });
      let version: unknown;
      try {
        version = (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
      } catch {
        throw new Error(`${file} is not JSON`);
      }
      if (typeof version !== "string") throw new Error(`${file} has no imageLayoutVersion`);
      const tags = await tagged();
      return `${tags.size} tag(s) of ${repo}`;
    },
  };
}
