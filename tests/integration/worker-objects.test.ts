import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnsatisfiableRangeError, type ObjectsPort } from "~/server/drivers/objects";
import { createLocalObjects } from "~/server/drivers/objects/local";
import { createS3Objects } from "~/server/drivers/objects/s3";
import { startS3Server, type S3TestServer } from "../support/s3";

/**
 * The objects port (put, get, read, presignGet, head, list, delete, uri), one contract for every
 * driver: the directory driver, and the S3 driver against s3rver on loopback, or against the
 * S3-compatible server named by PIKSEL_TEST_S3_ENDPOINT (with PIKSEL_TEST_S3_BUCKET, an existing
 * bucket, and credentials in the AWS environment variables) when set.
 */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-objects-"));
const s3Endpoint = process.env.PIKSEL_TEST_S3_ENDPOINT;
let s3: S3TestServer | undefined;
beforeAll(async () => {
  if (!s3Endpoint) s3 = await startS3Server();
});
afterAll(async () => {
  await s3?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const drivers: [string, () => ObjectsPort][] = [
  ["local", () => createLocalObjects({ root: dir, bucket: "piksel-test-data" })],
  [
    "s3",
    () =>
      s3Endpoint
        ? createS3Objects({ bucket: process.env.PIKSEL_TEST_S3_BUCKET ?? "piksel-test-data", region: "us-east-1", endpoint: s3Endpoint, forcePathStyle: true })
        : createS3Objects(s3!.objects),
  ],
];

async function text(body: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(body).arrayBuffer());
}

describe.each(drivers)("objects port, %s driver", (name, make) => {
  let objects: ObjectsPort;
  beforeAll(() => {
    objects = make();
  });
  const prefix = `contract-${process.pid}-${name}`;

  it("puts bytes, text and files, and gets them back byte for byte", async () => {
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
    await objects.put(`${prefix}/a/bytes.bin`, bytes, { contentType: "application/octet-stream" });
    await objects.put(`${prefix}/a/text.json`, '{"ok":true}', { contentType: "application/json" });
    const file = path.join(dir, "upload.tif");
    fs.writeFileSync(file, bytes.subarray(0, 12_345));
    await objects.put(`${prefix}/b/file.tif`, { file });
    expect(await objects.get(`${prefix}/a/bytes.bin`)).toEqual(bytes);
    expect((await objects.get(`${prefix}/a/text.json`))?.toString("utf8")).toBe('{"ok":true}');
    expect(await objects.get(`${prefix}/b/file.tif`)).toEqual(bytes.subarray(0, 12_345));
  });

  it("reports a missing object as undefined, not as an error", async () => {
    expect(await objects.get(`${prefix}/missing`)).toBeUndefined();
    expect(await objects.head(`${prefix}/missing`)).toBeUndefined();
  });

  it("heads and lists objects by prefix, in key order", async () => {
    expect(await objects.head(`${prefix}/a/text.json`)).toMatchObject({ key: `${prefix}/a/text.json`, size: 11 });
    expect((await objects.list(`${prefix}/`)).map((o) => [o.key, o.size])).toEqual([
      [`${prefix}/a/bytes.bin`, 70_000],
      [`${prefix}/a/text.json`, 11],
      [`${prefix}/b/file.tif`, 12_345],
    ]);
    expect((await objects.list(`${prefix}/a/t`)).map((o) => o.key)).toEqual([`${prefix}/a/text.json`]);
    expect(await objects.list(`${prefix}/none/`)).toEqual([]);
  });

  it("replaces an object whole, and deletes it (twice without complaint)", async () => {
    await objects.put(`${prefix}/a/text.json`, "replaced");
    expect((await objects.get(`${prefix}/a/text.json`))?.toString("utf8")).toBe("replaced");
    await objects.delete(`${prefix}/a/text.json`);
    await objects.delete(`${prefix}/a/text.json`);
    expect(await objects.head(`${prefix}/a/text.json`)).toBeUndefined();
  });

  it("streams an object whole or one byte range, with its size", async () => {
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 13) % 251));
    await objects.put(`${prefix}/r/range.bin`, bytes);
    const whole = await objects.read(`${prefix}/r/range.bin`);
    expect(whole?.info).toMatchObject({ key: `${prefix}/r/range.bin`, size: 70_000 });
    expect(whole?.range).toBeUndefined();
    expect(await text(whole!.body)).toEqual(bytes);
    const part = await objects.read(`${prefix}/r/range.bin`, { start: 100, end: 16_483 });
    expect(part?.range).toEqual({ start: 100, end: 16_483 });
    expect(part?.info.size).toBe(70_000);
    expect(await text(part!.body)).toEqual(bytes.subarray(100, 16_484));
    const open = await objects.read(`${prefix}/r/range.bin`, { start: 69_990, end: 1_000_000 });
    expect(open?.range).toEqual({ start: 69_990, end: 69_999 });
    expect(await text(open!.body)).toEqual(bytes.subarray(69_990));
    if (name === "local") {
      // s3rver reads `bytes=-N` as `bytes=0-N` (tests/support/s3.ts); S3 itself follows RFC 9110.
      const tail = await objects.read(`${prefix}/r/range.bin`, { suffix: 10 });
      expect(tail?.range).toEqual({ start: 69_990, end: 69_999 });
      expect(await text(tail!.body)).toEqual(bytes.subarray(69_990));
    }
    await expect(objects.read(`${prefix}/r/range.bin`, { start: 70_000 })).rejects.toBeInstanceOf(UnsatisfiableRangeError);
    await expect(objects.read(`${prefix}/r/range.bin`, { start: 10, end: 5 })).rejects.toThrow(/invalid byte range/);
    expect(await objects.read(`${prefix}/r/missing.bin`)).toBeUndefined();
  });

  it("hands out a presigned URL that serves ranges on S3, and none for a directory", async () => {
    const bytes = Buffer.from(Array.from({ length: 5_000 }, (_, i) => i % 256));
    await objects.put(`${prefix}/p/file.tif`, bytes);
    const url = await objects.presignGet(`${prefix}/p/file.tif`, 300);
    if (name === "local") {
      expect(url).toBeUndefined();
      return;
    }
    expect(url).toMatch(/^https?:\/\/.*X-Amz-Signature=/);
    const res = await fetch(url!, { headers: { range: "bytes=10-19" } });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes.subarray(10, 20));
    await expect(objects.presignGet(`${prefix}/p/file.tif`, 0)).rejects.toThrow(/presigned URLs last/);
  });

  it("refuses keys that would leave the bucket", async () => {
    for (const key of ["", "/abs", "a/../b", "a//b", "./a"]) {
      await expect(objects.put(key, "x")).rejects.toThrow(/invalid object key/);
      await expect(objects.read(key)).rejects.toThrow(/invalid object key/);
      await expect(objects.presignGet(key, 60)).rejects.toThrow(/invalid object key/);
    }
  });

  it("names objects by URI", () => {
    const uri = objects.uri(`${prefix}/a/b.yaml`);
    if (name === "local") expect(uri).toBe(`file://${path.join(dir, "piksel-test-data", prefix, "a", "b.yaml")}`);
    else expect(uri).toMatch(new RegExp(`^s3://[^/]+/${prefix}/a/b\\.yaml$`));
  });
});

describe("objects port, local driver: all or nothing", () => {
  it("never leaves a partial object when a file upload fails", async () => {
    const objects = createLocalObjects({ root: dir, bucket: "atomic" });
    await objects.put("x/keep.txt", "old");
    await expect(objects.put("x/keep.txt", { file: path.join(dir, "no-such-file") })).rejects.toThrow(/ENOENT/);
    expect((await objects.get("x/keep.txt"))?.toString("utf8")).toBe("old");
    expect(fs.readdirSync(path.join(dir, "atomic", "x"))).toEqual(["keep.txt"]);
  });
});
