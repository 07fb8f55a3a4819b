import "server-only";
import type { Port } from "../port";

/** What `put` stores: bytes, text, or the contents of a local file (streamed, never loaded whole). */
export type ObjectBody = Buffer | Uint8Array | string | { file: string };

/** One stored object. */
export interface ObjectInfo {
  key: string;
  size: number;
  modified: Date;
}

/**
 * The environment's data bucket (s3://piksel-<env>-data) or any other bucket or directory the worker
 * writes to. Keys are `/`-separated paths without a leading `/`. A `put` is all or nothing: a reader
 * sees the old object, or the whole new one, never a part (S3 PUT semantics; the directory driver
 * writes a temporary file and renames it).
 */
export interface ObjectsPort extends Port {
  readonly bucket: string;
  /** The URI of a key, as datasets and STAC items refer to it: `s3://bucket/key` or `file:///path`. */
  uri(key: string): string;
  /** Stores an object, replacing any object with that key. */
  put(key: string, body: ObjectBody, options?: { contentType?: string }): Promise<void>;
  /** The object's bytes, or undefined when there is none. */
  get(key: string): Promise<Buffer | undefined>;
  /** Size and modification time, or undefined when there is no such object. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Removes an object; no error when there is none. */
  delete(key: string): Promise<void>;
}

/** A key that cannot name an object: empty, absolute, or with `.`/`..` segments. */
export function assertObjectKey(key: string): void {
  if (key === "" || key.startsWith("/") || key.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new RangeError(`invalid object key ${JSON.stringify(key)}: use a relative /-separated path without empty, . or .. segments`);
  }
}
