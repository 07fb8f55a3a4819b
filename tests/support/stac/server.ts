import http from "node:http";
import type { AddressInfo } from "node:net";
import type { StacItem } from "./items";

/**
 * A small STAC API for tests and benches (node:http): landing page and `/search` over GET and POST,
 * filtered by collections, bbox and datetime, paged with `next` links in both forms (GET: a `token`
 * parameter; POST: a `body` with the token and `merge: true`, as stac-fastapi and Earth Search do),
 * with `numberMatched`. Faults are injected per request to test the client: statuses with
 * Retry-After, broken JSON, stalls and pagination loops.
 */

export interface SearchRequestInfo {
  /** 1-based count of /search requests so far, this one included. */
  requestNo: number;
  /** 1-based page number this request asks for (from its token). */
  pageNo: number;
  /** How many times this page has been asked for, this request included. */
  attempt: number;
  method: string;
}

export type Fault =
  | { status: number; retryAfter?: string; body?: string }
  | { brokenJson: true }
  /** Answer only after this long (a stalled server; the client's timeout should fire first). */
  | { stallMs: number };

export interface StacTestServerOptions {
  items: StacItem[];
  /** Largest page the server serves, whatever `limit` asks for (Earth Search: 100 by default). */
  maxLimit?: number;
  /** Called for every /search request; a returned fault replaces the answer. */
  fault?: (req: SearchRequestInfo) => Fault | undefined;
  /** `repeat-link`: the next link points at the current page; `repeat-page`: new tokens, same items. */
  loop?: "repeat-link" | "repeat-page";
  /** Leave `numberMatched` out, as some servers do. */
  omitNumberMatched?: boolean;
  /** Add a next link to every page, the last (empty) one included, as some servers do. */
  alwaysNext?: boolean;
  /** JSON texts served verbatim at the start of the first page, whatever the filters (features that are not items). */
  rawFeatures?: string[];
}

export interface RecordedRequest {
  method: string;
  url: string;
  body: Record<string, unknown> | null;
  /** performance.now() when it arrived. */
  at: number;
}

export interface StacTestServer {
  /** The API root, `http://127.0.0.1:<port>/v1`. */
  url: string;
  requests: RecordedRequest[];
  /** Replace what the server serves (a later "state" of the catalogue). */
  setItems(items: StacItem[]): void;
  /** Replace the fault hook; request and attempt counting start over. */
  setFault(fault: StacTestServerOptions["fault"]): void;
  close(): Promise<void>;
}

interface Query {
  collections?: string[];
  bbox?: number[];
  datetime?: string;
  limit: number;
  offset: number;
}

function interval(datetime: string | undefined): [number, number] {
  if (!datetime) return [-Infinity, Infinity];
  const [a, b = a] = datetime.split("/");
  const t = (s: string | undefined, open: number) => (!s || s === ".." ? open : Date.parse(s));
  return [t(a, -Infinity), t(b, Infinity)];
}

