import "server-only";
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { withTimeout } from "../port";
import { CatalogError, type CatalogPort, type StacPage, type StacPageRequest, type StacSearchOptions, type StacSearchQuery } from "./index";

/** Timeouts and retries of STAC API requests. */
export interface StacHttpPolicy {
  /** Per attempt, until the whole body is read. Earth Search takes seconds for a 1 000-item page. */
  timeoutMs: number;
  /** Extra attempts after a 429, a 5xx, a timeout, a network error or an unparseable page. */
  retries: number;
  /** First backoff; doubled per attempt, with jitter. */
  retryBaseMs: number;
  /** Upper bound of one wait, Retry-After included. */
  maxRetryDelayMs: number;
}

export const defaultStacHttpPolicy: StacHttpPolicy = { timeoutMs: 60_000, retries: 5, retryBaseMs: 500, maxRetryDelayMs: 120_000 };

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);

// Transient answers worth another attempt; 501 and other 4xx mean the request itself is wrong.
const retryableStatus = new Set([429, 500, 502, 503, 504]);

/** `Retry-After` as milliseconds from now: delta-seconds or an HTTP date (RFC 9110 10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The wait before retry `attempt` (0-based): exponential with jitter, at least what Retry-After asks, at most the cap. */
export function retryDelayMs(policy: StacHttpPolicy, attempt: number, retryAfter: number | undefined, random = Math.random()): number {
  const backoff = policy.retryBaseMs * 2 ** attempt * (0.5 + random / 2);
  return Math.round(Math.min(policy.maxRetryDelayMs, Math.max(retryAfter ?? 0, backoff)));
}

/** JSON with sorted keys, so that equal bodies give equal loop-detection keys. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (isObject(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJson(v[k])}`).join(",")}}`;
  return JSON.stringify(v) ?? "null";
}

const requestKey = (r: StacPageRequest) => `${r.method} ${r.url} ${r.body === undefined ? "" : stableJson(r.body)}`;
const describe = (r: StacPageRequest) => `${r.method} ${r.url}`;

/** The first request of a search, in the form STAC API Item Search defines for GET and POST. */
export function firstSearchRequest(base: string, query: StacSearchQuery): StacPageRequest {
  const url = `${base}/search`;
  if (query.method === "POST") {
    const body: Json = {};
    if (query.collections?.length) body.collections = [...query.collections];
    if (query.bbox) body.bbox = [...query.bbox];
    if (query.datetime) body.datetime = query.datetime;
    if (query.limit !== undefined) body.limit = query.limit;
    return { method: "POST", url, body };
  }
  const params = new URLSearchParams();
  if (query.collections?.length) params.set("collections", query.collections.join(","));
  if (query.bbox) params.set("bbox", query.bbox.join(","));
  if (query.datetime) params.set("datetime", query.datetime);
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  const qs = params.toString();
  return { method: "GET", url: qs ? `${url}?${qs}` : url };
}

/**
 * The request a page's `next` link describes (STAC API - Item Search, "Pagination"): a GET link is
 * its href; a POST link carries a `body`, merged into the current body when `merge` is true, and may
 * carry `headers`. A POST link without a body repeats the current one (what servers that page by a
 * token in the href expect). Relative hrefs resolve against the current URL.
 */
export function nextRequest(page: Json, current: StacPageRequest): StacPageRequest | null {
  const links = Array.isArray(page.links) ? page.links.filter(isObject) : [];
  const link = links.find((l) => l.rel === "next" && typeof l.href === "string");
  if (!link) return null;
  const url = new URL(link.href as string, current.url).toString();
  const method = typeof link.method === "string" && link.method.toUpperCase() === "POST" ? "POST" : "GET";
  const next: StacPageRequest = { method, url };
  if (method === "POST") {
    const body = isObject(link.body) ? link.body : undefined;
    next.body = body === undefined ? { ...(current.body ?? {}) } : link.merge === true ? { ...(current.body ?? {}), ...body } : { ...body };
  }
  if (isObject(link.headers)) {
    next.headers = Object.fromEntries(Object.entries(link.headers).filter((e): e is [string, string] => typeof e[1] === "string"));
  }
  return next;
}

