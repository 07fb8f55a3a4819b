import "server-only";
import type { ECRClient } from "@aws-sdk/client-ecr";
import { send, type HttpPolicy } from "./http";

/** Credentials of a registry, as configured (`registry.auth`). */
export type RegistryAuth =
  | { type: "anonymous" }
  | { type: "basic"; username: string; password: string }
  | { type: "bearer"; token: string }
  | { type: "ecr"; region: string };

/** One challenge of a WWW-Authenticate header: scheme (lower case) and its parameters. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

const tokenChars = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;
const param = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/;

/**
 * Parses a WWW-Authenticate header (RFC 9110 11.6.1). Quoted values may hold commas — the token
 * flow's `scope="repository:a:pull,push"` does — and fetch joins several headers with ", ", so the
 * parser walks the string instead of splitting it.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let rest = header;
  const skip = (re: RegExp) => (rest = rest.replace(re, ""));
  while (skip(/^[\s,]+/).length) {
    const scheme = tokenChars.exec(rest);
    if (!scheme) break;
    rest = rest.slice(scheme[0].length);
    const challenge: Challenge = { scheme: scheme[0].toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      skip(/^\s*,?\s*/);
      const m = param.exec(rest);
      if (!m) break;
      challenge.params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3]!;
      rest = rest.slice(m[0].length);
    }
    // A token68 credential (`Basic abc==`) is not a parameter; step over it.
    if (/^[A-Za-z0-9._~+/-]+=*\s*(,|$)/.test(rest)) skip(/^[A-Za-z0-9._~+/-]+=*/);
  }
  return out;
}

const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;

interface Cached {
  value: string;
  refreshAt: number;
}

/**
 * Produces the Authorization header of registry requests and learns from 401 answers:
 * - anonymous: nothing, unless the registry asks for a token (public repositories on token registries);
 * - basic: sent up front; when the registry answers with a Bearer challenge instead (Docker Hub,
 *   GHCR, Harbor, docker-registry with token auth), the credentials go to the token service;
 * - bearer: a pre-issued token, sent as is and never refreshed;
 * - ecr: ECR's GetAuthorizationToken gives a 12-hour password for the user `AWS`, used as basic.
 * Tokens are cached per realm, service and scope until shortly before they expire.
 */
export class RegistryAuthenticator {
  private realm: { realm: string; service: string | undefined } | null = null;
  private readonly scopeFor = new Map<string, string>();
  private readonly tokens = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<string>>();
  private ecr: Cached | null = null;
  private ecrPending: Promise<string> | null = null;
  private ecrClient: ECRClient | undefined;

  constructor(
    private readonly opts: {
      auth: RegistryAuth;
      /** Registry base URL, for messages and the plain-http rule. */
      registry: URL;
      policy: HttpPolicy;
      ecrClient?: ECRClient;
      now: () => number;
    },
  ) {
    this.ecrClient = opts.ecrClient;
  }

  /** The Authorization header for a request that needs `scope` ("" for the /v2/ ping). */
  async header(scope: string): Promise<string | undefined> {
    const auth = this.opts.auth;
    if (auth.type === "bearer") return `Bearer ${auth.token}`;
    if (this.realm) return `Bearer ${await this.token(this.realm, this.scopeFor.get(scope) ?? scope)}`;
    if (auth.type === "basic") return basic(auth.username, auth.password);
    if (auth.type === "ecr") return this.ecrHeader();
    return undefined;
  }

  /**
   * Learns from a 401. True when another attempt may succeed: a token challenge to answer, or a
   * cached token or ECR password that stopped working before its announced expiry. False when the
   * configured credentials themselves were refused.
   */
  challenged(wwwAuthenticate: string | null, scope: string, sent: string | undefined): boolean {
    const auth = this.opts.auth;
    const bearer = parseChallenges(wwwAuthenticate ?? "").find((c) => c.scheme === "bearer" && c.params.realm);
    if (bearer && auth.type !== "bearer" && auth.type !== "ecr") {
      const realm = { realm: bearer.params.realm!, service: bearer.params.service };
      const wanted = bearer.params.scope ?? scope;
      // A cached token refused before its expiry (revoked, or the server restarted with a new key)
      // is dropped so that the one retry fetches a fresh one.
      const key = tokenKey(realm, wanted);
      if (sent === `Bearer ${this.tokens.get(key)?.value}`) this.tokens.delete(key);
      this.realm = realm;
      this.scopeFor.set(scope, wanted);
      return true;
    }
    if (auth.type === "ecr" && sent && this.ecr?.value === sent) {
      this.ecr = null;
      return true;
    }
    return false;
  }

