import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

/**
 * A static file server with HTTP Range support, as S3 and the Earth Search bucket answer GDAL's
 * `/vsicurl/`: GET and HEAD, `Range: bytes=a-b`, `a-`, `-n` and several ranges (multipart/byteranges),
 * 206 / 416, `Accept-Ranges: bytes`. Every request is recorded with the body bytes it was sent, so a
 * test can count what a read cost. Failures can be injected (a 503 for the next n requests of a path),
 * and requests can be stalled (never answered while the server runs, as a store that hangs).
 */

export interface RecordedRequest {
  method: string;
  /** URL path, e.g. `/scenes/a/B04.tif`. */
  path: string;
  range?: string;
  status: number;
  /** Body bytes sent. */
  bytes: number;
}

export interface RangeServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`. */
  url: string;
  requests: RecordedRequest[];
  /** Forgets recorded requests. */
  reset(): void;
  /** Body bytes sent for paths matching (all when omitted). */
  bytes(match?: (path: string) => boolean): number;
  /** The next `times` requests whose path matches get `status` (default 503) and no body; `Infinity` for always. */
  fail(match: (path: string) => boolean, times: number, status?: number): void;
  /** Requests whose path matches get no answer (until `unstall()` or `close()`); the returned promise resolves at the first such request. */
  stall(match: (path: string) => boolean): Promise<void>;
  /** Answers requests normally again (the stalled ones stay unanswered until close). */
  unstall(): void;
  close(): Promise<void>;
}

interface Failure {
  match: (path: string) => boolean;
  left: number;
  status: number;
}

/** Parses a Range header against a size; undefined = not satisfiable, [] = no (valid) header. */
function parseRanges(header: string | undefined, size: number): [number, number][] | undefined {
  if (!header) return [];
  const m = /^bytes=(.+)$/.exec(header.trim());
  if (!m) return [];
  const out: [number, number][] = [];
  for (const part of m[1]!.split(",")) {
    const r = /^\s*(\d*)-(\d*)\s*$/.exec(part);
    if (!r) return [];
    const [, a, b] = r as unknown as [string, string, string];
    let start: number;
    let end: number;
    if (a === "") {
      if (b === "") return [];
      start = Math.max(0, size - Number(b));
      end = size - 1;
    } else {
      start = Number(a);
      end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
    }
    if (start <= end && start < size) out.push([start, end]);
  }
  return out.length > 0 ? out : undefined;
}

/** Serves `root` on 127.0.0.1 (a free port). */
export async function startRangeServer(root: string): Promise<RangeServer> {
  const requests: RecordedRequest[] = [];
  const failures: Failure[] = [];
  let stalled: { match: (path: string) => boolean; hit: () => void } | undefined;
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const record: RecordedRequest = { method: req.method ?? "GET", path: urlPath, ...(req.headers.range && { range: req.headers.range }), status: 0, bytes: 0 };
    requests.push(record);
    const finish = (status: number, headers: http.OutgoingHttpHeaders, body?: Buffer) => {
      record.status = status;
      record.bytes = req.method === "HEAD" || !body ? 0 : body.length;
      res.writeHead(status, headers);
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (stalled?.match(urlPath)) {
      stalled.hit();
      return;
    }
    const failure = failures.find((f) => f.left > 0 && f.match(urlPath));
    if (failure) {
      failure.left--;
      return finish(failure.status, { "content-length": 0 });
    }
    if (req.method !== "GET" && req.method !== "HEAD") return finish(405, { allow: "GET, HEAD", "content-length": 0 });
    const file = path.join(root, ...urlPath.split("/").filter((s) => s !== "" && s !== "." && s !== ".."));
    let size: number;
    try {
      const stat = fs.statSync(file);
      if (!stat.isFile()) return finish(404, { "content-length": 0 });
      size = stat.size;
    } catch {
      return finish(404, { "content-length": 0 });
    }
    // Only the requested bytes are read, as a store would serve them.
    const slice = (start: number, end: number) => {
      const out = Buffer.alloc(end - start + 1);
      const fd = fs.openSync(file, "r");
      try {
        fs.readSync(fd, out, 0, out.length, start);
      } finally {
        fs.closeSync(fd);
      }
      return out;
    };
    const ranges = parseRanges(req.headers.range, size);
    const common = { "accept-ranges": "bytes", "last-modified": new Date(0).toUTCString() };
    if (ranges === undefined) return finish(416, { ...common, "content-range": `bytes */${size}`, "content-length": 0 });
    if (ranges.length === 0) return finish(200, { ...common, "content-type": "image/tiff", "content-length": size }, req.method === "HEAD" ? undefined : fs.readFileSync(file));
    if (ranges.length === 1) {
      const [start, end] = ranges[0]!;
      const body = slice(start, end);
      return finish(206, { ...common, "content-type": "image/tiff", "content-range": `bytes ${start}-${end}/${size}`, "content-length": body.length }, body);
    }
    const boundary = "piksel-range-boundary";
    const parts = ranges.flatMap(([start, end]) => [
      Buffer.from(`--${boundary}\r\nContent-Type: image/tiff\r\nContent-Range: bytes ${start}-${end}/${size}\r\n\r\n`),
      slice(start, end),
      Buffer.from("\r\n"),
    ]);
    const body = Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);
    return finish(206, { ...common, "content-type": `multipart/byteranges; boundary=${boundary}`, "content-length": body.length }, body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    reset: () => void requests.splice(0),
    bytes: (match) => requests.filter((r) => !match || match(r.path)).reduce((n, r) => n + r.bytes, 0),
    fail: (match, times, status = 503) => void failures.push({ match, left: times, status }),
    stall: (match) => new Promise<void>((hit) => (stalled = { match, hit })),
    unstall: () => void (stalled = undefined),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
