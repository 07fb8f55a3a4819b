import "server-only";
import type { ECRClient } from "@aws-sdk/client-ecr";
import { AppError } from "../../errors";
import { RegistryAuthenticator, type RegistryAuth } from "./auth";
import { defaultHttpPolicy, send, type HttpPolicy, type HttpResponse } from "./http";
import {
  checkReference,
  digestOf,
  inspectImage,
  isDigest,
  isRepository,
  manifestAccept,
  maxConfigBytes,
  maxManifestBytes,
  verifyContent,
  type ContentSource,
  type Descriptor,
  type Platform,
} from "./image";
import type { RegistryPort } from "./index";

/** `registry` configuration of an environment with `driver: oci` (src/server/config.ts). */
export interface OciRegistryConfig {
  url: string;
  repository: string;
  auth: RegistryAuth;
}

/** Knobs that are not configuration: tests and callers with special needs set them. */
export interface OciRegistryOptions extends Partial<HttpPolicy> {
  /** Tags asked per page of tags/list; a hint that registries may lower or ignore. */
  pageSize?: number;
  /** Platform whose config `inspect` reads from a multi-platform image (default linux/amd64). */
  platform?: Platform;
  /** ECR client to use instead of one built from the region and the default credential chain. */
  ecrClient?: ECRClient;
  /** Clock of the token caches. */
  now?: () => number;
}

/** Tag lists of registries that ignore `n` arrive whole; this bounds one page, not the repository. */
const maxTagPageBytes = 32 * 1024 * 1024;
const maxTagPages = 10_000;

/** The first error of a distribution error body (`{"errors":[{"code","message"}]}`), if any. */
function registryError(body: Buffer): { code: string; text: string } | null {
  try {
    const e = (JSON.parse(body.toString("utf8")) as { errors?: { code?: unknown; message?: unknown }[] }).errors?.[0];
    if (!e || typeof e.code !== "string") return null;
    return { code: e.code, text: `${e.code}${typeof e.message === "string" && e.message ? `: ${e.message.slice(0, 200)}` : ""}` };
  } catch {
    return null;
  }
}

/** The `rel="next"` target of a Link header, resolved against the request URL (RFC 8288). */
export function nextLink(header: string | null, requestUrl: URL): URL | null {
  if (!header) return null;
  for (const m of header.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]+)*)/g)) {
    const rel = /;\s*rel\s*=\s*"?([^";,]+)"?/i.exec(m[2] ?? "")?.[1];
    if (rel?.toLowerCase().split(/\s+/).includes("next")) return new URL(m[1]!, requestUrl);
  }
  return null;
}

/**
 * OCI Distribution API driver (ECR, GHCR, Harbor, Docker Hub, docker-registry). Reads only: tags,
 * tag -> digest, and the config labels of an image. See docs/adr/0008-registry-drivers.md.
 */
