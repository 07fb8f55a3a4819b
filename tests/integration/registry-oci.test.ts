import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOciRegistry, type OciRegistryOptions } from "~/server/drivers/registry/oci";
import { buildImage, defaultImageHistory, type BuiltImage } from "~/server/embedded/image-history";
import { AppError } from "~/server/errors";
import { paginateTags, startProxy, type RegistryProxy } from "../support/registry/proxy";
import { asDockerSchema2, pushImage } from "../support/registry/push";
import { startRegistry, type RegistryServer } from "../support/registry/server";
import { skopeoDigest } from "../support/registry/skopeo";

const history = defaultImageHistory();
const repo = "piksel-core";
// Two single-platform releases and a multi-platform one (an image index).
const images: BuiltImage[] = [history[0]!, history[1]!, history[4]!].map((r) => buildImage(repo, r));
const dockerImage = asDockerSchema2(buildImage(repo, { ...history[2]!, tag: "v1.6.0-docker" }));

let registry: RegistryServer;
let proxy: RegistryProxy;
const pushed = new Map<string, string>();

const oci = (url: string, options: OciRegistryOptions = {}, repository = repo) =>
  createOciRegistry({ url, repository, auth: { type: "anonymous" } }, { retryBaseMs: 5, ...options });

/** The AppError code of a rejection, or the message of any other error. */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof AppError ? `AppError ${err.code}: ${err.message}` : (err as Error).message;
  }
  throw new Error("expected a rejection");
}

