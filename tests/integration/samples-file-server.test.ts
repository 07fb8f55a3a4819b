import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "~/server/logger";
import { parseRanges, startFileServer, type StartedFileServer } from "~/server/embedded/file-server";

let tmp: string;
let root: string;
let server: StartedFileServer;
const content = Buffer.alloc(100_000);
for (let i = 0; i < content.length; i++) content[i] = (i * 7919 + (i >> 8)) & 0xff;
const virtual = Buffer.from('{"made":"in memory"}\n');

/** A request with the path sent exactly as written (fetch would normalise `..` away). */
function raw(pathname: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: pathname, method: init.method ?? "GET", headers: init.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-files-"));
  root = path.join(tmp, "root");
  fs.mkdirSync(path.join(root, "a", "b"), { recursive: true });
  fs.writeFileSync(path.join(root, "a", "b", "data.bin"), content);
  fs.writeFileSync(path.join(root, "empty.tif"), Buffer.alloc(0));
  fs.writeFileSync(path.join(tmp, "secret.txt"), "not for you");
  fs.symlinkSync(path.join(tmp, "secret.txt"), path.join(root, "link.txt"));
  server = await startFileServer({
    root,
    port: 0,
    log: createLogger({ level: "silent" }),
    resolve: async (rel) => (rel === "virtual/item.json" ? { data: virtual, contentType: "application/json", modified: new Date("2024-01-05T10:00:00Z") } : undefined),
  });
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("Range file server", () => {
  const url = () => `${server.url}/a/b/data.bin`;

  it("serves a whole file with Accept-Ranges, Content-Length, ETag and Last-Modified", async () => {
    const res = await fetch(url());
    expect(res.status).toBe(200);
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("content-length")).toBe(String(content.length));
    expect(res.headers.get("etag")).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(new Date(res.headers.get("last-modified")!).getTime()).toBe(Math.floor(fs.statSync(path.join(root, "a/b/data.bin")).mtimeMs / 1000) * 1000);
    expect(Buffer.from(await res.arrayBuffer()).equals(content)).toBe(true);
  });

  it("answers byte ranges with 206 and exactly those bytes", async () => {
    const cases: [string, number, number][] = [
      ["bytes=0-0", 0, 0],
      ["bytes=100-16483", 100, 16483],
      ["bytes=99990-", 99990, 99999],
      ["bytes=-10", 99990, 99999],
      ["bytes=-200000", 0, 99999],
      ["bytes=99000-200000", 99000, 99999],
    ];
    for (const [range, start, end] of cases) {
      const res = await fetch(url(), { headers: { range } });
      expect(res.status, range).toBe(206);
      expect(res.headers.get("content-range"), range).toBe(`bytes ${start}-${end}/${content.length}`);
      expect(res.headers.get("content-length"), range).toBe(String(end - start + 1));
      expect(Buffer.from(await res.arrayBuffer()).equals(content.subarray(start, end + 1)), range).toBe(true);
    }
  });

  it("answers an unsatisfiable range with 416 and the size", async () => {
    for (const range of ["bytes=100000-100010", "bytes=-0", "bytes=200000-"]) {
      const res = await fetch(url(), { headers: { range } });
      expect(res.status, range).toBe(416);
      expect(res.headers.get("content-range"), range).toBe(`bytes */${content.length}`);
      await res.arrayBuffer();
    }
    const empty = await fetch(`${server.url}/empty.tif`, { headers: { range: "bytes=0-10" } });
    expect(empty.status).toBe(416);
  });

  it("answers several ranges with one multipart/byteranges body", async () => {
    const res = await fetch(url(), { headers: { range: "bytes=0-9, 500-519,-5" } });
    expect(res.status).toBe(206);
    const type = res.headers.get("content-type")!;
    const boundary = /^multipart\/byteranges; boundary=(.+)$/.exec(type)![1]!;
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get("content-length")).toBe(String(body.length));
    const parts = body.toString("latin1").split(`--${boundary}`).slice(1, -1);
    expect(parts.map((p) => /Content-Range: (.*)\r\n/.exec(p)![1])).toEqual([`bytes 0-9/${content.length}`, `bytes 500-519/${content.length}`, `bytes 99995-99999/${content.length}`]);
    const payloads = parts.map((p) => Buffer.from(p.slice(p.indexOf("\r\n\r\n") + 4, -2), "latin1"));
    expect(payloads[0]!.equals(content.subarray(0, 10))).toBe(true);
    expect(payloads[1]!.equals(content.subarray(500, 520))).toBe(true);
    expect(payloads[2]!.equals(content.subarray(99995))).toBe(true);
    expect(body.toString("latin1").endsWith(`--${boundary}--\r\n`)).toBe(true);
  });

  it("ignores a Range it does not serve (bad syntax, other units, too many ranges) and sends the file", async () => {
    const many = `bytes=${Array.from({ length: 65 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(",")}`;
    for (const range of ["bytes=abc", "items=0-5", "bytes=10-5", "bytes=0-1,x", many]) {
      const res = await fetch(url(), { headers: { range } });
      expect(res.status, range).toBe(200);
      expect((await res.arrayBuffer()).byteLength, range).toBe(content.length);
    }
  });

  it("answers HEAD with the headers of GET and no body", async () => {
    const head = await raw("/files/a/b/data.bin", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe(String(content.length));
    expect(head.body.length).toBe(0);
    const ranged = await raw("/files/a/b/data.bin", { method: "HEAD", headers: { range: "bytes=10-19" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers["content-length"]).toBe("10");
    expect(ranged.headers["content-range"]).toBe(`bytes 10-19/${content.length}`);
    expect(ranged.body.length).toBe(0);
  });

  it("honours If-None-Match and If-Range", async () => {
    const etag = (await fetch(url(), { method: "HEAD" })).headers.get("etag")!;
    expect((await fetch(url(), { headers: { "if-none-match": etag } })).status).toBe(304);
    const same = await fetch(url(), { headers: { range: "bytes=0-9", "if-range": etag } });
    expect(same.status).toBe(206);
    await same.arrayBuffer();
    const changed = await fetch(url(), { headers: { range: "bytes=0-9", "if-range": '"other"' } });
    expect(changed.status).toBe(200);
    expect((await changed.arrayBuffer()).byteLength).toBe(content.length);
  });

  it("refuses paths that leave the served directory, however they are spelled", async () => {
    for (const p of ["/files/../secret.txt", "/files/a/../../secret.txt", "/files/%2e%2e/secret.txt", "/files/a/%2E%2E/%2e%2e/secret.txt", "/files/a%2f..%2f..%2fsecret.txt", "/files/..%5csecret.txt", "/files/a/./b/data.bin", "/files/%00"]) {
      const res = await raw(p);
      expect(res.status, p).toBe(403);
      expect(res.body.toString(), p).not.toContain("not for you");
    }
    // A symbolic link out of the root is not followed; a missing file is 404.
    const link = await raw("/files/link.txt");
    expect(link.status).toBe(404);
    expect(link.body.toString()).not.toContain("not for you");
    expect((await raw("/files/a/b/missing.bin")).status).toBe(404);
    expect((await raw("/files/a/b")).status).toBe(404);
    expect((await raw("/elsewhere")).status).toBe(404);
  });

  it("only reads: other methods get 405", async () => {
    const res = await raw("/files/a/b/data.bin", { method: "PUT" });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe("GET, HEAD");
  });

  it("serves files the resolver makes in memory, ranges included", async () => {
    const res = await fetch(`${server.url}/virtual/item.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.text()).toBe(virtual.toString());
    const part = await fetch(`${server.url}/virtual/item.json`, { headers: { range: "bytes=2-5" } });
    expect(part.status).toBe(206);
    expect(await part.text()).toBe("made");
  });

  it("counts the body bytes and ranges it sends, per file and request", async () => {
    server.resetStats();
    expect(server.stats()).toEqual({ requests: 0, bytes: 0, files: {}, log: [] });
    for (const range of ["bytes=0-99", "bytes=1000-1999", "bytes=-50"]) await (await fetch(url(), { headers: { range } })).arrayBuffer();
    await (await fetch(url(), { method: "HEAD" })).arrayBuffer();
    await (await fetch(`${server.url}/virtual/item.json`)).arrayBuffer();
    const stats = server.stats();
    expect(stats.requests).toBe(5);
    expect(stats.files["a/b/data.bin"]).toEqual({ requests: 4, bytes: 100 + 1000 + 50, ranges: [[0, 99], [1000, 1999], [99950, 99999]] });
    expect(stats.files["virtual/item.json"]).toEqual({ requests: 1, bytes: virtual.length, ranges: [] });
    expect(stats.bytes).toBe(1150 + virtual.length);
    expect(stats.log.map((r) => r.status)).toEqual([206, 206, 206, 200, 200]);
    expect(stats.log[3]).toMatchObject({ method: "HEAD", bytes: 0 });
    server.resetStats();
    expect(server.stats().requests).toBe(0);

    // A multipart answer records each range and counts its whole body.
    const multi = await fetch(url(), { headers: { range: "bytes=0-9,20-29" } });
    const length = (await multi.arrayBuffer()).byteLength;
    expect(server.stats().files["a/b/data.bin"]).toEqual({ requests: 1, bytes: length, ranges: [[0, 9], [20, 29]] });
    expect(length).toBeGreaterThan(20);
  });
});

describe("parseRanges", () => {
  it("follows RFC 9110", () => {
    expect(parseRanges("bytes=0-499", 1000)).toEqual([{ start: 0, end: 499 }]);
    expect(parseRanges("bytes=500-", 1000)).toEqual([{ start: 500, end: 999 }]);
    expect(parseRanges("bytes=-500", 1000)).toEqual([{ start: 500, end: 999 }]);
    expect(parseRanges("bytes=900-2000", 1000)).toEqual([{ start: 900, end: 999 }]);
    expect(parseRanges("bytes=0-1, 3-4", 1000)).toEqual([{ start: 0, end: 1 }, { start: 3, end: 4 }]);
    // Unsatisfiable parts are dropped while another part is satisfiable.
    expect(parseRanges("bytes=0-1,5000-6000", 1000)).toEqual([{ start: 0, end: 1 }]);
    expect(parseRanges("bytes=1000-", 1000)).toBe("unsatisfiable");
    expect(parseRanges("bytes=-0", 1000)).toBe("unsatisfiable");
    expect(parseRanges("bytes=5-1", 1000)).toBe("ignore");
    expect(parseRanges("bytes=-", 1000)).toBe("ignore");
    expect(parseRanges("lines=1-2", 1000)).toBe("ignore");
  });
});
