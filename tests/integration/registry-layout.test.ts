import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLayoutRegistry } from "~/server/drivers/registry/layout";
import { createOciRegistry } from "~/server/drivers/registry/oci";
import { defaultImageHistory, writeImageHistory, type BuiltImage } from "~/server/embedded/image-history";
import { AppError } from "~/server/errors";
import { startRegistry, type RegistryServer } from "../support/registry/server";
import { skopeoCopy, skopeoDigest } from "../support/registry/skopeo";

const repo = "piksel-core";
const history = defaultImageHistory();
let dir: string;
let written: BuiltImage[];
let registry: RegistryServer;

const made: string[] = [];
async function tmp(name: string): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), `piksel-${name}-`));
  made.push(d);
  return d;
}
const layout = (d = dir) => createLayoutRegistry({ path: d, repository: repo });
const byTag = (tag: string) => written.find((w) => w.tag === tag)!;

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof AppError ? `AppError ${err.code}: ${err.message}` : (err as Error).message;
  }
  throw new Error("expected a rejection");
}

/** A copy of the seeded layout that a test may damage. */
async function copyOfLayout(): Promise<string> {
  const d = await tmp("layout-copy");
  await fs.cp(dir, d, { recursive: true });
  return d;
}

const blobFile = (d: string, digest: string) => path.join(d, "blobs", "sha256", digest.slice("sha256:".length));

beforeAll(async () => {
  dir = await tmp("layout");
  written = await writeImageHistory(dir, repo, history);
  registry = await startRegistry();
});

afterAll(async () => {
  await registry?.stop();
  await Promise.all(made.map((d) => fs.rm(d, { recursive: true, force: true })));
});

describe("OCI image-layout driver over the default image history", () => {
  it("lists the tags and resolves each to the digest written, the digest skopeo reads from the layout", async () => {
    expect(await layout().listTags()).toEqual(["v1.4.0", "v1.5.0", "v1.6.0", "v1.7.0", "v1.8.0"]);
    for (const image of written) {
      expect(await layout().resolve(image.tag)).toBe(image.digest);
      expect(await skopeoDigest(`oci:${dir}:${repo}:${image.tag}`)).toBe(image.digest);
    }
    expect(layout().imageName).toBe(repo);
    expect(await layout().check()).toBe("5 tag(s) of piksel-core");
  });

  it("reads labels of single- and multi-platform images, by tag and by digest", async () => {
    const v16 = await layout().inspect("v1.6.0");
    expect(v16).toEqual({
      digest: byTag("v1.6.0").digest,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      labels: {
        "org.opencontainers.image.created": "2026-03-09T11:47:55Z",
        "org.opencontainers.image.revision": "5c2e8b1a7f94d3060b8e5a2c1d7f9e43b6a0c582",
        "org.opencontainers.image.source": history[2]!.source,
        "org.opencontainers.image.title": "piksel-core",
        "org.opencontainers.image.version": "1.6.0",
      },
      revision: "5c2e8b1a7f94d3060b8e5a2c1d7f9e43b6a0c582",
      created: "2026-03-09T11:47:55Z",
      source: history[2]!.source,
      platform: "linux/amd64",
      platforms: ["linux/amd64"],
    });
    expect(await layout().inspect(byTag("v1.6.0").digest)).toEqual(v16);
    const v17 = await layout().inspect("v1.7.0");
    expect(v17).toMatchObject({ mediaType: "application/vnd.oci.image.index.v1+json", platforms: ["linux/amd64", "linux/arm64/v8"], revision: history[3]!.revision });
  });

  it("holds images that a real registry stores byte for byte: skopeo copy, then the OCI driver finds the same digests and labels", async () => {
    const oci = createOciRegistry({ url: registry.url, repository: repo, auth: { type: "anonymous" } });
    for (const tag of ["v1.6.0", "v1.7.0"]) {
      await skopeoCopy(`oci:${dir}:${repo}:${tag}`, `docker://${registry.host}/${repo}:${tag}`);
      expect(await oci.resolve(tag)).toBe(byTag(tag).digest);
      expect(await oci.inspect(tag)).toEqual(await layout().inspect(tag));
    }
  });

  it("reads a single-repository layout whose ref.name is the bare tag, as skopeo writes it", async () => {
    const other = await tmp("layout-skopeo");
    await skopeoCopy(`oci:${dir}:${repo}:v1.8.0`, `oci:${other}:v1.8.0`);
    const r = layout(other);
    expect(await r.listTags()).toEqual(["v1.8.0"]);
    expect(await r.resolve("v1.8.0")).toBe(byTag("v1.8.0").digest);
    expect((await r.inspect("v1.8.0")).revision).toBe(history[4]!.revision);
  });

  it("answers NOT_FOUND for an unknown tag or digest and BAD_REQUEST for a path-like reference", async () => {
    expect(await failure(layout().resolve("v0.0.1"))).toBe(`AppError NOT_FOUND: Image ${repo}:v0.0.1 not found in the image layout ${dir}`);
    expect(await failure(layout().inspect(`sha256:${"a".repeat(64)}`))).toBe(`AppError NOT_FOUND: Image ${repo}@sha256:${"a".repeat(64)} not found in the image layout ${dir}`);
    expect(await failure(layout().resolve("../../../etc/passwd"))).toMatch(/^AppError BAD_REQUEST/);
    expect(await failure(createLayoutRegistry({ path: dir, repository: "piksel-worker" }).resolve("v1.4.0"))).toMatch(/^AppError NOT_FOUND/);
  });

  it("refuses a digest that names a blob other than a manifest", async () => {
    const manifest = JSON.parse(byTag("v1.4.0").manifests[0]!.bytes.toString("utf8")) as { config: { digest: string } };
    expect(await failure(layout().resolve(manifest.config.digest))).toMatch(/not an image manifest or index/);
  });

  it("refuses a damaged layout: a blob whose bytes changed, a blob that is missing", async () => {
    const d = await copyOfLayout();
    const manifest = JSON.parse(byTag("v1.4.0").manifests[0]!.bytes.toString("utf8")) as { config: { digest: string } };
    await fs.appendFile(blobFile(d, manifest.config.digest), " ");
    expect(await failure(layout(d).inspect("v1.4.0"))).toMatch(/content does not match its digest/);
    await fs.rm(blobFile(d, byTag("v1.5.0").digest));
    expect(await failure(layout(d).resolve("v1.5.0"))).toBe(`Image layout ${d} is damaged: blob ${byTag("v1.5.0").digest} of ${d}:${repo}:v1.5.0 is missing`);
  });

  it("check() refuses a directory that is not an image layout", async () => {
    const empty = await tmp("not-a-layout");
    expect(await failure(layout(empty).check())).toBe(`${empty} is not an OCI image layout (no oci-layout file)`);
    expect(await failure(layout(empty).listTags())).toBe(`${empty} is not an OCI image layout (no index.json)`);
  });
});
