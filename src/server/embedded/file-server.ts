import "server-only";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Logger } from "../logger";

/**
 * A static file server with HTTP byte ranges (one, or several as multipart/byteranges), standing in for the public Sentinel-2 COG bucket on
 * one machine: GDAL (and geotiff.js) read COGs from it by range exactly as from S3 over https. It
 * counts the body bytes it sends per file and request, which is how the worker's promise of
 * reading little more than the COG blocks a chunk touches is measured.
 */

/** Something to serve: a file on disk, or bytes made in memory. */
export type FileSource = { path: string } | { data: Buffer; contentType: string; modified: Date };

/** One answered request, as the byte counter saw it. */
export interface ServedRequest {
  /** Path below the served root, e.g. `sentinel-s2-l2a-cogs/48/M/YT/2024/1/<id>/B04.tif`. */
  path: string;
  method: string;
  status: number;
  /** First and last byte of each range sent (inclusive); absent for a whole-file answer. */
  ranges?: [number, number][];
  /** Body bytes written (multipart framing included: what crossed the wire). */
  bytes: number;
}

export interface FileServerStats {
  requests: number;
  /** Body bytes sent over all requests. */
  bytes: number;
  /** Per path: requests, body bytes and the ranges sent, in order. */
  files: Record<string, { requests: number; bytes: number; ranges: [number, number][] }>;
  /** The last requests (at most 10 000), oldest first. */
  log: ServedRequest[];
}

export interface FileHandlerOptions {
  /** Directory served; nothing outside it (after resolving symbolic links) is ever read. */
  root: string;
  /** URL path the files are served under; default `/files`. */
  prefix?: string;
  /**
   * Consulted before the directory: may make a file on demand (the sample archive writes a scene on
   * its first read) or serve bytes from memory. Undefined falls back to the directory.
   */
  resolve?: (relPath: string) => Promise<FileSource | undefined>;
  log?: Logger;
}