export async function startStacTestServer(opts: StacTestServerOptions): Promise<StacTestServer> {
  let items = opts.items;
  let fault = opts.fault;
  // Pages are built from each item's JSON text, serialised once: a 1 000-item page costs a join.
  const text = new WeakMap<StacItem, string>();
  const json = (item: StacItem) => {
    let s = text.get(item);
    if (s === undefined) {
      s = JSON.stringify(item);
      text.set(item, s);
    }
    return s;
  };
  const requests: RecordedRequest[] = [];
  const attempts = new Map<string, number>();
  let requestNo = 0;
  const maxLimit = opts.maxLimit ?? 1000;

  const search = (q: Query, method: string, base: string, res: http.ServerResponse, signature: string) => {
    requestNo++;
    const pageNo = Math.floor(q.offset / q.limit) + 1;
    const attempt = (attempts.get(signature) ?? 0) + 1;
    attempts.set(signature, attempt);
    const f = fault?.({ requestNo, pageNo, attempt, method });
    if (f && "status" in f) {
      res.writeHead(f.status, { "content-type": "application/json", ...(f.retryAfter !== undefined && { "retry-after": f.retryAfter }) });
      res.end(f.body ?? JSON.stringify({ code: "Fault", description: `injected ${f.status}` }));
      return;
    }
    if (f && "stallMs" in f) {
      const timer = setTimeout(() => res.destroy(), f.stallMs);
      res.once("close", () => clearTimeout(timer));
      return;
    }
    const [from, to] = interval(q.datetime);
    const matching = items.filter((it) => {
      if (q.collections && !q.collections.includes(it.collection)) return false;
      if (q.bbox) {
        const [w, s, e, n] = q.bbox as [number, number, number, number];
        const b = it.bbox;
        if (!b || b[0]! > e || b[2]! < w || b[1]! > n || b[3]! < s) return false;
      }
      const t = Date.parse(it.properties?.datetime);
      return t >= from && t <= to;
    });
    const offset = opts.loop === "repeat-page" ? 0 : q.offset;
    const raw = offset === 0 ? (opts.rawFeatures ?? []) : [];
    const page = matching.slice(offset, offset + q.limit);
    const nextOffset = opts.loop === "repeat-link" && q.offset > 0 ? q.offset : q.offset + q.limit;
    const links: unknown[] = [{ rel: "root", href: base }];
    if (q.offset + q.limit < matching.length || opts.alwaysNext) {
      if (method === "POST") {
        links.push({ rel: "next", href: `${base}/search`, method: "POST", body: { token: `next:${nextOffset}` }, merge: true, type: "application/geo+json" });
      } else {
        const params = new URLSearchParams();
        if (q.collections) params.set("collections", q.collections.join(","));
        if (q.bbox) params.set("bbox", q.bbox.join(","));
        if (q.datetime) params.set("datetime", q.datetime);
        params.set("limit", String(q.limit));
        params.set("token", `next:${nextOffset}`);
        links.push({ rel: "next", href: `${base}/search?${params}`, type: "application/geo+json" });
      }
    }
    const head = `{"type":"FeatureCollection","features":[`;
    const tail = `],"links":${JSON.stringify(links)},${opts.omitNumberMatched ? "" : `"numberMatched":${matching.length},`}"numberReturned":${raw.length + page.length}}`;
    let body = head + [...raw, ...page.map(json)].join(",") + tail;
    // A page cut short, as a dropped proxy connection leaves it.
    if (f && "brokenJson" in f) body = body.slice(0, Math.floor(body.length / 2));
    res.writeHead(200, { "content-type": "application/geo+json" });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const base = `http://${req.headers.host}/v1`;
      let body: Record<string, unknown> | null = null;
      if (chunks.length > 0) {
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
        } catch {
          res.writeHead(400, { "content-type": "application/json" });
          res.end(JSON.stringify({ code: "BadRequest", description: "the request body is not JSON" }));
          return;
        }
      }
      requests.push({ method: req.method ?? "GET", url: url.toString(), body, at: performance.now() });
      if (url.pathname === "/v1" || url.pathname === "/v1/") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ type: "Catalog", stac_version: "1.0.0", id: "test", title: "STAC test server", links: [{ rel: "search", href: `${base}/search` }] }));
        return;
      }
      if (url.pathname !== "/v1/search" || (req.method !== "GET" && req.method !== "POST")) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ code: "NotFound", description: `no route ${req.method} ${url.pathname}` }));
        return;
      }
      const get = (k: string) => (req.method === "POST" ? body?.[k] : url.searchParams.get(k) ?? undefined);
      const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : typeof v === "string" ? v.split(",") : undefined);
      const token = String(get("token") ?? "next:0");
      const limit = Math.min(Number(get("limit") ?? 10) || 10, maxLimit);
      const q: Query = {
        collections: list(get("collections")),
        bbox: list(get("bbox"))?.map(Number),
        datetime: get("datetime") as string | undefined,
        limit,
        offset: Number(token.replace("next:", "")) || 0,
      };
      search(q, req.method, base, res, `${req.method} ${JSON.stringify(q)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    setItems(next) {
      items = next;
    },
    setFault(next) {
      // Counting starts over with each new fault, so `attempt === 1` means the first try under it.
      fault = next;
      attempts.clear();
      requestNo = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
