import fs from "node:fs";
import type { Server } from "node:http";
import os from "node:os";
import path from "node:path";
import Provider from "oidc-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuth } from "~/server/auth";
import { loadConfig } from "~/server/config";
import { createAppDatabase } from "../support/databases";
import { freePort } from "../support/net";

/**
 * Production sign-in through a real OpenID Connect provider (node-oidc-provider, a certified
 * implementation) on loopback: authorization code + PKCE, discovery, userinfo, and roles mapped from
 * the groups claim at every sign-in.
 */
const consoleUrl = "http://localhost:3999";
let app: Awaited<ReturnType<typeof createAppDatabase>>;
let server: Server;
let issuer: string;
const groups: Record<string, string[]> = { olga: ["piksel-approvers", "staff"] };

/** A cookie jar per origin, enough for one browser-like walk through the redirects. */
class Jar {
  private readonly cookies = new Map<string, Map<string, string>>();
  store(url: string, res: Response) {
    const host = new URL(url).host;
    const jar = this.cookies.get(host) ?? new Map<string, string>();
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair!.indexOf("=");
      jar.set(pair!.slice(0, i).trim(), pair!.slice(i + 1));
    }
    this.cookies.set(host, jar);
  }
  header(url: string) {
    return [...(this.cookies.get(new URL(url).host) ?? new Map())].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

async function signInThroughProvider(auth: ReturnType<typeof createAuth>, login: string) {
  const jar = new Jar();
  const start = await auth.handler(
    new Request(`${consoleUrl}/api/auth/sign-in/social`, { method: "POST", headers: { "content-type": "application/json", origin: consoleUrl }, body: JSON.stringify({ provider: "oidc", callbackURL: "/environments" }) }),
  );
  expect(start.status).toBe(200);
  jar.store(consoleUrl, start);
  let url: string = ((await start.json()) as { url: string }).url;
  expect(url.startsWith(issuer)).toBe(true);
  // Walk the provider's redirects and its login and consent interactions like a browser would.
  for (let hop = 0; hop < 20; hop++) {
    if (url.startsWith(consoleUrl)) {
      const res = await auth.handler(new Request(url, { headers: { cookie: jar.header(url) } }));
      jar.store(url, res);
      return { res, cookie: jar.header(consoleUrl) };
    }
    let res = await fetch(url, { redirect: "manual", headers: { cookie: jar.header(url) } });
    jar.store(url, res);
    if (res.status === 200 && new URL(url).pathname.startsWith("/interaction/")) {
      const html = await res.text();
      const action = new URL(html.match(/action="([^"]+)"/)![1]!, url).toString();
      const form = html.includes('name="login"') ? new URLSearchParams({ prompt: "login", login, password: "any" }) : new URLSearchParams({ prompt: "consent" });
      res = await fetch(action, { method: "POST", redirect: "manual", headers: { cookie: jar.header(action), "content-type": "application/x-www-form-urlencoded" }, body: form });
      jar.store(action, res);
    }
    const next = res.headers.get("location");
    if (!next) throw new Error(`stuck at ${url} (${res.status}): ${(await res.text()).slice(0, 300)}`);
    url = new URL(next, url).toString();
  }
  throw new Error("too many redirects");
}

beforeAll(async () => {
  app = await createAppDatabase("oidc");
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: "piksel-console", client_secret: "test-secret-0123456789", redirect_uris: [`${consoleUrl}/api/auth/callback/oidc`], grant_types: ["authorization_code"], response_types: ["code"] }],
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
    scopes: ["openid", "email", "profile", "groups"],
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, email: `${id}@corp.example`, email_verified: true, name: "Olga Operator", groups: groups[id] ?? [] }) }),
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ["oidc-test-cookie-key"] },
  });
  server = provider.listen(port, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
});
afterAll(async () => {
  server?.close();
  await app?.drop();
});

describe("OIDC sign-in", () => {
  it("signs in through the provider and maps the groups claim to the highest role, at every sign-in", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-oidc-"));
    const file = path.join(dataDir, "piksel.yaml");
    fs.writeFileSync(
      file,
      `console: { publicUrl: "${consoleUrl}" }\nauth:\n  mode: oidc\n  oidc:\n    issuer: "${issuer}"\n    clientId: piksel-console\n    clientSecret: test-secret-0123456789\n    scopes: [openid, email, profile, groups]\n    roleMap: { piksel-approvers: approver, piksel-admins: admin, staff: viewer }\n`,
    );
    const config = loadConfig({ PIKSEL_CONFIG: file, PIKSEL_DATA_DIR: dataDir, PIKSEL_AUTH_SECRET: "s".repeat(40) });
    const auth = createAuth(app.db, config);

    const first = await signInThroughProvider(auth, "olga");
    expect(first.res.status).toBe(302);
    expect(first.res.headers.get("location")).toBe("/environments");
    const session = await auth.api.getSession({ headers: new Headers({ cookie: first.cookie }) });
    expect(session?.user).toMatchObject({ email: "olga@corp.example", name: "Olga Operator", role: "approver" });
    expect(first.res.headers.getSetCookie().find((c) => c.startsWith("better-auth.session_token"))).toMatch(/HttpOnly/i);

    // The provider's groups change: the next sign-in brings the new role.
    groups.olga = ["piksel-admins"];
    const second = await signInThroughProvider(auth, "olga");
    const again = await auth.api.getSession({ headers: new Headers({ cookie: second.cookie }) });
    expect(again?.user).toMatchObject({ email: "olga@corp.example", role: "admin" });
    expect(await app.db.user.count({ where: { email: "olga@corp.example" } })).toBe(1);

    // Nobody sets their own role: the self-service profile endpoint does not exist.
    const selfPromote = await auth.handler(
      new Request(`${consoleUrl}/api/auth/update-user`, { method: "POST", headers: { "content-type": "application/json", origin: consoleUrl, cookie: second.cookie }, body: JSON.stringify({ role: "admin", name: "x" }) }),
    );
    expect(selfPromote.status).toBe(404);
    groups.olga = ["staff"];
    const third = await signInThroughProvider(auth, "olga");
    expect((await auth.api.getSession({ headers: new Headers({ cookie: third.cookie }) }))?.user).toMatchObject({ role: "viewer" });
  });
});