export interface FileHandler {
  /** Answers the request when its path is under the prefix; returns false (and does nothing) otherwise. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  stats(): FileServerStats;
  resetStats(): void;
}

const LOG_LIMIT = 10_000;

const CONTENT_TYPES: Record<string, string> = {
  ".tif": "image/tiff; application=geotiff; profile=cloud-optimized",
  ".tiff": "image/tiff",
  ".json": "application/json",
  ".xml": "application/xml",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".png": "image/png",
};

type ByteRange = { start: number; end: number };

/** Most ranges answered in one multipart response; a longer list is ignored (RFC 9110 14.2 allows it). */
const MAX_RANGES = 64;

/**
 * RFC 9110 14.2: `bytes=first-last`, `first-` and `-suffix` ranges, one or several. Returns
 * `"ignore"` for a header the server should ignore (invalid syntax, another unit, too many ranges:
 * answered with the whole file, as the RFC allows) and `"unsatisfiable"` when no range meets the file.
 */
export function parseRanges(header: string, size: number): ByteRange[] | "ignore" | "unsatisfiable" {
  const m = /^bytes=(.+)$/i.exec(header.trim());
  if (!m) return "ignore";
  const specs = (m[1] as string).split(",");
  if (specs.length > MAX_RANGES) return "ignore";
  const out: ByteRange[] = [];
  for (const spec of specs) {
    const r = /^\s*(\d*)\s*-\s*(\d*)\s*$/.exec(spec);
    if (!r || (r[1] === "" && r[2] === "")) return "ignore";
    if (r[1] === "") {
      const suffix = Number(r[2]);
      if (suffix > 0 && size > 0) out.push({ start: Math.max(0, size - suffix), end: size - 1 });
      continue;
    }
    const start = Number(r[1]);
    if (r[2] !== "" && Number(r[2]) < start) return "ignore";
    if (start < size) out.push({ start, end: r[2] === "" ? size - 1 : Math.min(Number(r[2]), size - 1) });
  }
  return out.length > 0 ? out : "unsatisfiable";
}

/**
 * The path below the root that a request path names, or null when it tries to leave the root:
 * `..`, `.`, encoded slashes or backslashes, NUL. Checked on the raw request path, before any URL
 * normalisation could hide a `..`.
 */
export function relativeRequestPath(rawPath: string, prefix: string): string | null | undefined {
  const pathname = rawPath.split("?")[0] as string;
  if (pathname !== prefix && !pathname.startsWith(`${prefix}/`)) return undefined;
  const segments: string[] = [];
  for (const raw of pathname.slice(prefix.length).split("/")) {
    if (raw === "") continue;
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (seg === "." || seg === ".." || seg.includes("/") || seg.includes("\\") || seg.includes("\0")) return null;
    segments.push(seg);
  }
  return segments.join("/");
}

const httpDate = (d: Date) => d.toUTCString();

export function createFileHandler(opts: FileHandlerOptions): FileHandler {
  const prefix = (opts.prefix ?? "/files").replace(/\/+$/, "");
  const root = path.resolve(opts.root);
  let realRoot: string | undefined;
  let stats: FileServerStats = { requests: 0, bytes: 0, files: {}, log: [] };

  const record = (entry: ServedRequest) => {
    stats.requests++;
    stats.bytes += entry.bytes;
    const file = (stats.files[entry.path] ??= { requests: 0, bytes: 0, ranges: [] });
    file.requests++;
    file.bytes += entry.bytes;
    if (entry.ranges) file.ranges.push(...entry.ranges);
    stats.log.push(entry);
    if (stats.log.length > LOG_LIMIT) stats.log.splice(0, stats.log.length - LOG_LIMIT);
  };

  const sendError = (res: http.ServerResponse, status: number, message: string) => {
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(message) + 1 });
    res.end(`${message}\n`);
  };

  /** The file on disk for a relative path, or undefined when absent, not a file, or outside the root. */
  const onDisk = async (rel: string): Promise<{ path: string; size: number; mtime: Date } | undefined> => {
    realRoot ??= await fs.promises.realpath(root).catch(() => root);
    const full = path.join(root, rel);
    const real = await fs.promises.realpath(full).catch(() => undefined);
    // A symbolic link may point anywhere: only what resolves inside the root is served.
    if (!real || (real !== realRoot && !real.startsWith(`${realRoot}${path.sep}`))) return undefined;
    const st = await fs.promises.stat(real).catch(() => undefined);
    return st?.isFile() ? { path: real, size: st.size, mtime: st.mtime } : undefined;
  };

  async function serve(req: http.IncomingMessage, res: http.ServerResponse, rel: string): Promise<void> {
    const method = req.method ?? "GET";
    if (method !== "GET" && method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      sendError(res, 405, `${method} is not allowed; this server only reads files.`);
      return;
    }
    const source = opts.resolve ? await opts.resolve(rel) : undefined;
    let size: number;
    let modified: Date;
    let etag: string;
    let contentType: string;
    let read: (range?: ByteRange) => NodeJS.ReadableStream | Buffer;
    if (source && "data" in source) {
      const data = source.data;
      size = data.length;
      modified = source.modified;
      etag = `"${createHash("sha1").update(data).digest("hex").slice(0, 20)}"`;
      contentType = source.contentType;
      read = (r) => (r ? data.subarray(r.start, r.end + 1) : data);
    } else {
      const file = source ? await onDisk(path.relative(root, path.resolve(root, source.path))) : await onDisk(rel);
      if (!file) {
        sendError(res, 404, `No file ${rel}`);
        return;
      }
      size = file.size;
      modified = file.mtime;
      // As nginx: size and modification time, so a rewritten file gets a new tag.
      etag = `"${file.mtime.getTime().toString(16)}-${file.size.toString(16)}"`;
      contentType = CONTENT_TYPES[path.extname(file.path).toLowerCase()] ?? "application/octet-stream";
      read = (r) => fs.createReadStream(file.path, r ? { start: r.start, end: r.end } : {});
    }
    const readRange = async (r: ByteRange): Promise<Buffer> => {
      const body = read(r);
      if (Buffer.isBuffer(body)) return body;
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    const headers: http.OutgoingHttpHeaders = {
      "accept-ranges": "bytes",
      etag,
      "last-modified": httpDate(modified),
      "content-type": contentType,
    };
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, headers);
      res.end();
      record({ path: rel, method, status: 304, bytes: 0 });
      return;
    }
    let ranges: ByteRange[] | undefined;
    const rangeHeader = req.headers.range;
    const ifRange = req.headers["if-range"];
    // If-Range: the range only applies to the representation the client already holds part of.
    const rangeApplies = rangeHeader !== undefined && (ifRange === undefined || ifRange === etag || ifRange === httpDate(modified));
    if (rangeApplies) {
      const parsed = parseRanges(rangeHeader, size);
      if (parsed === "unsatisfiable") {
        res.writeHead(416, { ...headers, "content-range": `bytes */${size}`, "content-type": "text/plain; charset=utf-8", "content-length": 0 });
        res.end();
        record({ path: rel, method, status: 416, bytes: 0 });
        return;
      }
      if (parsed !== "ignore") ranges = parsed;
    }

    if (ranges && ranges.length > 1) {
      // Several ranges: one multipart/byteranges body (GDAL asks so when told to merge block reads).
      const boundary = `piksel-${etag.replace(/\W/g, "").slice(0, 16)}`;
      const parts: Buffer[] = [];
      for (const r of ranges) {
        const data = await readRange(r);
        parts.push(Buffer.from(`--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Range: bytes ${r.start}-${r.end}/${size}\r\n\r\n`), data, Buffer.from("\r\n"));
      }
      parts.push(Buffer.from(`--${boundary}--\r\n`));
      const body = Buffer.concat(parts);
      res.writeHead(206, { ...headers, "content-type": `multipart/byteranges; boundary=${boundary}`, "content-length": body.length });
      const entry: ServedRequest = { path: rel, method, status: 206, bytes: 0, ranges: ranges.map((r) => [r.start, r.end] as [number, number]) };
      if (method === "HEAD") res.end();
      else {
        res.end(body);
        entry.bytes = body.length;
      }
      record(entry);
      return;
    }

    const range = ranges?.[0];
    const length = range ? range.end - range.start + 1 : size;
    res.writeHead(range ? 206 : 200, { ...headers, "content-length": length, ...(range && { "content-range": `bytes ${range.start}-${range.end}/${size}` }) });
    const entry: ServedRequest = { path: rel, method, status: range ? 206 : 200, bytes: 0, ...(range && { ranges: [[range.start, range.end] as [number, number]] }) };
    if (method === "HEAD" || length === 0) {
      res.end();
      record(entry);
      return;
    }
    const body = read(range);
    if (Buffer.isBuffer(body)) {
      res.end(body);
      entry.bytes = body.length;
      record(entry);
      return;
    }
    await new Promise<void>((resolve) => {
      body.on("data", (chunk: Buffer) => {
        entry.bytes += chunk.length;
      });
      body.on("error", (err) => {
        opts.log?.error({ err, path: rel }, "reading a served file failed");
        res.destroy(err);
        resolve();
      });
      res.on("close", () => {
        record(entry);
        resolve();
      });
      body.pipe(res);
    });
  }

  return {
    handle(req, res) {
      const rel = relativeRequestPath(req.url ?? "/", prefix);
      if (rel === undefined) return false;
      if (rel === null) {
        sendError(res, 403, "Refused: the path leaves the served directory.");
        return true;
      }
      serve(req, res, rel).catch((err: unknown) => {
        opts.log?.error({ err, path: rel }, "serving a file failed");
        if (!res.headersSent) sendError(res, 500, `Serving ${rel} failed: ${err instanceof Error ? err.message : String(err)}`);
        else res.destroy();
      });
      return true;
    },
    stats: () => structuredClone(stats),
    resetStats: () => {
      stats = { requests: 0, bytes: 0, files: {}, log: [] };
    },
  };
}

export interface StartedFileServer {
  /** URL of the served root, e.g. `http://127.0.0.1:8000/files`. */
  url: string;
  stats(): FileServerStats;
  resetStats(): void;
  close(): Promise<void>;
}

/** A file server on its own port (the local STAC API mounts the same handler beside its routes). */
export async function startFileServer(opts: FileHandlerOptions & { port: number; host?: string; log: Logger }): Promise<StartedFileServer> {
  const host = opts.host ?? "127.0.0.1";
  const handler = createFileHandler(opts);
  const server = http.createServer((req, res) => {
    if (!handler.handle(req, res)) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end(`Files are served under ${opts.prefix ?? "/files"}/\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}${(opts.prefix ?? "/files").replace(/\/+$/, "")}`,
    stats: handler.stats,
    resetStats: handler.resetStats,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
