import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLayoutRegistry } from "../drivers/registry/layout";
import { buildImage, defaultImageHistory, writeImageHistory, type Release } from "./image-history";

const made: string[] = [];
async function tmp(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), "piksel-image-history-"));
  made.push(d);
  return d;
}
afterAll(() => Promise.all(made.map((d) => fs.rm(d, { recursive: true, force: true }))));
const release: Release = { tag: "v2.0.0", revision: "0123456789abcdef0123456789abcdef01234567", created: "2026-06-01T10:00:00Z", source: "https://example.test/piksel-core" };

describe("default image history", () => {
  it("has five releases of piksel-core with git revisions and increasing 2026 build times", () => {
    const history = defaultImageHistory();
    expect(history.map((r) => r.tag)).toEqual(["v1.4.0", "v1.5.0", "v1.6.0", "v1.7.0", "v1.8.0"]);
    for (const r of history) expect(r.revision).toMatch(/^[0-9a-f]{40}$/);
    const times = history.map((r) => Date.parse(r.created));
    expect(times.every((t, i) => i === 0 || t > times[i - 1]!)).toBe(true);
    expect(history.every((r) => r.created.startsWith("2026-"))).toBe(true);
    expect(new Set(history.map((r) => r.revision)).size).toBe(5);
  });
});

describe("buildImage", () => {
  it("gives the same digests for the same input, and different ones for another revision", () => {
    expect(buildImage("piksel-core", release).digest).toBe(buildImage("piksel-core", release).digest);
    expect(buildImage("piksel-core", { ...release, revision: "f".repeat(40) }).digest).not.toBe(buildImage("piksel-core", release).digest);
  });

  it("makes an image index with one manifest per platform when several are asked", () => {
    const image = buildImage("piksel-core", { ...release, platforms: [{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "arm64", variant: "v8" }] });
    expect(image.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(image.platforms.map((p) => p.platform)).toEqual(["linux/amd64", "linux/arm64/v8"]);
    expect(image.manifests.at(-1)!.digest).toBe(image.digest);
  });

  it("refuses an invalid tag", () => {
    expect(() => buildImage("piksel-core", { ...release, tag: "no tags with spaces" })).toThrow(/not a valid image tag/);
  });
});

describe("writeImageHistory", () => {
  it("writes a layout the layout driver reads back with the labels of each release", async () => {
    const dir = await tmp();
    const written = await writeImageHistory(dir, "piksel-core", defaultImageHistory());
    const registry = createLayoutRegistry({ path: dir, repository: "piksel-core" });
    expect(await registry.listTags()).toEqual(["v1.4.0", "v1.5.0", "v1.6.0", "v1.7.0", "v1.8.0"]);
    for (const image of written) expect(await registry.resolve(image.tag)).toBe(image.digest);
    const newest = await registry.inspect("v1.8.0");
    expect(newest).toMatchObject({
      digest: written[4]!.digest,
      mediaType: "application/vnd.oci.image.index.v1+json",
      revision: "7d1f3c9e5a0b48e26c9a7f1d3b8e05c4a2f6d71b",
      created: "2026-05-04T08:58:32Z",
      platform: "linux/amd64",
      platforms: ["linux/amd64", "linux/arm64/v8"],
    });
    expect(newest.labels["org.opencontainers.image.version"]).toBe("1.8.0");
  });

  it("is idempotent and moves a re-written tag in place without duplicating it", async () => {
    const dir = await tmp();
    await writeImageHistory(dir, "piksel-core", defaultImageHistory());
    const first = await fs.readFile(path.join(dir, "index.json"), "utf8");
    await writeImageHistory(dir, "piksel-core", defaultImageHistory());
    expect(await fs.readFile(path.join(dir, "index.json"), "utf8")).toBe(first);

    const [moved] = await writeImageHistory(dir, "piksel-core", [{ ...defaultImageHistory()[1]!, revision: "b".repeat(40) }]);
    const registry = createLayoutRegistry({ path: dir, repository: "piksel-core" });
    expect(await registry.listTags()).toEqual(["v1.4.0", "v1.5.0", "v1.6.0", "v1.7.0", "v1.8.0"]);
    expect(await registry.resolve("v1.5.0")).toBe(moved!.digest);
  });

  it("keeps other repositories' tags in a shared layout", async () => {
    const dir = await tmp();
    await writeImageHistory(dir, "piksel-core", [release]);
    await writeImageHistory(dir, "piksel-worker", [release]);
    expect(await createLayoutRegistry({ path: dir, repository: "piksel-core" }).listTags()).toEqual(["v2.0.0"]);
    expect(await createLayoutRegistry({ path: dir, repository: "piksel-worker" }).listTags()).toEqual(["v2.0.0"]);
  });
});
