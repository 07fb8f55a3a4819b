import "server-only";
import { setTimeout as sleep } from "node:timers/promises";

/** Timeouts and retries of registry HTTP calls. */
export interface HttpPolicy {
  /** Per attempt, headers and body included. */
  timeoutMs: number;
  /** Extra attempts after a 429, a 5xx or a network error (0 = no retry). */
  retries: number;
  /** First backoff; doubled per attempt, with jitter. */
  retryBaseMs: number;
  /** Upper bound of one wait, whatever Retry-After asks for. */
  maxRetryDelayMs: number;
}

export const defaultHttpPolicy: HttpPolicy = { timeoutMs: 15_000, retries: 3, retryBaseMs: 250, maxRetryDelayMs: 10_000 };

export interface HttpRequest {
  method: "GET" | "HEAD";
  url: URL;
  headers: Record<string, string>;
  /** Bodies larger than this are refused instead of buffered. */
  maxBytes: number;
}

export interface HttpResponse {
  status: number;
  statusText: string;
  headers: Headers;
  body: Buffer;
  /** Where the answer came from, after redirects. */
  url: URL;
}

/** Transient answers worth another attempt. 501 and other 5xx that mean "never" are not retried. */
const retryable = new Set([429, 500, 502, 503, 504]);
const maxRedirects = 5;

/** A failure that another attempt cannot fix (an oversized answer, a redirect loop). */
class PermanentError extends Error {}

async function readBody(res: Response, maxBytes: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new PermanentError(`${what}: answer of ${declared} bytes exceeds the ${maxBytes}-byte limit`);
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks);
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new PermanentError(`${what}: answer exceeds the ${maxBytes}-byte limit`);
    }
    chunks.push(Buffer.from(value));
  }
}

/**
 * One attempt: follows redirects itself so that credentials never leave the registry's origin.
 * Registries redirect blob downloads to object storage (ECR to S3, docker-registry to a CDN); a
 * presigned S3 URL rejects a request that also carries an Authorization header, and the header must
 * not leak to another host anyway.
 */
async function attempt(req: HttpRequest, policy: HttpPolicy, what: string): Promise<HttpResponse> {
  const signal = AbortSignal.timeout(policy.timeoutMs);
  let url = req.url;
  let headers = req.headers;
  for (let hop = 0; ; hop++) {
    const res = await fetch(url, { method: req.method, headers, redirect: "manual", signal });
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      if (hop >= maxRedirects) throw new PermanentError(`${what}: more than ${maxRedirects} redirects`);
      const next = new URL(location, url);
      if (next.origin !== req.url.origin) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"));
      url = next;
      continue;
    }
    const body = req.method === "HEAD" ? Buffer.alloc(0) : await readBody(res, req.maxBytes, what);
    return { status: res.status, statusText: res.statusText, headers: res.headers, body, url };
  }
}

function networkCause(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return "timed out";
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

function retryDelay(policy: HttpPolicy, attemptNo: number, retryAfter: string | null): number {
  const seconds = retryAfter && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) * 1000 : NaN;
  const backoff = policy.retryBaseMs * 2 ** attemptNo + Math.random() * policy.retryBaseMs;
  return Math.min(policy.maxRetryDelayMs, Number.isNaN(seconds) ? backoff : Math.max(seconds, backoff));
}

/**
 * Sends a request with a per-attempt timeout and a bounded retry with exponential backoff on 429,
 * 5xx and network errors. Resolves with the last answer whatever its status (the caller names the
 * failure); rejects only when no answer came back, with `what` and the cause in the message.
 */
export async function send(req: HttpRequest, policy: HttpPolicy, what: string): Promise<HttpResponse> {
  for (let n = 0; ; n++) {
    let res: HttpResponse;
    try {
      res = await attempt(req, policy, what);
    } catch (err) {
      if (err instanceof PermanentError) throw err;
      if (n >= policy.retries) throw new Error(`${what}: ${networkCause(err)} (${n + 1} attempt${n ? "s" : ""})`);
      await sleep(retryDelay(policy, n, null));
      continue;
    }
    if (!retryable.has(res.status) || n >= policy.retries) return res;
    await sleep(retryDelay(policy, n, res.headers.get("retry-after")));
  }
}
