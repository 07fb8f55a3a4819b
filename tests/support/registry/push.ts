import { createHash } from "node:crypto";
import type { BuiltImage } from "~/server/embedded/image-history";
import type { RegistryUser } from "./server";

const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/**
 * A minimal registry client for pushing, kept apart from the driver under test so that a bug in the
 * driver's auth cannot make its own fixtures pass. Basic credentials go up front; a Bearer challenge
 * is answered once through the token service with `pull,push` scope.
 */
class Pusher {
  private authorization: string | undefined;

  constructor(
    private readonly registryUrl: string,
    private readonly repository: string,
    private readonly user?: RegistryUser,
  ) {
    if (user) this.authorization = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`;
  }

  async request(method: string, pathOrUrl: string, init: { headers?: Record<string, string>; body?: Buffer } = {}): Promise<Response> {
    const url = new URL(pathOrUrl, this.registryUrl);
    const go = () =>
      fetch(url, {
        method,
        headers: { ...init.headers, ...(this.authorization && { authorization: this.authorization }) },
        ...(init.body && { body: new Uint8Array(init.body) }),
      });
    let res = await go();
    const challenge = res.headers.get("www-authenticate") ?? "";
    if (res.status === 401 && /^Bearer /i.test(challenge)) {
      await res.body?.cancel();
      const param = (k: string) => new RegExp(`${k}="([^"]*)"`).exec(challenge)?.[1];
      const tokenUrl = new URL(param("realm")!);
      tokenUrl.searchParams.set("service", param("service") ?? "");
      tokenUrl.searchParams.set("scope", `repository:${this.repository}:pull,push`);
      const basic = this.user && `Basic ${Buffer.from(`${this.user.username}:${this.user.password}`).toString("base64")}`;
      const tokenRes = await fetch(tokenUrl, { headers: basic ? { authorization: basic } : {} });
      if (!tokenRes.ok) throw new Error(`push: token service answered ${tokenRes.status}`);
      const body = (await tokenRes.json()) as { token?: string; access_token?: string };
      this.authorization = `Bearer ${body.token ?? body.access_token}`;
      res = await go();
    }
    return res;
  }

  async expect(res: Response, status: number, what: string): Promise<Response> {
    if (res.status !== status) throw new Error(`push ${what}: ${res.status} ${await res.text()}`);
    return res;
  }
}

/**
 * Pushes an image through the registry HTTP API as CI would: each blob by a monolithic upload
 * (POST, then PUT with the digest), per-platform manifests by digest, then the tagged manifest.
 * Resolves with the digest the registry returned for the tag.
 */
export async function pushImage(registryUrl: string, repository: string, image: BuiltImage, user?: RegistryUser): Promise<string> {
  const p = new Pusher(registryUrl, repository, user);
  for (const blob of image.blobs) {
    const head = await p.request("HEAD", `/v2/${repository}/blobs/${blob.digest}`);
    if (head.status === 200) continue;
    const start = await p.expect(await p.request("POST", `/v2/${repository}/blobs/uploads/`), 202, `upload start of ${blob.digest}`);
    const location = new URL(start.headers.get("location")!, registryUrl);
    location.searchParams.set("digest", blob.digest);
    const put = await p.request("PUT", location.toString(), { headers: { "content-type": "application/octet-stream" }, body: blob.bytes });
    await p.expect(put, 201, `blob ${blob.digest}`);
    if (put.headers.get("docker-content-digest") !== blob.digest) throw new Error(`push: registry stored ${blob.digest} as ${put.headers.get("docker-content-digest")}`);
  }
  let digest = "";
  for (const [i, m] of image.manifests.entries()) {
    const reference = i === image.manifests.length - 1 ? image.tag : m.digest;
    const put = await p.request("PUT", `/v2/${repository}/manifests/${reference}`, { headers: { "content-type": m.mediaType }, body: m.bytes });
    await p.expect(put, 201, `manifest ${reference}`);
    digest = put.headers.get("docker-content-digest") ?? "";
    if (digest !== m.digest) throw new Error(`push: registry answered digest ${digest} for manifest ${m.digest}`);
  }
  return digest;
}

/**
 * The same single-platform image with Docker schema 2 media types, as `docker build` + `docker push`
 * produce (and ECR stores by default).
 */
export function asDockerSchema2(image: BuiltImage): BuiltImage {
  if (image.manifests.length !== 1) throw new Error("asDockerSchema2 takes a single-platform image");
  const oci = JSON.parse(image.manifests[0]!.bytes.toString("utf8")) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      config: { mediaType: "application/vnd.docker.container.image.v1+json", size: oci.config.size, digest: oci.config.digest },
      layers: oci.layers.map((l) => ({ mediaType: "application/vnd.docker.image.rootfs.diff.tar", size: l.size, digest: l.digest })),
    }),
  );
  const manifest = { digest: sha256(bytes), mediaType: "application/vnd.docker.distribution.manifest.v2+json", bytes };
  return { ...image, digest: manifest.digest, mediaType: manifest.mediaType, manifests: [manifest] };
}
