import "server-only";
import type { Port } from "../port";

/** What the registry says about one image (manifest + config), identified by its digest. */
export interface ImageInfo {
  /** Digest of the manifest (or image index) the reference resolves to: `sha256:<hex>`. */
  digest: string;
  mediaType: string;
  /** Config labels, e.g. org.opencontainers.image.revision / .created / .source. */
  labels: Record<string, string>;
  /** From the labels (or the config's `created`), for convenience. */
  revision: string | null;
  created: string | null;
  source: string | null;
  /** Platform whose config the labels were read from, e.g. `linux/amd64`. */
  platform: string | null;
  /** Platforms the image offers: those of its index, or the one of a single-platform image. */
  platforms: string[];
}

/** A tag with the digest it points at now. */
export interface TagRef {
  tag: string;
  digest: string;
}

/** Where images live: OCI Distribution API (ECR, GHCR, docker-registry) or an OCI image-layout directory. */
export interface RegistryPort extends Port {
  /** The repository as overlays name it (e.g. `123.dkr.ecr.us-west-2.amazonaws.com/piksel-core`). */
  readonly imageName: string;
  /** Every tag of the repository (all pages). */
  listTags(): Promise<string[]>;
  /**
   * The digest a tag points at now (a digest is returned as is once the registry confirms it exists);
   * AppError NOT_FOUND when unknown, BAD_REQUEST when it is neither a tag nor a digest.
   */
  resolve(tag: string): Promise<string>;
  /** Manifest digest and config labels of a tag or a digest; AppError NOT_FOUND when unknown. */
  inspect(reference: string): Promise<ImageInfo>;
}
