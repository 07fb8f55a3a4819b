import http from "node:http";
import type { AddressInfo } from "node:net";
import { ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RegistryAuth } from "~/server/drivers/registry/auth";
import { createOciRegistry, type OciRegistryOptions } from "~/server/drivers/registry/oci";
import { buildImage, defaultImageHistory } from "~/server/embedded/image-history";
import { startEcrStub, type EcrStub } from "../support/registry/ecr-stub";
import { startProxy, type RegistryProxy } from "../support/registry/proxy";
import { pushImage } from "../support/registry/push";
import { startRegistry, type RegistryServer, type RegistryUser } from "../support/registry/server";
import { skopeoDigest } from "../support/registry/skopeo";
import { startTokenServer, type TokenServer } from "../support/registry/token-server";

const repo = "piksel-core";
const history = defaultImageHistory();
const single = buildImage(repo, history[0]!);
const multi = buildImage(repo, history[4]!);
const alice: RegistryUser = { username: "alice", password: "correct-horse-battery" };
const ecrRegistryUser: RegistryUser = { username: "AWS", password: "ecr-issued-password-7f3a" };

const driver = (url: string, auth: RegistryAuth, options: OciRegistryOptions = {}) => createOciRegistry({ url, repository: repo, auth }, { retryBaseMs: 5, ...options });

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected a rejection");
}

