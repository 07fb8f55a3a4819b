import "server-only";
import { assertObjectKey, UnsatisfiableRangeError, type ObjectInfo } from "~/server/drivers/objects";
import { AppError } from "~/server/errors";
import { OUTPUT_PREFIX } from "../tile-params";
import { matchesIfNoneMatch, parseRangeHeader } from "./http";
import { environmentObjects, type OutputsContext } from "./tiles.service";

/**
 * `GET|HEAD /api/outputs/<environment>/files/<key…>`: an output file of the environment's bucket.
 * On S3, a redirect to a short-lived presigned URL (the bytes never pass through the console); on
 * the directory driver, the file itself with single-range support, so that GDAL's /vsicurl/ and
 * QGIS read a COG in place as they would from S3.
 */

/** How long a download's presigned URL works: long enough to start a large download or a QGIS session. */
export const DOWNLOAD_URL_SECONDS = 900;

/** Content-Type of an output file, by its name. */
export function contentTypeOf(key: string): string {
  if (/\.tiff?$/i.test(key)) return "image/tiff; application=geotiff; profile=cloud-optimized";
  if (key.endsWith(".stac-item.json")) return "application/geo+json";
  if (key.endsWith(".json")) return "application/json";
  if (/\.ya?ml$/i.test(key)) return "application/yaml";
  return "application/octet-stream";
}

/** A strong entity tag: the store's when it has one, else size and modification time. */
export function entityTag(info: ObjectInfo): string {
  return info.etag ?? `"${info.size.toString(16)}-${info.modified.getTime().toString(16)}"`;
}

/** The key from the route's catch-all segments, checked: a valid key, under the outputs prefix. */
export function outputKey(segments: readonly string[]): string {
  const key = segments.join("/");
  try {
    assertObjectKey(key);
  } catch (err) {
    if (err instanceof RangeError) throw new AppError("BAD_REQUEST", `${err.message}, e.g. ${OUTPUT_PREFIX}/gm_s2_annual/1-0-0/x304/y068/2024--P1Y/<file>`);
    throw err;
  }
  if (!key.startsWith(`${OUTPUT_PREFIX}/`)) throw new AppError("FORBIDDEN", `only outputs can be downloaded here (keys under ${OUTPUT_PREFIX}/), not "${key}"`);
  return key;
}

function fileHeaders(key: string, info: ObjectInfo): Record<string, string> {
  const name = key.slice(key.lastIndexOf("/") + 1);
  return {
    "content-type": contentTypeOf(key),
    "accept-ranges": "bytes",
    etag: entityTag(info),
    "last-modified": info.modified.toUTCString(),
    // Revalidated on every use: a recomputed output keeps its key.
    "cache-control": "private, no-cache",
    "content-disposition": `inline; filename="${name.replace(/["\\]/g, "_")}"`,
  };
}

/** Answers a GET or HEAD of an output file. */
export async function outputFileResponse(ctx: OutputsContext, params: { environment: string; key: readonly string[] }, req: Request): Promise<Response> {
  const objects = environmentObjects(ctx, params.environment);
  const key = outputKey(params.key);
  const notFound = () => new AppError("NOT_FOUND", `no output ${key} in ${params.environment}'s bucket ${objects.bucket}; list the task's outputs for the keys that exist`);

  const url = await objects.presignGet(key, DOWNLOAD_URL_SECONDS);
  if (url) {
    // Checked first so that a wrong key gets this console's 404 rather than the store's XML error.
    if (!(await objects.head(key))) throw notFound();
    return new Response(null, { status: 302, headers: { location: url, "cache-control": "no-store" } });
  }

  if (req.method === "HEAD") {
    const info = await objects.head(key);
    if (!info) throw notFound();
    return new Response(null, { headers: { ...fileHeaders(key, info), "content-length": String(info.size) } });
  }

  let range = parseRangeHeader(req.headers.get("range"));
  // If-Range: the range only applies to the version the client already holds part of; else all of it.
  const ifRange = req.headers.get("if-range");
  if (range && ifRange !== null) {
    const info = await objects.head(key);
    if (!info) throw notFound();
    if (ifRange.trim() !== entityTag(info)) range = undefined;
  }
  let read;
  try {
    read = await objects.read(key, range);
  } catch (err) {
    if (err instanceof UnsatisfiableRangeError) {
      return new Response(null, { status: 416, headers: { "content-range": `bytes */${err.size}`, "accept-ranges": "bytes", "cache-control": "no-store" } });
    }
    throw err;
  }
  if (!read) throw notFound();
  const headers = fileHeaders(key, read.info);
  if (matchesIfNoneMatch(req.headers.get("if-none-match"), headers.etag!)) {
    await read.body.cancel();
    return new Response(null, { status: 304, headers });
  }
  if (read.range) {
    const { start, end } = read.range;
    return new Response(read.body, {
      status: 206,
      headers: { ...headers, "content-range": `bytes ${start}-${end}/${read.info.size}`, "content-length": String(end - start + 1) },
    });
  }
  return new Response(read.body, { headers: { ...headers, "content-length": String(read.info.size) } });
}