  private token(realm: { realm: string; service: string | undefined }, scope: string): Promise<string> {
    const key = tokenKey(realm, scope);
    const cached = this.tokens.get(key);
    if (cached && this.opts.now() < cached.refreshAt) return Promise.resolve(cached.value);
    let inFlight = this.pending.get(key);
    if (!inFlight) {
      inFlight = this.fetchToken(realm, scope)
        .then((t) => (this.tokens.set(key, t), t.value))
        .finally(() => this.pending.delete(key));
      this.pending.set(key, inFlight);
    }
    return inFlight;
  }

  /** The registry token flow (distribution spec, "Token Authentication Specification"). */
  private async fetchToken(realm: { realm: string; service: string | undefined }, scope: string): Promise<Cached> {
    let url: URL;
    try {
      url = new URL(realm.realm);
    } catch {
      throw new Error(`Registry ${this.opts.registry.origin} names an invalid token realm "${realm.realm}"`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error(`Registry ${this.opts.registry.origin} names a token realm that is not http(s): ${url.origin}`);
    if (realm.service) url.searchParams.set("service", realm.service);
    for (const s of scope.split(" ").filter(Boolean)) url.searchParams.append("scope", s);
    const auth = this.opts.auth;
    const headers: Record<string, string> = { accept: "application/json" };
    if (auth.type === "basic") {
      // Credentials of an https registry never travel in clear text to a realm it points at.
      if (url.protocol === "http:" && this.opts.registry.protocol === "https:") {
        throw new Error(`Refusing to send the credentials for ${this.opts.registry.origin} to the token service ${url.origin} over plain http`);
      }
      headers.authorization = basic(auth.username, auth.password);
    }
    const service = `${url.origin}${url.pathname}`;
    const what = `Token service ${service} (scope "${scope || "registry"}")`;
    const started = this.opts.now();
    const res = await send({ method: "GET", url, headers, maxBytes: 1024 * 1024 }, this.opts.policy, what);
    if (res.status === 401 || res.status === 403) {
      const who = auth.type === "basic" ? `the credentials of user "${auth.username}"` : "anonymous access";
      throw new Error(`${what} refused ${who} (${res.status} ${res.statusText})`);
    }
    if (res.status !== 200) throw new Error(`${what} answered ${res.status} ${res.statusText}`);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(res.body.toString("utf8"));
    } catch {
      throw new Error(`${what} answered with something that is not JSON`);
    }
    const value = typeof body.token === "string" && body.token ? body.token : body.access_token;
    if (typeof value !== "string" || !value) throw new Error(`${what} answered without a token`);
    // The spec's default lifetime is 60 s. Time is measured from our own clock at the request, not the
    // server's issued_at, so clock skew between the two cannot keep an expired token in the cache.
    const ttl = (typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60) * 1000;
    return { value, refreshAt: started + ttl - Math.min(30_000, ttl / 4) };
  }

  private ecrHeader(): Promise<string> {
    if (this.ecr && this.opts.now() < this.ecr.refreshAt) return Promise.resolve(this.ecr.value);
    this.ecrPending ??= this.fetchEcr()
      .then((c) => ((this.ecr = c), c.value))
      .finally(() => (this.ecrPending = null));
    return this.ecrPending;
  }

  private async fetchEcr(): Promise<Cached> {
    const { region } = this.opts.auth as { region: string };
    // Loaded on first use: only ECR deployments pay for the AWS SDK.
    const { ECRClient, GetAuthorizationTokenCommand } = await import("@aws-sdk/client-ecr");
    this.ecrClient ??= new ECRClient({ region });
    let data;
    try {
      // No registryIds: the token of the caller's default registry is valid for every ECR registry
      // the IAM principal may read (registryIds is deprecated for that reason).
      const out = await this.ecrClient.send(new GetAuthorizationTokenCommand({}));
      data = out.authorizationData?.[0];
    } catch (err) {
      const e = err as { name?: string; message?: string };
      throw new Error(`ECR GetAuthorizationToken in ${region} failed for ${this.opts.registry.origin}: ${e.name ?? "Error"}: ${e.message ?? String(err)}`);
    }
    const token = data?.authorizationToken;
    // The token is base64("AWS:<password>"): exactly the credentials of an HTTP Basic header.
    if (!token || !Buffer.from(token, "base64").toString("utf8").includes(":")) {
      throw new Error(`ECR GetAuthorizationToken in ${region} returned no usable authorization token`);
    }
    const now = this.opts.now();
    const expiresAt = data?.expiresAt instanceof Date ? data.expiresAt.getTime() : now + 12 * 3600_000;
    return { value: `Basic ${token}`, refreshAt: expiresAt - Math.min(5 * 60_000, (expiresAt - now) / 2) };
  }
}

const tokenKey = (realm: { realm: string; service: string | undefined }, scope: string) => `${realm.realm}\n${realm.service ?? ""}\n${scope}`;
