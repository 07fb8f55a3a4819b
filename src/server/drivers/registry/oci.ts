import "server-only";
import { withTimeout } from "../port";
import type { RegistryPort } from "./index";

type Auth = { type: "anonymous" } | { type: "basic"; username: string; password: string } | { type: "bearer"; token: string } | { type: "ecr"; region: string };

/** OCI Distribution API (ECR, GHCR, Harbor, docker-registry). Grows with the promotion issue. */
export function createOciRegistry(opts: { url: string; repository: string; auth: Auth }): RegistryPort {
  const base = opts.url.replace(/\/+$/, "");
  const headers = (): Record<string, string> => {
    if (opts.auth.type === "basic") return { authorization: `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString("base64")}` };
    if (opts.auth.type === "bearer") return { authorization: `Bearer ${opts.auth.token}` };
    return {};
  };
  return {
    driver: "oci",
    endpoint: `${base}/${opts.repository}`,
    async listTags() {
      const tags: string[] = [];
      let next: string | undefined = `${base}/v2/${opts.repository}/tags/list?n=1000`;
      const seen = new Set<string>();
      while (next && !seen.has(next)) {
        seen.add(next);
        const res: Response = await withTimeout(fetch(next, { headers: headers() }), 10_000, "registry");
        if (!res.ok) throw new Error(`registry answered ${res.status} for ${next}`);
        const body = (await res.json()) as { tags?: string[] | null };
        tags.push(...(body.tags ?? []));
        // Pagination per the distribution spec: Link: </v2/...?n=..&last=..>; rel="next"
        const link = res.headers.get("link")?.match(/<([^>]+)>;\s*rel="?next"?/);
        next = link ? new URL(link[1]!, base).toString() : undefined;
      }
      return tags;
    },
    async check() {
      const res = await withTimeout(fetch(`${base}/v2/`, { headers: headers() }), 5000, "registry");
      // 401 still proves an OCI registry answers; the credentials are checked when tags are listed.
      if (res.status !== 200 && res.status !== 401) throw new Error(`${base}/v2/ answered ${res.status}`);
      return res.status === 200 ? "API v2 reachable" : "API v2 reachable (authentication required)";
    },
  };
}