describe("basic auth (htpasswd)", () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistry({ users: [alice, ecrRegistryUser] });
    await pushImage(registry.url, repo, single, alice);
    await pushImage(registry.url, repo, multi, alice);
  });
  afterAll(() => registry?.stop());

  it("lists, resolves and inspects with the right password; skopeo agrees on the digests", async () => {
    const r = driver(registry.url, { type: "basic", ...alice });
    expect((await r.listTags()).sort()).toEqual(["v1.4.0", "v1.8.0"]);
    expect(await r.resolve("v1.4.0")).toBe(single.digest);
    expect(await r.resolve("v1.8.0")).toBe(multi.digest);
    expect(await skopeoDigest(`docker://${registry.host}/${repo}:v1.8.0`, alice)).toBe(multi.digest);
    expect((await r.inspect("v1.8.0")).revision).toBe(history[4]!.revision);
    expect(await r.check()).toBe("API v2 reachable, piksel-core readable");
  });

  it("says the credentials were refused, without the password, when it is wrong", async () => {
    const r = driver(registry.url, { type: "basic", username: "alice", password: "wrong-password-123" });
    const message = await failure(r.listTags());
    expect(message).toBe(
      `Registry ${registry.url} refused the configured basic credentials (401 Unauthorized) to GET /v2/${repo}/tags/list?n=1000 (listing the tags of ${repo}): UNAUTHORIZED: authentication required`,
    );
    expect(message).not.toContain("wrong-password-123");
    expect(await failure(r.check())).toMatch(/refused the configured basic credentials \(401 Unauthorized\) to GET \/v2\/ \(API version check\)/);
  });

  it("says authentication is required when none is configured", async () => {
    expect(await failure(driver(registry.url, { type: "anonymous" }).resolve("v1.4.0"))).toBe(
      `Registry ${registry.url} requires authentication (401 Unauthorized) to GET /v2/${repo}/manifests/v1.4.0 (reading the manifest of ${registry.url}/${repo}:v1.4.0): UNAUTHORIZED: authentication required; configure registry.auth`,
    );
  });

  it("never sends the credentials to the other origin a blob download is redirected to", async () => {
    // Registries redirect blob downloads to object storage; this "CDN" serves the blob and records
    // whether an Authorization header reached it.
    const seenByCdn: (string | undefined)[] = [];
    const cdn = http.createServer(async (req, res) => {
      seenByCdn.push(req.headers.authorization);
      const upstream = await fetch(`${registry.url}${req.url}`, { headers: { authorization: `Basic ${Buffer.from(`${alice.username}:${alice.password}`).toString("base64")}` } });
      res.writeHead(upstream.status, { "content-type": "application/octet-stream" });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((resolve) => cdn.listen(0, "127.0.0.1", resolve));
    const cdnUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`;
    const proxy: RegistryProxy = await startProxy(registry.url);
    proxy.use(async (req, upstream) =>
      req.method === "GET" && req.path.includes("/blobs/") && req.headers.authorization ? { status: 307, headers: { location: `${cdnUrl}${req.path}` }, body: Buffer.alloc(0) } : upstream(),
    );
    try {
      const info = await driver(proxy.url, { type: "basic", ...alice }).inspect("v1.4.0");
      expect(info.revision).toBe(history[0]!.revision);
      expect(seenByCdn).toEqual([undefined]);
    } finally {
      await proxy.stop();
      await new Promise<void>((resolve) => cdn.close(() => resolve()));
    }
  });

  describe("ECR (GetAuthorizationToken, used as basic)", () => {
    const region = "us-west-2";
    const keys = { accessKeyId: "AKIAPIKSELTEST000001", secretAccessKey: "piksel/test/secret/key/0123456789abcdefghij" };
    let stub: EcrStub;
    beforeAll(async () => {
      stub = await startEcrStub({ ...keys, region, registryPassword: ecrRegistryUser.password });
    });
    afterAll(() => stub?.stop());

    const ecrClient = (secretAccessKey = keys.secretAccessKey) => new ECRClient({ region, endpoint: stub.endpoint, credentials: { ...keys, secretAccessKey }, maxAttempts: 1 });

    it("gets a signed authorization token once and reuses it until shortly before it expires", async () => {
      let now = Date.now();
      const r = driver(registry.url, { type: "ecr", region }, { ecrClient: ecrClient(), now: () => now });
      const before = stub.tokensIssued;
      expect((await r.listTags()).sort()).toEqual(["v1.4.0", "v1.8.0"]);
      expect(await r.resolve("v1.8.0")).toBe(multi.digest);
      expect((await r.inspect("v1.8.0")).revision).toBe(history[4]!.revision);
      expect(stub.tokensIssued - before).toBe(1);
      now += 12 * 3600_000 - 60_000;
      expect(await r.resolve("v1.4.0")).toBe(single.digest);
      expect(stub.tokensIssued - before).toBe(2);
      expect(stub.calls.every((c) => c.ok)).toBe(true);
    });

    it("names ECR and the region when AWS refuses the credentials, and never shows the secret", async () => {
      const message = await failure(driver(registry.url, { type: "ecr", region }, { ecrClient: ecrClient("not-the-secret") }).listTags());
      expect(message).toBe(
        `ECR GetAuthorizationToken in ${region} failed for ${registry.url}: InvalidSignatureException: The request signature we calculated does not match the signature you provided.`,
      );
      expect(message).not.toContain(keys.secretAccessKey);
      expect(stub.calls.at(-1)).toEqual({ ok: false, reason: "signature mismatch" });
    });
  });
});

describe("token auth (Bearer challenge -> token service)", () => {
  let tokens: TokenServer;
  let registry: RegistryServer;
  beforeAll(async () => {
    tokens = await startTokenServer({ users: [alice], expiresIn: 300 });
    registry = await startRegistry({ token: tokens.auth });
    await pushImage(registry.url, repo, single, alice);
    await pushImage(registry.url, repo, multi, alice);
  });
  afterAll(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  const aliceRequests = (scope: string) => tokens.requests.filter((r) => r.user === "alice" && r.status === 200 && r.scopes.join(" ") === scope).length;

  it("answers the challenge with the configured credentials and caches the token per scope", async () => {
    let now = Date.now();
    const r = driver(registry.url, { type: "basic", ...alice }, { now: () => now });
    const pull = `repository:${repo}:pull`;
    const before = aliceRequests(pull);
    expect((await r.listTags()).sort()).toEqual(["v1.4.0", "v1.8.0"]);
    expect(await r.resolve("v1.4.0")).toBe(single.digest);
    const info = await r.inspect("v1.8.0");
    expect(info).toMatchObject({ digest: multi.digest, revision: history[4]!.revision, platform: "linux/amd64" });
    expect(aliceRequests(pull) - before).toBe(1);
    expect(await r.check()).toBe("API v2 reachable, piksel-core readable");

    // 300 s tokens are renewed 30 s before they expire, not after.
    now += 271_000;
    expect(await r.resolve("v1.8.0")).toBe(multi.digest);
    expect(aliceRequests(pull) - before).toBe(2);
  });

  it("agrees with skopeo on the digests", async () => {
    const r = driver(registry.url, { type: "basic", ...alice });
    for (const tag of ["v1.4.0", "v1.8.0"]) expect(await r.resolve(tag)).toBe(await skopeoDigest(`docker://${registry.host}/${repo}:${tag}`, alice));
  });

  it("says which token service refused which user, without the password", async () => {
    const message = await failure(driver(registry.url, { type: "basic", username: "alice", password: "wrong-password-456" }).resolve("v1.4.0"));
    expect(message).toBe(`Token service ${tokens.auth.realm} (scope "repository:${repo}:pull") refused the credentials of user "alice" (401 Unauthorized)`);
    expect(message).not.toContain("wrong-password-456");
  });

  it("fails clearly when the anonymous token grants nothing", async () => {
    expect(await failure(driver(registry.url, { type: "anonymous" }).listTags())).toMatch(
      new RegExp(`^Registry ${registry.url} requires authentication \\(401 Unauthorized\\) to GET /v2/${repo}/tags/list\\?n=1000 \\(listing the tags of ${repo}\\): UNAUTHORIZED: .*; configure registry.auth$`),
    );
  });

  it("uses a static bearer token as is, and says when the registry refuses it", async () => {
    const token = tokens.issue("alice", [`repository:${repo}:pull`]);
    expect(await driver(registry.url, { type: "bearer", token }).resolve("v1.8.0")).toBe(multi.digest);
    const message = await failure(driver(registry.url, { type: "bearer", token: "not-a-valid-token" }).resolve("v1.8.0"));
    expect(message).toBe(
      `Registry ${registry.url} refused the configured bearer credentials (401 Unauthorized) to GET /v2/${repo}/manifests/v1.8.0 (reading the manifest of ${registry.url}/${repo}:v1.8.0): UNAUTHORIZED: authentication required`,
    );
  });
});
