import "server-only";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { withTimeout } from "../port";
import { assertObjectKey, assertRangeRequest, UnsatisfiableRangeError, type ObjectInfo, type ObjectsPort, type RangeRequest } from "./index";

// A single PUT takes up to 5 GiB; the worker's largest object (a float32 band of a 96 km tile) is a
// few hundred MiB, so multipart upload (and @aws-sdk/lib-storage) is not needed.
const MAX_SINGLE_PUT = 5 * 1024 ** 3;
// Attempts of a file upload: the SDK cannot replay a consumed stream, so a failed attempt is retried
// here with a fresh one.
const FILE_PUT_ATTEMPTS = 3;

const isMissing = (err: unknown) =>
  err instanceof NoSuchKey || err instanceof NotFound || (err instanceof S3ServiceException && (err.$metadata.httpStatusCode === 404 || err.name === "NoSuchKey" || err.name === "NotFound"));

// SigV4 presigned URLs live at most 7 days.
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

const rangeHeader = (r: RangeRequest) => ("suffix" in r ? `bytes=-${r.suffix}` : `bytes=${r.start}-${r.end ?? ""}`);

/** `bytes 0-99/1234` (Content-Range of a 206) -> first, last, total. */
function parseContentRange(value: string | undefined): { start: number; end: number; size: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value ?? "");
  return m ? { start: Number(m[1]), end: Number(m[2]), size: Number(m[3]) } : undefined;
}

/** Amazon S3 or any S3-compatible server (credentials from the default AWS provider chain). */
export function createS3Objects(opts: { bucket: string; region: string; endpoint?: string; forcePathStyle: boolean }): ObjectsPort {
  const client = new S3Client({
    region: opts.region,
    endpoint: opts.endpoint,
    forcePathStyle: opts.forcePathStyle,
    // Some S3-compatible servers corrupt streamed uploads with the newer default checksums (REFERENCE.md A).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const Bucket = opts.bucket;
  const key = (k: string) => {
    assertObjectKey(k);
    return k;
  };
  const head = async (k: string): Promise<ObjectInfo | undefined> => {
    try {
      const r = await client.send(new HeadObjectCommand({ Bucket, Key: key(k) }));
      return { key: k, size: r.ContentLength ?? 0, modified: r.LastModified ?? new Date(0), ...(r.ETag && { etag: r.ETag }) };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  };
  return {
    driver: "s3",
    bucket: opts.bucket,
    endpoint: `s3://${opts.bucket}${opts.endpoint ? ` at ${opts.endpoint}` : ""}`,
    async check() {
      await withTimeout(client.send(new HeadBucketCommand({ Bucket })), 5000, `bucket ${opts.bucket}`);
      return `bucket ${opts.bucket} reachable`;
    },
    uri: (k) => `s3://${opts.bucket}/${key(k)}`,
    async put(k, body, options = {}) {
      const Key = key(k);
      const ContentType = options.contentType;
      if (typeof body === "object" && "file" in body) {
        const { size } = await stat(body.file);
        if (size > MAX_SINGLE_PUT) throw new RangeError(`${body.file} is ${size} bytes, more than a single S3 PUT takes (5 GiB)`);
        for (let attempt = 1; ; attempt++) {
          try {
            // ContentLength lets the SDK send the stream as a plain body rather than chunked.
            await client.send(new PutObjectCommand({ Bucket, Key, Body: createReadStream(body.file), ContentLength: size, ContentType }));
            return;
          } catch (err) {
            if (attempt >= FILE_PUT_ATTEMPTS || (err instanceof S3ServiceException && (err.$metadata.httpStatusCode ?? 500) < 500)) throw err;
          }
        }
      }
      const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
      await client.send(new PutObjectCommand({ Bucket, Key, Body: bytes, ContentLength: bytes.byteLength, ContentType }));
    },
    async get(k) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket, Key: key(k) }));
        if (!r.Body) return Buffer.alloc(0);
        return Buffer.from(await r.Body.transformToByteArray());
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async read(k, range) {
      const Key = key(k);
      if (range) assertRangeRequest(range);
      try {
        const r = await client.send(new GetObjectCommand({ Bucket, Key, Range: range ? rangeHeader(range) : undefined }));
        const body = r.Body?.transformToWebStream() ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
        const modified = r.LastModified ?? new Date(0);
        const part = range ? parseContentRange(r.ContentRange) : undefined;
        // A server may answer a range with the whole object (200, no Content-Range), as HTTP allows.
        const etag = r.ETag ? { etag: r.ETag } : {};
        if (part) return { info: { key: k, size: part.size, modified, ...etag }, range: { start: part.start, end: part.end }, body };
        return { info: { key: k, size: r.ContentLength ?? 0, modified, ...etag }, body };
      } catch (err) {
        if (isMissing(err)) return undefined;
        if (err instanceof S3ServiceException && (err.$metadata.httpStatusCode === 416 || err.name === "InvalidRange")) {
          const info = await head(k);
          if (!info) return undefined;
          throw new UnsatisfiableRangeError(k, info.size);
        }
        throw err;
      }
    },
    async presignGet(k, seconds) {
      const Key = key(k);
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_PRESIGN_SECONDS) throw new RangeError(`presigned URLs last 1 to ${MAX_PRESIGN_SECONDS} seconds, not ${seconds}`);
      return getSignedUrl(client, new GetObjectCommand({ Bucket, Key }), { expiresIn: seconds });
    },
    head,
    async list(prefix) {
      const out: ObjectInfo[] = [];
      let ContinuationToken: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, ContinuationToken }));
        for (const o of r.Contents ?? []) {
          if (o.Key !== undefined) out.push({ key: o.Key, size: o.Size ?? 0, modified: o.LastModified ?? new Date(0), ...(o.ETag && { etag: o.ETag }) });
        }
        ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (ContinuationToken);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    async delete(k) {
      await client.send(new DeleteObjectCommand({ Bucket, Key: key(k) }));
    },
  };
}
