import { execFileSync } from "node:child_process";
import { createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { RegistryTokenAuth, RegistryUser } from "./server";

/** One request the token server answered. */
export interface TokenRequest {
  user: string | null;
  scopes: string[];
  status: number;
}

export interface TokenServer {
  /** What docker-registry's `auth.token` section needs. */
  auth: RegistryTokenAuth;
  requests: TokenRequest[];
  /** A token as the server would issue it, for the static-bearer tests. */
  issue(user: string, scopes: string[]): string;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/**
 * A small registry token service (distribution "Token Authentication Specification"): GET
 * <realm>?service=..&scope=.. with HTTP Basic credentials answers a JWT that docker-registry verifies
 * against the certificate in its rootcertbundle (RS256, `x5c` header). Wrong credentials get 401;
 * anonymous callers get a token with no access, as Docker Hub gives, so the registry itself refuses.
 */
export async function startTokenServer(opts: { users: RegistryUser[]; expiresIn?: number; service?: string }): Promise<TokenServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-token-"));
  const keyFile = path.join(dir, "key.pem");
  const certFile = path.join(dir, "cert.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=piksel-test-token-issuer"], { stdio: "ignore" });
  const key: KeyObject = createPrivateKey(fs.readFileSync(keyFile));
  const certDer = new X509Certificate(fs.readFileSync(certFile)).raw.toString("base64");
  const service = opts.service ?? "piksel-test-registry";
  const issuer = "piksel-test-token-issuer";
  const expiresIn = opts.expiresIn ?? 300;
  const requests: TokenRequest[] = [];

  const issue = (user: string | null, scopes: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    const access = user
      ? scopes.map((s) => {
          const parts = s.split(":");
          return { type: parts[0], name: parts.slice(1, -1).join(":"), actions: parts.at(-1)!.split(",") };
        })
      : [];
    const header = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [certDer] }));
    const claims = b64url(JSON.stringify({ iss: issuer, sub: user ?? "", aud: service, exp: now + expiresIn, nbf: now - 10, iat: now, jti: randomUUID(), access }));
    const signature = b64url(sign("sha256", Buffer.from(`${header}.${claims}`), key));
    return `${header}.${claims}.${signature}`;
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://token");
    const scopes = url.searchParams.getAll("scope");
    const answer = (status: number, body: unknown, user: string | null) => {
      requests.push({ user, scopes, status });
      res.writeHead(status, { "content-type": "application/json", ...(status === 401 && { "www-authenticate": 'Basic realm="piksel-test-token"' }) });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== "/token") return answer(404, { errors: [{ code: "NOT_FOUND" }] }, null);
    if (url.searchParams.get("service") !== service) return answer(400, { errors: [{ code: "UNSUPPORTED", message: "unknown service" }] }, null);
    const authz = req.headers.authorization;
    if (!authz) return answer(200, { token: issue(null, scopes), expires_in: expiresIn, issued_at: new Date().toISOString() }, null);
    const decoded = authz.startsWith("Basic ") ? Buffer.from(authz.slice(6), "base64").toString("utf8") : "";
    const colon = decoded.indexOf(":");
    const user = opts.users.find((u) => u.username === decoded.slice(0, colon) && u.password === decoded.slice(colon + 1));
    if (colon < 0 || !user) return answer(401, { details: "incorrect username or password" }, decoded.slice(0, Math.max(colon, 0)) || null);
    const token = issue(user.username, scopes);
    // Some services answer `access_token`, some `token`; the spec has clients accept either.
    answer(200, { access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() }, user.username);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    auth: { realm: `http://127.0.0.1:${port}/token`, service, issuer, rootCertBundle: certFile },
    requests,
    issue: (user, scopes) => issue(user, scopes),
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
