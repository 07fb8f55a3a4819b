import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ObjectsPort } from "~/server/drivers/objects";
import { createLocalObjects } from "~/server/drivers/objects/local";
import { createS3Objects } from "~/server/drivers/objects/s3";

/**
 * The objects port as the worker uses it (put, get, head, list, delete, uri), one contract for every
 * driver: the directory driver always; the S3 driver against an S3-compatible server when
 * PIKSEL_TEST_S3_ENDPOINT (and PIKSEL_TEST_S3_BUCKET, an existing bucket) are set. s3rver needs the
 * driver's path-style addressing and `WHEN_REQUIRED` checksums (REFERENCE.md A).
 */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-objects-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const drivers: [string, () => ObjectsPort][] = [["local", () => createLocalObjects({ root: dir, bucket: "piksel-test-data" })]];
const s3Endpoint = process.env.PIKSEL_TEST_S3_ENDPOINT;
if (s3Endpoint) {
  drivers.push(["s3", () => createS3Objects({ bucket: process.env.PIKSEL_TEST_S3_BUCKET ?? "piksel-test-data", region: "us-east-1", endpoint: s3Endpoint, forcePathStyle: true })]);
}

describe.each(drivers)("objects port, %s driver", (name, make) => {
  const objects = make();
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

  it("refuses keys that would leave the bucket", async () => {
    for (const key of ["", "/abs", "a/../b", "a//b", "./a"]) await expect(objects.put(key, "x")).rejects.toThrow(/invalid object key/);
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
