import http from "node:http";
import type { AddressInfo } from "node:net";

/** A request as the proxy saw it. */
export interface Exchange {
  method: string;
  /** Path and query, e.g. /v2/piksel-core/tags/list?n=2 */
  path: string;
  headers: http.IncomingHttpHeaders;
}

/** An answer, from the registry or made up by an interceptor. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Decides what the client gets: `upstream()` forwards the request to the real registry; an
 * interceptor may change that answer, make one up, or return "hang" to never answer.
 */
export type Interceptor = (req: Exchange, upstream: () => Promise<Answer>) => Promise<Answer | "hang">;

export interface RegistryProxy {
  url: string;
  host: string;
  /** Every request seen, in order. */
  requests: Exchange[];
  use(interceptor: Interceptor | null): void;
  stop(): Promise<void>;
}

const hopByHop = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "host"]);

/**
 * An HTTP proxy in front of a real registry that lets a test shape the answers: pages of tags as
 * distribution 3 serves them (docker-registry 2.8 ignores `n`), 503s and stalls to exercise retries
 * and timeouts, tampered bodies to exercise digest verification, redirects to another origin.
 */
export async function startProxy(target: string): Promise<RegistryProxy> {
  const requests: Exchange[] = [];
  let interceptor: Interceptor | null = null;
  const server = http.createServer((req, res) => {
    const exchange: Exchange = { method: req.method ?? "GET", path: req.url ?? "/", headers: req.headers };
    requests.push(exchange);
    const upstream = async (): Promise<Answer> => {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k, v]) => !hopByHop.has(k) && typeof v === "string")) as Record<string, string>;
      const r = await fetch(new URL(exchange.path, target), { method: exchange.method, headers, redirect: "manual" });
      const out: Record<string, string> = {};
      r.headers.forEach((v, k) => {
        if (!hopByHop.has(k)) out[k] = v;
      });
      return { status: r.status, headers: out, body: exchange.method === "HEAD" ? Buffer.alloc(0) : Buffer.from(await r.arrayBuffer()) };
    };
    (interceptor ? interceptor(exchange, upstream) : upstream()).then(
      (answer) => {
        if (answer === "hang") return;
        res.writeHead(answer.status, { ...answer.headers, "content-length": String(answer.body.length) });
        res.end(exchange.method === "HEAD" ? undefined : answer.body);
      },
      (err: Error) => {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(`proxy: ${err.message}`);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    use: (i) => (interceptor = i),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Pages of tags/list as distribution 3 and the OCI distribution spec serve them: lexical order,
 * `n` tags after `last`, and `Link: </v2/<name>/tags/list?last=..&n=..>; rel="next"` while more remain.
 */
export const paginateTags: Interceptor = async (req, upstream) => {
  const url = new URL(req.path, "http://proxy");
  const m = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
  const answer = await upstream();
  if (!m || answer.status !== 200) return answer;
  const all = ((JSON.parse(answer.body.toString("utf8")) as { tags: string[] | null }).tags ?? []).sort();
  const n = Number(url.searchParams.get("n") ?? all.length);
  const last = url.searchParams.get("last");
  const rest = last ? all.filter((t) => t > last) : all;
  const page = rest.slice(0, n);
  const headers = { ...answer.headers };
  if (rest.length > page.length) headers.link = `</v2/${m[1]}/tags/list?last=${encodeURIComponent(page.at(-1)!)}&n=${n}>; rel="next"`;
  return { status: 200, headers, body: Buffer.from(JSON.stringify({ name: m[1], tags: page })) };
};