export function createOciRegistry(config: OciRegistryConfig, options: OciRegistryOptions = {}): RegistryPort {
  const policy: HttpPolicy = {
    timeoutMs: options.timeoutMs ?? defaultHttpPolicy.timeoutMs,
    retries: options.retries ?? defaultHttpPolicy.retries,
    retryBaseMs: options.retryBaseMs ?? defaultHttpPolicy.retryBaseMs,
    maxRetryDelayMs: options.maxRetryDelayMs ?? defaultHttpPolicy.maxRetryDelayMs,
  };
  const pageSize = options.pageSize ?? 1000;
  const platform = options.platform ?? { os: "linux", architecture: "amd64" };
  const repo = config.repository;

  // Configuration problems surface on first use (and in check()), so that one bad environment does
  // not stop the ports of the others from being built.
  let problem: string | null = null;
  let base: URL;
  try {
    base = new URL(config.url);
  } catch {
    base = new URL("http://invalid.invalid");
    problem = "registry url is not a valid URL";
  }
  // fetch refuses URLs with user:password, and a password in a URL ends up in logs.
  if (base.username || base.password) problem = `registry url ${base.protocol}//${base.host} must not contain credentials; put them under registry.auth`;
  else if (!isRepository(repo)) problem = `"${repo}" is not a valid repository name (lower-case path components such as piksel/piksel-core)`;
  base.username = "";
  base.password = "";
  const root = `${base.origin}${base.pathname.replace(/\/+$/, "")}`;
  // Docker Hub serves the API on registry-1.docker.io while images are named docker.io/...
  const host = base.host === "registry-1.docker.io" ? "docker.io" : base.host;

  const authn = new RegistryAuthenticator({ auth: config.auth, registry: base, policy, ecrClient: options.ecrClient, now: options.now ?? Date.now });

  interface Call {
    method: "GET" | "HEAD";
    path: string | URL;
    accept: string;
    maxBytes: number;
    /** What was asked, for messages: "listing the tags of piksel-core". */
    asked: string;
    /** Token scope; "" for the /v2/ ping. */
    scope?: string;
  }

  const urlOf = (path: string | URL) => (typeof path === "string" ? new URL(`${root}${path}`) : path);
  const shown = (url: URL) => `${url.pathname}${url.search}`;

  async function call(c: Call): Promise<HttpResponse> {
    if (problem) throw new Error(`Registry ${root}: ${problem}`);
    const url = urlOf(c.path);
    const scope = c.scope ?? `repository:${repo}:pull`;
    const what = `Registry ${root}: ${c.method} ${shown(url)} (${c.asked})`;
    const request = async () => {
      const authorization = await authn.header(scope);
      const headers: Record<string, string> = { accept: c.accept, ...(authorization && { authorization }) };
      return { res: await send({ method: c.method, url, headers, maxBytes: c.maxBytes }, policy, what), authorization };
    };
    const first = await request();
    if (first.res.status === 401 && authn.challenged(first.res.headers.get("www-authenticate"), scope, first.authorization)) {
      return (await request()).res;
    }
    return first.res;
  }

  function failure(c: Call, res: HttpResponse): Error {
    const detail = registryError(res.body);
    const status = `${res.status} ${res.statusText}`.trim();
    const phrase =
      res.status === 401
        ? config.auth.type === "anonymous"
          ? `requires authentication (${status})`
          : `refused the configured ${config.auth.type} credentials (${status})`
        : res.status === 403
          ? `denied access (${status})`
          : `answered ${status}`;
    const hint = res.status === 401 && config.auth.type === "anonymous" ? "; configure registry.auth" : "";
    return new Error(`Registry ${root} ${phrase} to ${c.method} ${shown(urlOf(c.path))} (${c.asked})${detail ? `: ${detail.text}` : ""}${hint}`);
  }

  function notFound(reference: string, res: HttpResponse): AppError {
    if (registryError(res.body)?.code === "NAME_UNKNOWN") return new AppError("NOT_FOUND", `Repository ${repo} not found in registry ${root}`);
    const name = isDigest(reference) ? `${repo}@${reference}` : `${repo}:${reference}`;
    return new AppError("NOT_FOUND", `Image ${name} not found in registry ${root}`);
  }

  const describe = (reference: string) => `${root}/${repo}${isDigest(reference) ? "@" : ":"}${reference}`;

  async function getManifest(reference: string, expected?: Descriptor) {
    const c: Call = { method: "GET", path: `/v2/${repo}/manifests/${reference}`, accept: manifestAccept, maxBytes: maxManifestBytes, asked: `reading the manifest of ${describe(reference)}` };
    const res = await call(c);
    if (res.status === 404) throw notFound(reference, res);
    if (res.status !== 200) throw failure(c, res);
    const contentType = res.headers.get("content-type")?.split(";")[0]?.trim() || null;
    const header = res.headers.get("docker-content-digest");
    const what = `Manifest of ${describe(reference)}`;
    let digest: string;
    if (isDigest(reference)) {
      verifyContent(res.body, reference, what, expected?.size);
      digest = reference;
    } else if (header && isDigest(header)) {
      verifyContent(res.body, header, what);
      digest = header;
    } else {
      // Some registries and proxies omit Docker-Content-Digest; the digest is the hash of the bytes.
      digest = digestOf(res.body);
    }
    return { digest, contentType, bytes: res.body };
  }

  const source: ContentSource = {
    describe,
    manifest: getManifest,
    async blob(d) {
      const c: Call = { method: "GET", path: `/v2/${repo}/blobs/${d.digest}`, accept: "application/octet-stream, */*", maxBytes: maxConfigBytes, asked: `reading blob ${d.digest} of ${repo}` };
      const res = await call(c);
      if (res.status !== 200) throw failure(c, res);
      verifyContent(res.body, d.digest, `Blob ${d.digest} of ${root}/${repo}`, d.size);
      return res.body;
    },
  };

  return {
    driver: "oci",
    endpoint: `${root}/${repo}`,
    imageName: `${host}${base.pathname.replace(/\/+$/, "")}/${repo}`,

    async listTags() {
      const tags: string[] = [];
      const seenTags = new Set<string>();
      const visited = new Set<string>();
      let url: URL | null = urlOf(`/v2/${repo}/tags/list?n=${pageSize}`);
      while (url) {
        const asked = `listing the tags of ${repo}`;
        if (visited.has(url.href)) throw new Error(`Registry ${root}: tag list pagination loops (${shown(url)} was already fetched) while ${asked}`);
        if (visited.size >= maxTagPages) throw new Error(`Registry ${root}: more than ${maxTagPages} pages of tags while ${asked}`);
        visited.add(url.href);
        const c: Call = { method: "GET", path: url, accept: "application/json", maxBytes: maxTagPageBytes, asked };
        const res = await call(c);
        if (res.status === 404) throw new AppError("NOT_FOUND", `Repository ${repo} not found in registry ${root}`);
        if (res.status !== 200) throw failure(c, res);
        let page: { tags?: unknown };
        try {
          page = JSON.parse(res.body.toString("utf8"));
        } catch {
          throw new Error(`Registry ${root}: the tag list at ${shown(url)} is not JSON`);
        }
        // An empty repository answers `"tags": null` on some registries.
        const pageTags = Array.isArray(page.tags) ? page.tags.filter((t): t is string => typeof t === "string") : [];
        const fresh = pageTags.filter((t) => !seenTags.has(t));
        for (const t of fresh) seenTags.add(t);
        tags.push(...fresh);
        const next = nextLink(res.headers.get("link"), res.url);
        // A page with nothing new that still points onwards is a loop the URL check cannot see
        // (e.g. a `last` parameter the registry ignores).
        if (next && pageTags.length && !fresh.length) throw new Error(`Registry ${root}: tag list pagination loops (${shown(next)} repeats tags already listed) while ${asked}`);
        if (next && next.origin !== base.origin) throw new Error(`Registry ${root}: the tag list links to another origin (${next.origin}); refusing to follow it with the registry's credentials`);
        url = next;
      }
      return tags;
    },

    async resolve(reference) {
      checkReference(reference);
      const head = await call({ method: "HEAD", path: `/v2/${repo}/manifests/${reference}`, accept: manifestAccept, maxBytes: 0, asked: `resolving ${describe(reference)}` });
      const digest = head.headers.get("docker-content-digest");
      if (head.status === 200 && digest && isDigest(digest) && (!isDigest(reference) || digest === reference)) return digest;
      // GET when HEAD gave no usable digest (some registries omit the header or refuse HEAD) or
      // failed: its body says whether the repository or the manifest is unknown.
      return (await getManifest(reference)).digest;
    },

    inspect(reference) {
      return inspectImage(source, reference, platform);
    },

    async check() {
      const ping: Call = { method: "GET", path: "/v2/", accept: "application/json", maxBytes: 1024 * 1024, asked: "API version check", scope: "" };
      const res = await call(ping);
      if (res.status !== 200) throw failure(ping, res);
      const list: Call = { method: "GET", path: `/v2/${repo}/tags/list?n=1`, accept: "application/json", maxBytes: maxTagPageBytes, asked: `reading repository ${repo}` };
      const tags = await call(list);
      if (tags.status === 404) throw new Error(`Registry ${root} answers, but repository ${repo} does not exist there`);
      if (tags.status !== 200) throw failure(list, tags);
      return `API v2 reachable, ${repo} readable`;
    },
  };
}
