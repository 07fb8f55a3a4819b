import "server-only";
import { createHash } from "node:crypto";
import { AppError } from "../../errors";
import type { ImageInfo } from "./index";

/** Media types the drivers read and the image history writes. */
export const mediaTypes = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

const indexTypes: string[] = [mediaTypes.ociIndex, mediaTypes.dockerManifestList];
const imageManifestTypes: string[] = [mediaTypes.ociManifest, mediaTypes.dockerManifest];

/**
 * Accept header for manifest requests. A registry answers with the manifest as stored only when its
 * type is listed: docker-registry 2.8 returns 404 MANIFEST_UNKNOWN for an OCI manifest unless the OCI
 * type is here, and some registries pick one platform of a list when the list types are missing —
 * which would resolve a tag to a digest that is not the one the cluster pulls.
 */
export const manifestAccept = [mediaTypes.ociIndex, mediaTypes.ociManifest, mediaTypes.dockerManifestList, mediaTypes.dockerManifest].join(", ");

/** Distribution spec limit on manifest size; larger bodies are refused rather than buffered. */
export const maxManifestBytes = 4 * 1024 * 1024;
/** Image configs are small JSON documents; this bounds memory if a registry sends something else. */
export const maxConfigBytes = 16 * 1024 * 1024;

const digestPattern = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** Repository grammar of the distribution spec: lower-case path components with `.`, `_`, `__`, `-` separators. */
const repositoryPattern = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;

export const isDigest = (s: string): boolean => digestPattern.test(s);
export const isTag = (s: string): boolean => tagPattern.test(s);
export const isRepository = (s: string): boolean => repositoryPattern.test(s) && s.length <= 255;

/** Refuses what is neither a tag nor a digest before it reaches a URL or a file path. */
export function checkReference(reference: string): "tag" | "digest" {
  if (isDigest(reference)) return "digest";
  if (isTag(reference)) return "tag";
  throw new AppError("BAD_REQUEST", `"${reference}" is neither an image tag nor a digest (sha256:<64 hex>)`);
}

/** `sha256:<hex>` (or sha512) of some bytes. */
export function digestOf(bytes: Uint8Array, algorithm: "sha256" | "sha512" = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}

/**
 * Throws unless the bytes hash to the digest (and have the descriptor's size). A digest is the
 * identity that promotions copy into prod, so content that does not match it — a truncated body, a
 * proxy rewriting JSON, a corrupted blob on disk — must never be read as that image.
 */
export function verifyContent(bytes: Uint8Array, digest: string, what: string, size?: number): void {
  if (!isDigest(digest)) throw new Error(`${what}: unsupported digest "${digest}" (only sha256 and sha512 are verified)`);
  const algorithm = digest.slice(0, digest.indexOf(":")) as "sha256" | "sha512";
  const actual = digestOf(bytes, algorithm);
  if (actual !== digest) throw new Error(`${what}: content does not match its digest (expected ${digest}, got ${actual})`);
  if (size !== undefined && size !== bytes.byteLength) throw new Error(`${what}: ${bytes.byteLength} bytes where the descriptor says ${size}`);
}

/** Where an image runs, as in OCI image indexes. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export type Manifest =
  | { kind: "index"; mediaType: string; manifests: Descriptor[]; annotations: Record<string, string> }
  | { kind: "image"; mediaType: string; config: Descriptor; annotations: Record<string, string> };

export const platformName = (p: Platform): string => [p.os, p.architecture, p.variant].filter(Boolean).join("/");

function stringRecord(value: unknown): Record<string, string> {
  if (!value || typeof value !== "object") return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string"));
}

function descriptor(value: unknown, what: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (!d || typeof d.digest !== "string" || !isDigest(d.digest) || typeof d.size !== "number") {
    throw new Error(`${what}: malformed descriptor ${JSON.stringify(value)?.slice(0, 200)}`);
  }
  const p = d.platform;
  return {
    mediaType: typeof d.mediaType === "string" ? d.mediaType : "",
    digest: d.digest,
    size: d.size,
    ...(p && typeof p.os === "string" && typeof p.architecture === "string" && { platform: { os: p.os, architecture: p.architecture, ...(p.variant && { variant: p.variant }) } }),
    ...(d.annotations && { annotations: stringRecord(d.annotations) }),
  };
}

/**
 * Parses an image manifest or index (OCI or Docker schema 2). The body's `mediaType` wins over the
 * Content-Type header; an OCI manifest may omit it, so the shape decides then.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | null, what: string): Manifest {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw new Error(`${what}: manifest is not JSON`);
  }
  if (body.schemaVersion === 1) throw new Error(`${what}: Docker schema 1 manifests are not supported; rebuild or re-push the image`);
  if (body.schemaVersion !== 2) throw new Error(`${what}: not an image manifest or index (schemaVersion ${JSON.stringify(body.schemaVersion ?? null)})`);
  const mediaType = (typeof body.mediaType === "string" && body.mediaType) || contentType || "";
  const annotations = stringRecord(body.annotations);
  if (indexTypes.includes(mediaType) || (!mediaType && Array.isArray(body.manifests))) {
    if (!Array.isArray(body.manifests)) throw new Error(`${what}: image index without manifests`);
    return { kind: "index", mediaType: mediaType || mediaTypes.ociIndex, manifests: body.manifests.map((m) => descriptor(m, what)), annotations };
  }
  if (imageManifestTypes.includes(mediaType) || (!mediaType && body.config)) {
    return { kind: "image", mediaType: mediaType || mediaTypes.ociManifest, config: descriptor(body.config, what), annotations };
  }
  throw new Error(`${what}: unsupported manifest media type "${mediaType}"`);
}

/** BuildKit stores provenance and SBOM attestations in the index as `unknown/unknown` entries. */
const isAttestation = (d: Descriptor) =>
  d.annotations?.["vnd.docker.reference.type"] === "attestation-manifest" || (d.platform?.os === "unknown" && d.platform.architecture === "unknown");

