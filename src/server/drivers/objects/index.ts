import "server-only";
import type { Port } from "../port";

/** What `put` stores: bytes, text, or the contents of a local file (streamed, never loaded whole). */
export type ObjectBody = Buffer | Uint8Array | string | { file: string };

/** One stored object. */
export interface ObjectInfo {
  key: string;
  size: number;
  modified: Date;
  /**
   * The store's entity tag of the content, when it keeps one (S3: changes with every new content,
   * even within the second that `modified` resolves); absent on the directory driver.
   */
  etag?: string;
}

/**
 * Bytes of an object as HTTP's Range asks for them: from `start` to `end` inclusive (to the last byte
 * when `end` is absent or beyond it), or the last `suffix` bytes.
 */
export type RangeRequest = { start: number; end?: number } | { suffix: number };

/** What `read` returns: the object's size and time, the bytes sent (inclusive, when a range was asked) and the body. */
export interface ObjectRead {
  info: ObjectInfo;
  /** The bytes the body holds, first and last inclusive; absent for the whole object. */
  range?: { start: number; end: number };
  body: ReadableStream<Uint8Array>;
}

/** A range that starts at or beyond the end of the object (HTTP 416); `size` is the object's size. */
export class UnsatisfiableRangeError extends Error {
  constructor(
    readonly key: string,
    readonly size: number,
  ) {
    super(`the range asked for starts beyond the end of ${key} (${size} bytes)`);
    this.name = "UnsatisfiableRangeError";
  }
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
  /**
   * The object's bytes as a stream, whole or one range, or undefined when there is none. The range is
   * resolved against the object actually opened, so its size and the bytes always agree. Throws
   * UnsatisfiableRangeError for a range that starts beyond the end.
   */
  read(key: string, range?: RangeRequest): Promise<ObjectRead | undefined>;
  /**
   * A URL from which anyone holding it may GET the object (ranges included) for `seconds`: a
   * presigned URL on S3. Undefined on drivers that cannot hand out URLs (the directory driver: its
   * objects are streamed with `read`).
   */
  presignGet(key: string, seconds: number): Promise<string | undefined>;
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

/** Checks a range request: whole numbers, `end` not before `start`, a positive suffix. */
export function assertRangeRequest(range: RangeRequest): void {
  const whole = (n: number | undefined) => n === undefined || (Number.isSafeInteger(n) && n >= 0);
  if ("suffix" in range ? !(whole(range.suffix) && range.suffix > 0) : !(whole(range.start) && whole(range.end) && (range.end === undefined || range.end >= range.start))) {
    throw new RangeError(`invalid byte range ${JSON.stringify(range)}: expected whole numbers with start <= end, or a suffix length > 0`);
  }
}

/** The inclusive byte range a request selects in an object of `size` bytes, or undefined when it cannot be satisfied. */
export function resolveRange(range: RangeRequest, size: number): { start: number; end: number } | undefined {
  if ("suffix" in range) return size === 0 ? undefined : { start: Math.max(0, size - range.suffix), end: size - 1 };
  if (range.start >= size) return undefined;
  return { start: range.start, end: Math.min(size - 1, range.end ?? size - 1) };
}
