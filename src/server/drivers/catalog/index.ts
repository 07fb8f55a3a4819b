import "server-only";
import type { Port } from "../port";

/**
 * A STAC API (Earth Search v1 in production, the embedded sample server on one machine): item search
 * with pagination, as the indexer needs it.
 */
export interface CatalogPort extends Port {
  /**
   * `/search` page by page, following `next` links (GET or POST) until the result is exhausted, the
   * page limit is reached or the signal aborts. Transient failures (429, 5xx, timeouts, network errors,
   * an unparseable page) are retried with backoff; what persists rejects the iteration with a
   * `CatalogError` naming the URL. Aborting rejects with the signal's reason.
   */
  search(query: StacSearchQuery, options?: StacSearchOptions): AsyncIterable<StacPage>;
  /** The request that starts a search: what a run records as its resume point before the first page. */
  firstRequest(query: StacSearchQuery): StacPageRequest;
}

/** The search parameters of STAC API Item Search. */
export interface StacSearchQuery {
  /** [west, south, east, north] in degrees. */
  bbox?: readonly [number, number, number, number];
  /** RFC 3339 instant or interval, `a/b`, `../b`, `a/..`. */
  datetime?: string;
  collections?: readonly string[];
  /** Items per page the client asks for (the server may return fewer). */
  limit?: number;
  /** How the first request is sent; `next` links say how the following ones are. Default GET. */
  method?: "GET" | "POST";
}

/** One request of a search: what a `next` link describes, and what a run records to resume from. */
export interface StacPageRequest {
  method: "GET" | "POST";
  url: string;
  body?: Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface StacSearchOptions {
  signal?: AbortSignal;
  /** Continue a search at this request (a `next` of an earlier run, or `firstRequest`) instead of starting it. */
  startAt?: StacPageRequest;
  /** Stop after this many pages; the last page's `next` is still reported. */
  maxPages?: number;
  /** Called before each retry, for logs and run records. */
  onRetry?: (event: StacRetryEvent) => void;
}

export interface StacRetryEvent {
  url: string;
  attempt: number;
  /** Why the attempt failed: an HTTP status, "timeout", "invalid JSON", a network error code. */
  reason: string;
  delayMs: number;
}

export interface StacPage {
  /** 1-based page number within this search (or this resumption of it). */
  number: number;
  /** The features as received, not validated: the indexer judges each one. */
  items: unknown[];
  /** Total matches when the server reports it (`numberMatched`, or `context.matched`). */
  numberMatched?: number;
  /** The request that produced this page. */
  request: StacPageRequest;
  /** The request of the following page, or null at the end of the result. */
  next: StacPageRequest | null;
  /** Retries this page needed. */
  retries: number;
}

export type CatalogErrorKind = "http" | "invalid-json" | "network" | "timeout" | "pagination-loop" | "invalid-response";

/** A search that cannot go on: the message names the URL and the cause. */
export class CatalogError extends Error {
  constructor(
    readonly kind: CatalogErrorKind,
    readonly url: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "CatalogError";
  }
}