/** Platforms an index offers (attestations left out). */
export function indexPlatforms(manifests: Descriptor[]): string[] {
  return manifests.filter((d) => d.platform && !isAttestation(d)).map((d) => platformName(d.platform!));
}

/**
 * The entry of an index whose config to read: the wanted platform (linux/amd64 unless configured),
 * else the first runnable entry — labels are the same for every platform of one build.
 */
export function pickManifest(manifests: Descriptor[], want: Platform): Descriptor | undefined {
  const candidates = manifests.filter((d) => !isAttestation(d));
  return (
    candidates.find((d) => d.platform?.os === want.os && d.platform.architecture === want.architecture && (!want.variant || d.platform.variant === want.variant)) ??
    candidates[0]
  );
}

/** How a driver hands verified content to `inspectImage`. */
export interface ContentSource {
  /** What the messages call the image (e.g. `http://registry:5000/piksel-core:v1.4.0`). */
  describe(reference: string): string;
  /** The manifest a tag or digest names, verified against its digest; AppError NOT_FOUND when unknown. */
  manifest(reference: string, expected?: Descriptor): Promise<{ digest: string; contentType: string | null; bytes: Buffer }>;
  /** A blob named by a descriptor, verified against its digest and size. */
  blob(descriptor: Descriptor): Promise<Buffer>;
}

const label = {
  revision: "org.opencontainers.image.revision",
  created: "org.opencontainers.image.created",
  source: "org.opencontainers.image.source",
} as const;

/** Nested indexes are legal (an index of indexes); real images nest at most once or twice. */
const maxIndexDepth = 4;

/**
 * Manifest digest and config labels of a tag or a digest. For an index, the labels come from the
 * wanted platform's config; the digest stays the index's, since that is what a cluster pulls.
 */
export async function inspectImage(source: ContentSource, reference: string, want: Platform): Promise<ImageInfo> {
  checkReference(reference);
  const top = await source.manifest(reference);
  const what = source.describe(reference);
  const topManifest = parseManifest(top.bytes, top.contentType, what);
  let current = topManifest;
  let platforms: string[] = [];
  let platform: string | null = null;
  const annotations: Record<string, string>[] = [];
  for (let depth = 0; current.kind === "index"; depth++) {
    if (depth >= maxIndexDepth) throw new Error(`${what}: image indexes nested deeper than ${maxIndexDepth} levels`);
    annotations.unshift(current.annotations);
    if (depth === 0) platforms = indexPlatforms(current.manifests);
    const chosen = pickManifest(current.manifests, want);
    if (!chosen) throw new Error(`${what}: image index lists no runnable manifest`);
    if (chosen.platform) platform = platformName(chosen.platform);
    const child = await source.manifest(chosen.digest, chosen);
    current = parseManifest(child.bytes, child.contentType || chosen.mediaType || null, `${what} (${chosen.digest})`);
  }
  annotations.unshift(current.annotations);
  if (current.config.mediaType && ![mediaTypes.ociConfig, mediaTypes.dockerConfig].includes(current.config.mediaType as never)) {
    throw new Error(`${what}: not a container image (config media type ${current.config.mediaType})`);
  }
  const configBytes = await source.blob(current.config);
  let config: { created?: unknown; os?: unknown; architecture?: unknown; variant?: unknown; config?: { Labels?: unknown } | null };
  try {
    config = JSON.parse(configBytes.toString("utf8"));
  } catch {
    throw new Error(`${what}: image config ${current.config.digest} is not JSON`);
  }
  const labels = stringRecord(config.config?.Labels);
  if (typeof config.os === "string" && typeof config.architecture === "string") {
    const own = platformName({ os: config.os, architecture: config.architecture, ...(typeof config.variant === "string" && { variant: config.variant }) });
    platform ??= own;
    if (!platforms.length) platforms = [own];
  }
  // Labels are the contract with CI; manifest annotations (buildx --annotation) fill the gaps.
  const pick = (key: string) => labels[key] ?? annotations.find((a) => a[key])?.[key] ?? null;
  return {
    digest: top.digest,
    mediaType: topManifest.mediaType,
    labels,
    revision: pick(label.revision),
    created: pick(label.created) ?? (typeof config.created === "string" ? config.created : null),
    source: pick(label.source),
    platform,
    platforms,
  };
}