/** A loopback port nobody listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  registry = await startRegistry();
  for (const image of [...images, dockerImage]) pushed.set(image.tag, await pushImage(registry.url, repo, image));
  proxy = await startProxy(registry.url);
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});

describe("OCI registry driver against docker-registry", () => {
  it("resolves each pushed tag to the digest the push returned, the digest skopeo reports", async () => {
    const r = oci(registry.url);
    for (const image of [...images, dockerImage]) {
      const digest = await r.resolve(image.tag);
      expect(digest).toBe(pushed.get(image.tag));
      expect(digest).toBe(image.digest);
      expect(await skopeoDigest(`docker://${registry.host}/${repo}:${image.tag}`)).toBe(digest);
    }
  });

  it("resolves a digest it can find, and names imageName as overlays do", async () => {
    const r = oci(registry.url);
    expect(await r.resolve(images[2]!.digest)).toBe(images[2]!.digest);
    expect(r.imageName).toBe(`${registry.host}/${repo}`);
    expect(r.endpoint).toBe(`${registry.url}/${repo}`);
  });

  it("lists every tag (docker-registry 2.8 answers in one page whatever n says)", async () => {
    expect((await oci(registry.url).listTags()).sort()).toEqual(["v1.4.0", "v1.5.0", "v1.6.0-docker", "v1.8.0"]);
  });

  it("follows Link rel=next through pages of two tags", async () => {
    proxy.use(paginateTags);
    const before = proxy.requests.length;
    try {
      expect(await oci(proxy.url, { pageSize: 2 }).listTags()).toEqual(["v1.4.0", "v1.5.0", "v1.6.0-docker", "v1.8.0"]);
      const pages = proxy.requests.slice(before).map((r) => r.path);
      expect(pages).toEqual([`/v2/${repo}/tags/list?n=2`, `/v2/${repo}/tags/list?last=v1.5.0&n=2`]);
    } finally {
      proxy.use(null);
    }
  });

  it("stops a pagination loop instead of following it forever", async () => {
    proxy.use(async (req, upstream) => {
      const answer = await upstream();
      if (!req.path.includes("/tags/list")) return answer;
      return { ...answer, headers: { ...answer.headers, link: `<${req.path}>; rel="next"` } };
    });
    try {
      expect(await failure(oci(proxy.url).listTags())).toMatch(/tag list pagination loops/);
    } finally {
      proxy.use(null);
    }
  });

  it("reads the labels of a single-platform image by tag and by digest", async () => {
    const r = oci(registry.url);
    const info = await r.inspect("v1.5.0");
    expect(info).toMatchObject({
      digest: images[1]!.digest,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      revision: history[1]!.revision,
      created: history[1]!.created,
      source: history[1]!.source,
      platform: "linux/amd64",
      platforms: ["linux/amd64"],
    });
    expect(info.labels["org.opencontainers.image.version"]).toBe("1.5.0");
    expect(await r.inspect(images[1]!.digest)).toEqual(info);
  });

  it("reads a multi-platform image through its index: the index digest, linux/amd64's labels", async () => {
    const info = await oci(registry.url).inspect("v1.8.0");
    expect(info).toMatchObject({
      digest: images[2]!.digest,
      mediaType: "application/vnd.oci.image.index.v1+json",
      revision: history[4]!.revision,
      platform: "linux/amd64",
      platforms: ["linux/amd64", "linux/arm64/v8"],
    });
    const arm = await oci(registry.url, { platform: { os: "linux", architecture: "arm64" } }).inspect("v1.8.0");
    expect(arm.platform).toBe("linux/arm64/v8");
    expect(arm.digest).toBe(info.digest);
  });

  it("reads a Docker schema 2 image as docker push stores it", async () => {
    const info = await oci(registry.url).inspect("v1.6.0-docker");
    expect(info).toMatchObject({ digest: dockerImage.digest, mediaType: "application/vnd.docker.distribution.manifest.v2+json", revision: history[2]!.revision });
  });

  it("answers NOT_FOUND for an unknown tag, digest or repository and BAD_REQUEST for a malformed reference", async () => {
    const r = oci(registry.url);
    expect(await failure(r.resolve("v9.9.9"))).toBe(`AppError NOT_FOUND: Image ${repo}:v9.9.9 not found in registry ${registry.url}`);
    expect(await failure(r.inspect("v9.9.9"))).toMatch(/^AppError NOT_FOUND/);
    expect(await failure(r.resolve(`sha256:${"0".repeat(64)}`))).toMatch(/^AppError NOT_FOUND: Image piksel-core@sha256:0{64} not found/);
    expect(await failure(oci(registry.url, {}, "nobody/nothing").listTags())).toBe(`AppError NOT_FOUND: Repository nobody/nothing not found in registry ${registry.url}`);
    // docker-registry 2.8 says MANIFEST_UNKNOWN (not NAME_UNKNOWN) for a manifest of an unknown repository.
    expect(await failure(oci(registry.url, {}, "nobody/nothing").resolve("v1"))).toMatch(/^AppError NOT_FOUND: Image nobody\/nothing:v1 not found/);
    expect(await failure(r.resolve("../../v2/_catalog"))).toMatch(/^AppError BAD_REQUEST/);
  });

  it("check() proves the repository is readable, and says when it does not exist", async () => {
    expect(await oci(registry.url).check()).toBe("API v2 reachable, piksel-core readable");
    expect(await failure(oci(registry.url, {}, "nobody/nothing").check())).toMatch(/repository nobody\/nothing does not exist/);
  });
});

describe("OCI registry driver: transient failures and tampering", () => {
  it("retries 503 and 429 with backoff and then succeeds", async () => {
    let failures = 0;
    proxy.use(async (req, upstream) => {
      if (req.path.includes("/manifests/") && failures < 2) {
        failures++;
        return { status: failures === 1 ? 503 : 429, headers: { "retry-after": "0" }, body: Buffer.alloc(0) };
      }
      return upstream();
    });
    try {
      expect(await oci(proxy.url).resolve("v1.4.0")).toBe(images[0]!.digest);
      expect(failures).toBe(2);
    } finally {
      proxy.use(null);
    }
  });

  it("gives up after the bounded retries with the URL, what was asked and the status", async () => {
    let calls = 0;
    proxy.use(async () => {
      calls++;
      return { status: 503, headers: { "content-type": "application/json" }, body: Buffer.from(JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "service unavailable" }] })) };
    });
    try {
      const message = await failure(oci(proxy.url, { retries: 2 }).listTags());
      expect(message).toBe(`Registry ${proxy.url} answered 503 Service Unavailable to GET /v2/${repo}/tags/list?n=1000 (listing the tags of ${repo}): UNAVAILABLE: service unavailable`);
      expect(calls).toBe(3);
    } finally {
      proxy.use(null);
    }
  });

  it("times out a registry that does not answer", async () => {
    proxy.use(async () => "hang");
    try {
      const message = await failure(oci(proxy.url, { timeoutMs: 200, retries: 1 }).resolve("v1.4.0"));
      expect(message).toBe(`Registry ${proxy.url}: HEAD /v2/${repo}/manifests/v1.4.0 (resolving ${proxy.url}/${repo}:v1.4.0): timed out (2 attempts)`);
    } finally {
      proxy.use(null);
    }
  });

  it("names a registry that cannot be reached", async () => {
    const port = await closedPort();
    const message = await failure(oci(`http://127.0.0.1:${port}`, { retries: 0 }).listTags());
    expect(message).toBe(`Registry http://127.0.0.1:${port}: GET /v2/${repo}/tags/list?n=1000 (listing the tags of ${repo}): ECONNREFUSED (1 attempt)`);
  });

  it("refuses a manifest whose bytes do not match the digest, by digest and by tag", async () => {
    proxy.use(async (req, upstream) => {
      const answer = await upstream();
      if (req.method !== "GET" || !req.path.includes("/manifests/")) return answer;
      return { ...answer, body: Buffer.from(answer.body.toString("utf8").replace("schemaVersion", "schemaVersion ")) };
    });
    try {
      expect(await failure(oci(proxy.url).inspect(images[0]!.digest))).toMatch(/content does not match its digest/);
      expect(await failure(oci(proxy.url).inspect("v1.4.0"))).toMatch(/content does not match its digest/);
    } finally {
      proxy.use(null);
    }
  });

  it("refuses a config blob whose bytes do not match its descriptor", async () => {
    proxy.use(async (req, upstream) => {
      const answer = await upstream();
      if (req.method !== "GET" || !req.path.includes("/blobs/")) return answer;
      return { ...answer, body: Buffer.from(answer.body.toString("utf8").replace("amd64", "arm64")) };
    });
    try {
      expect(await failure(oci(proxy.url).inspect("v1.4.0"))).toMatch(/^Blob sha256:[0-9a-f]{64} of .*: content does not match its digest/);
    } finally {
      proxy.use(null);
    }
  });

  it("takes the digest from the body when a registry sends no Docker-Content-Digest", async () => {
    proxy.use(async (req, upstream) => {
      const answer = await upstream();
      const headers = { ...answer.headers };
      delete headers["docker-content-digest"];
      return { ...answer, headers };
    });
    try {
      expect(await oci(proxy.url).resolve("v1.8.0")).toBe(images[2]!.digest);
      expect(await oci(proxy.url).resolve(dockerImage.tag)).toBe(dockerImage.digest);
    } finally {
      proxy.use(null);
    }
  });
});