function networkCause(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

/** A STAC API over HTTP(S): the same client for Earth Search and the embedded sample server. */
export function createStacCatalog(opts: { url: string; policy?: Partial<StacHttpPolicy> }): CatalogPort {
  const base = opts.url.replace(/\/+$/, "");
  const policy: StacHttpPolicy = { ...defaultStacHttpPolicy, ...opts.policy };

  /** One page, retried while the failure is transient; rejects with a CatalogError or the abort reason. */
  async function fetchPage(req: StacPageRequest, signal: AbortSignal, onRetry: StacSearchOptions["onRetry"]): Promise<{ body: Json; retries: number }> {
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      const timeout = AbortSignal.timeout(policy.timeoutMs);
      let failure: { reason: string; kind: "http" | "timeout" | "network" | "invalid-json"; status?: number; retryAfter?: number; detail: string };
      try {
        const res = await fetch(req.url, {
          method: req.method,
          headers: {
            accept: "application/geo+json, application/json",
            "user-agent": "piksel-console",
            ...(req.method === "POST" && { "content-type": "application/json" }),
            ...req.headers,
          },
          body: req.method === "POST" ? JSON.stringify(req.body ?? {}) : undefined,
          signal: AbortSignal.any([signal, timeout]),
        });
        const text = await res.text();
        if (res.ok) {
          try {
            const body: unknown = JSON.parse(text);
            if (!isObject(body) || !Array.isArray(body.features)) {
              throw new CatalogError("invalid-response", req.url, `STAC API ${describe(req)} answered ${res.status} with JSON that is not an item collection (no features array).`, res.status);
            }
            return { body, retries: attempt };
          } catch (err) {
            if (!(err instanceof SyntaxError)) throw err;
            // A truncated or garbled page is usually a proxy or a dropped connection: worth another try.
            failure = { reason: "invalid JSON", kind: "invalid-json", detail: `the page is not valid JSON (${err.message})` };
          }
        } else if (retryableStatus.has(res.status)) {
          failure = { reason: String(res.status), kind: "http", status: res.status, retryAfter: retryAfterMs(res.headers.get("retry-after")), detail: `answered ${res.status} ${res.statusText}`.trim() };
        } else {
          let why = "";
          try {
            const e = JSON.parse(text) as { description?: unknown; detail?: unknown; message?: unknown };
            const d = e.description ?? e.detail ?? e.message;
            if (d !== undefined) why = `: ${typeof d === "string" ? d : JSON.stringify(d)}`;
          } catch {
            why = text ? `: ${text.slice(0, 200)}` : "";
          }
          throw new CatalogError("http", req.url, `STAC API ${describe(req)} answered ${res.status} ${res.statusText}${why}`.trim(), res.status);
        }
      } catch (err) {
        if (err instanceof CatalogError) throw err;
        if (signal.aborted) throw signal.reason;
        failure = timeout.aborted
          ? { reason: "timeout", kind: "timeout", detail: `no complete answer within ${policy.timeoutMs} ms` }
          : { reason: networkCause(err), kind: "network", detail: networkCause(err) };
      }
      if (attempt >= policy.retries) {
        const attempts = `${attempt + 1} attempt${attempt ? "s" : ""}`;
        throw new CatalogError(failure.kind, req.url, `STAC API ${describe(req)}: ${failure.detail} (${attempts})`, failure.status);
      }
      const delayMs = retryDelayMs(policy, attempt, failure.retryAfter);
      onRetry?.({ url: req.url, attempt: attempt + 1, reason: failure.reason, delayMs });
      await sleep(delayMs, undefined, { signal }).catch(() => {
        throw signal.reason;
      });
    }
  }

  async function* search(query: StacSearchQuery, options: StacSearchOptions = {}): AsyncGenerator<StacPage> {
    // Our own controller stops a prefetched request when the consumer leaves early.
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    let request = options.startAt ?? firstSearchRequest(base, query);
    const seenRequests = new Map<string, number>();
    const seenPages = new Map<string, number>();
    let pending: Promise<{ body: Json; retries: number }> = fetchPage(request, signal, options.onRetry);
    try {
      for (let number = 1; ; number++) {
        seenRequests.set(requestKey(request), number);
        const { body, retries } = await pending;
        const items = body.features as unknown[];
        const ids = items.map((f) => (isObject(f) && typeof f.id === "string" ? f.id : stableJson(f)));
        // Same items as an earlier page: the server ignores our token and serves one page forever.
        const signature = createHash("sha1").update(ids.join("\n")).digest("hex");
        const earlierPage = items.length > 0 ? seenPages.get(signature) : undefined;
        if (earlierPage !== undefined) {
          throw new CatalogError("pagination-loop", request.url, `STAC API pagination loop: page ${number} (${describe(request)}) has the same items as page ${earlierPage}.`);
        }
        seenPages.set(signature, number);
        // An empty page ends the search even with a next link: some servers always add one.
        const next = items.length === 0 ? null : nextRequest(body, request);
        const linkedPage = next ? seenRequests.get(requestKey(next)) : undefined;
        if (next && linkedPage !== undefined) {
          throw new CatalogError("pagination-loop", next.url, `STAC API pagination loop: the next link of page ${number} repeats the request of page ${linkedPage} (${describe(next)}).`);
        }
        const matched = body.numberMatched ?? (isObject(body.context) ? body.context.matched : undefined);
        const page: StacPage = { number, items, request, next, retries, ...(typeof matched === "number" && Number.isFinite(matched) && { numberMatched: matched }) };
        const last = next === null || (options.maxPages !== undefined && number >= options.maxPages);
        if (!last && next) {
          // Fetch the next page while the consumer writes this one: network and database overlap.
          pending = fetchPage(next, signal, options.onRetry);
          pending.catch(() => undefined);
        }
        yield page;
        if (last || !next) return;
        request = next;
      }
    } finally {
      stop.abort();
    }
  }

  return {
    driver: "stac",
    endpoint: base,
    async check() {
      const res = await withTimeout(fetch(base, { headers: { accept: "application/json" } }), 5000, "STAC API");
      if (!res.ok) throw new Error(`STAC API ${base} answered ${res.status}`);
      const landing = (await res.json()) as { stac_version?: string; title?: string };
      if (!landing.stac_version) throw new Error(`${base} answered, but not with a STAC landing page`);
      return `STAC ${landing.stac_version}${landing.title ? `: ${landing.title}` : ""}`;
    },
    search,
    firstRequest: (query) => firstSearchRequest(base, query),
  };
}
