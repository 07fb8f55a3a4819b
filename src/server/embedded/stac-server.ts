import "server-only";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../logger";
import { createFileHandler, type FileServerStats } from "./file-server";
import { collectionDocument, COLLECTION_ID, type SampleArchive, type SampleUrls } from "./samples";

/**
 * The embedded default's STAC API, in the shape of Earth Search v1 (stac-server): landing page,
 * conformance, collections, items, and item search over GET and POST with bbox, intersects,
 * datetime, collections, ids and limit, paged by `next` links (GET: a `next` token in the query;
 * POST: a link with `method: POST` and the whole body plus the token). The sample archive's files are
 * served on the same port under /files, with byte ranges, so one port carries what production
 * spreads over Earth Search and the sentinel-cogs bucket.
 */

/** A STAC item as served: what search needs is typed, the rest passes through. */
export interface StacItem {
  id: string;
  collection: string;
  bbox: number[];
  properties: { datetime: string } & Record<string, unknown>;
  [key: string]: unknown;
}

export interface LocalStacServerOptions {
  port: number;
  host?: string;
  log: Logger;
  /** The sample archive: its items are served at /v1 and its files (written on first read) at /files. */
  archive?: SampleArchive;
  /** Items served besides the archive's (or without one), made once the server knows its URLs. */
  items?: (urls: SampleUrls) => StacItem[];
  /** Largest page whatever `limit` asks (STAC API: a larger limit is served as this one). */
  maxLimit?: number;
}

export interface LocalStacServer {
  /** STAC API root, `http://<host>:<port>/v1`. */
  url: string;
  /** Root of the served files, `http://<host>:<port>/files`. */
  filesUrl: string;
  /** Byte counters of the file server. */
  fileStats(): FileServerStats;
  resetFileStats(): void;
  close(): Promise<void>;
}

/** One searchable entry: the fields search filters on, the item itself made on demand. */
interface Entry {
  id: string;
  collection: string;
  /** Sensing time, ms since the epoch. */
  time: number;
  datetime: string;
  bbox: [number, number, number, number];
  json: () => unknown;
}

class BadRequest extends Error {}

const DEFAULT_LIMIT = 10;

/** Search order (stac-server's default): newest first, then id and collection descending. */
const compareEntries = (a: Entry, b: Entry) => b.time - a.time || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0) || (a.collection < b.collection ? 1 : a.collection > b.collection ? -1 : 0);

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?$/;

/** One bound of a datetime parameter, in ms; a bare date means its first (or, as an end, last) instant. */
function parseInstant(text: string, asEnd: boolean): number {
  const m = RFC3339.exec(text.trim());
  const t = m ? Date.parse(m[4] === undefined ? `${text.trim()}T00:00:00Z` : text.trim().replace(" ", "T")) : NaN;
  if (!m || Number.isNaN(t)) throw new BadRequest(`datetime: ${JSON.stringify(text)} is not an RFC 3339 date-time (e.g. 2024-01-05T03:23:10Z) or date`);
  return m[4] === undefined && asEnd ? t + 86_400_000 - 1 : t;
}

/** `datetime`: an instant, a closed interval `a/b` or an open one (`../b`, `a/..`, `/b`, `a/`). */
export function parseDatetime(value: string): [number, number] {
  const parts = value.split("/");
  if (parts.length === 1) {
    const only = parts[0] as string;
    const isDate = !/[Tt ]/.test(only.trim());
    return [parseInstant(only, false), isDate ? parseInstant(only, true) : parseInstant(only, false)];
  }
  if (parts.length !== 2) throw new BadRequest(`datetime: ${JSON.stringify(value)} has more than one "/"`);
  const open = (s: string) => s === "" || s === "..";
  const [a, b] = parts as [string, string];
  const start = open(a) ? -Infinity : parseInstant(a, false);
  const end = open(b) ? Infinity : parseInstant(b, true);
  if (start > end) throw new BadRequest(`datetime: the interval ${JSON.stringify(value)} ends before it starts`);
  return [start, end];
}

function parseBbox(value: unknown): [number, number, number, number] {
  const nums = typeof value === "string" ? value.split(",").map((s) => (s.trim() === "" ? NaN : Number(s))) : Array.isArray(value) ? value : [];
  if (!(nums.length === 4 || nums.length === 6) || !nums.every((n) => typeof n === "number" && Number.isFinite(n))) {
    throw new BadRequest(`bbox: expected 4 (or 6) numbers west,south,east,north, got ${JSON.stringify(value)}`);
  }
  const [w, s, e, n] = (nums.length === 6 ? [nums[0], nums[1], nums[3], nums[4]] : nums) as [number, number, number, number];
  if (s > n) throw new BadRequest("bbox: south is greater than north");
  if (w < -180 || e > 180 || s < -90 || n > 90 || w > 180 || e < -180) throw new BadRequest("bbox: coordinates are outside -180..180 / -90..90");
  return [w, s, e, n];
}

/** The bounding box of a GeoJSON geometry (`intersects` is tested against item bboxes: a bbox-to-bbox test). */
function geometryBbox(value: unknown): [number, number, number, number] {
  const geometry = typeof value === "string" ? tryJson(value, "intersects") : value;
  const points: number[][] = [];
  const walk = (c: unknown) => {
    if (Array.isArray(c) && c.length >= 2 && typeof c[0] === "number" && typeof c[1] === "number") points.push(c as number[]);
    else if (Array.isArray(c)) c.forEach(walk);
  };
  const types = ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"];
  if (geometry === null || typeof geometry !== "object" || !types.includes((geometry as { type?: string }).type ?? "")) {
    throw new BadRequest("intersects: expected a GeoJSON geometry (Point, LineString, Polygon or their Multi- forms)");
  }
  walk((geometry as { coordinates?: unknown }).coordinates);
  if (points.length === 0 || !points.every((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]))) throw new BadRequest("intersects: the geometry has no valid coordinates");
  const xs = points.map((p) => p[0] as number);
  const ys = points.map((p) => p[1] as number);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

function tryJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest(`${what}: not valid JSON`);
  }
}

const list = (value: unknown, what: string): string[] => {
  const items = typeof value === "string" ? value.split(",").map((s) => s.trim()) : Array.isArray(value) ? value : null;
  if (!items || !items.every((s) => typeof s === "string" && s !== "")) throw new BadRequest(`${what}: expected a list of strings`);
  return items as string[];
};

/** A parsed search: every filter optional. */
interface Search {
  collections?: string[];
  ids?: string[];
  bbox?: [number, number, number, number];
  time?: [number, number];
  limit: number;
  /** The last item of the previous page (from the `next` token). */
  next?: Entry;
}

/** stac-server's token: the sort key of the last item served (datetime, id, collection). */
const tokenOf = (e: Entry) => Buffer.from(JSON.stringify([e.datetime, e.id, e.collection])).toString("base64url");

function parseToken(token: string): Entry {
  try {
    const [datetime, id, collection] = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown[];
    const time = typeof datetime === "string" ? Date.parse(datetime) : NaN;
    if (typeof id === "string" && typeof collection === "string" && !Number.isNaN(time)) return { id, collection, time, datetime: datetime as string, bbox: [0, 0, 0, 0], json: () => null };
  } catch {
    // Reported below.
  }
  throw new BadRequest("next: not a token this server issued");
}

const UNSUPPORTED = ["query", "filter", "sortby", "filter-lang"];

/** Parameters of a GET query or a POST body into a search. */
function parseSearch(params: Record<string, unknown>, maxLimit: number, fixedCollection?: string): Search {
  for (const key of UNSUPPORTED) if (params[key] !== undefined) throw new BadRequest(`${key}: not supported by this server (it serves bbox, intersects, datetime, collections, ids and limit)`);
  const s: Search = { limit: DEFAULT_LIMIT };
  if (params.limit !== undefined) {
    const limit = typeof params.limit === "string" && /^\d+$/.test(params.limit.trim()) ? Number(params.limit) : params.limit;
    if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1) throw new BadRequest(`limit: expected a positive integer, got ${JSON.stringify(params.limit)}`);
    s.limit = Math.min(limit, maxLimit);
  }
  if (params.bbox !== undefined && params.intersects !== undefined) throw new BadRequest("bbox and intersects cannot be used together");
  if (params.bbox !== undefined) s.bbox = parseBbox(params.bbox);
  if (params.intersects !== undefined) s.bbox = geometryBbox(params.intersects);
  if (params.datetime !== undefined) {
    if (typeof params.datetime !== "string") throw new BadRequest("datetime: expected a string");
    s.time = parseDatetime(params.datetime);
  }
  if (fixedCollection !== undefined) s.collections = [fixedCollection];
  else if (params.collections !== undefined) s.collections = list(params.collections, "collections");
  if (params.ids !== undefined) s.ids = list(params.ids, "ids");
  if (params.next !== undefined) {
    if (typeof params.next !== "string" || params.next === "") throw new BadRequest("next: expected a token string");
    s.next = parseToken(params.next);
  }
  return s;
}

/** Items sorted for search, with the matches of a search in order. */
class Catalogue {
  readonly entries: Entry[];
  private readonly byKey = new Map<string, Entry>();
  private readonly collectionIds: string[];
  constructor(entries: Entry[]) {
    this.entries = entries.sort(compareEntries);
    for (const e of this.entries) {
      const key = `${e.collection}/${e.id}`;
      if (this.byKey.has(key)) throw new Error(`The local STAC API was given item ${key} twice`);
      this.byKey.set(key, e);
    }
    this.collectionIds = [...new Set(this.entries.map((e) => e.collection))].sort();
  }

  collections(): string[] {
    return this.collectionIds;
  }

  /** Index of the first entry with time <= t (entries are newest first). */
  private firstAtOrBefore(t: number): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.entries[mid] as Entry).time > t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  match(s: Search): Entry[] {
    const [t0, t1] = s.time ?? [-Infinity, Infinity];
    const from = Number.isFinite(t1) ? this.firstAtOrBefore(t1) : 0;
    const collections = s.collections && new Set(s.collections);
    const ids = s.ids && new Set(s.ids);
    const out: Entry[] = [];
    for (let i = from; i < this.entries.length; i++) {
      const e = this.entries[i] as Entry;
      if (e.time < t0) break;
      if (collections && !collections.has(e.collection)) continue;
      if (ids && !ids.has(e.id)) continue;
      if (s.bbox && !bboxesMeet(s.bbox, e.bbox)) continue;
      out.push(e);
    }
    return out;
  }

  find(collection: string, id: string): Entry | undefined {
    return this.byKey.get(`${collection}/${id}`);
  }
}

/** Whether two lon/lat boxes meet; a query box with west > east crosses the antimeridian. */
function bboxesMeet(q: [number, number, number, number], b: [number, number, number, number]): boolean {
  if (q[1] > b[3] || q[3] < b[1]) return false;
  if (q[0] <= q[2]) return !(q[0] > b[2] || q[2] < b[0]);
  return b[2] >= q[0] || b[0] <= q[2];
}

/** Starts the STAC API (and, with an archive, its file server) on one port. */
export async function startLocalStacServer(opts: LocalStacServerOptions): Promise<LocalStacServer> {
  const host = opts.host ?? "127.0.0.1";
  const maxLimit = opts.maxLimit ?? 1000;
  // Known once the server listens (the port may be 0): requests only arrive after that.
  const state: { urls?: SampleUrls; catalogue?: Catalogue; extent: { bbox: number[]; start: string | null; end: string | null } } = {
    extent: { bbox: [-180, -90, 180, 90], start: null, end: null },
  };
  const archive = opts.archive;
  const files = archive
    ? createFileHandler({ root: archive.root, prefix: "/files", log: opts.log, resolve: (rel: string) => archive.resolveFile(rel, state.urls as SampleUrls) })
    : undefined;
  const noFiles: FileServerStats = { requests: 0, bytes: 0, files: {}, log: [] };

  const server = http.createServer((req, res) => {
    res.setHeader("access-control-allow-origin", "*");
    if (files?.handle(req, res)) return;
    handleApi(req, res).catch((err: unknown) => {
      if (err instanceof BadRequest) return sendJson(res, 400, { code: "BadRequest", description: err.message });
      opts.log.error({ err, url: req.url }, "local STAC API request failed");
      if (!res.headersSent) sendJson(res, 500, { code: "InternalServerError", description: err instanceof Error ? err.message : String(err) });
    });
  });

  function sendJson(res: http.ServerResponse, status: number, body: unknown, type = "application/json") {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  async function readBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 1_000_000) throw new BadRequest("the request body is larger than 1 MB");
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString("utf8").trim();
    if (text === "") return {};
    const body = tryJson(text, "request body");
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw new BadRequest("request body: expected a JSON object");
    return body as Record<string, unknown>;
  }

  /** One page of a search as a FeatureCollection, its JSON assembled from the items' own. */
  function page(s: Search, matched: Entry[], links: (next: string | undefined) => unknown[]): string {
    let start = 0;
    if (s.next) {
      // The page after the token: the first entry that sorts after it.
      const after = s.next;
      let lo = 0;
      let hi = matched.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compareEntries(matched[mid] as Entry, after) <= 0) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    const slice = matched.slice(start, start + s.limit);
    const last = slice[slice.length - 1];
    const next = last && start + slice.length < matched.length ? tokenOf(last) : undefined;
    const features = slice.map((e) => JSON.stringify(e.json())).join(",");
    const meta = {
      links: links(next),
      numberMatched: matched.length,
      numberReturned: slice.length,
      context: { limit: s.limit, matched: matched.length, returned: slice.length },
    };
    return `{"type":"FeatureCollection","features":[${features}],${JSON.stringify(meta).slice(1)}`;
  }

  const queryOf = (url: URL): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of url.searchParams) out[k] = v;
    return out;
  };

  /** The GET form of a search's parameters (for `next` links), the token replaced. */
  const nextQuery = (url: URL, token: string) => {
    const q = new URLSearchParams(url.searchParams);
    q.set("next", token);
    return q.toString();
  };

  async function handleApi(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { stac } = state.urls as SampleUrls;
    const cat = state.catalogue as Catalogue;
    const url = new URL(req.url ?? "/", "http://local");
    const route = url.pathname.replace(/\/+$/, "");
    const method = req.method ?? "GET";
    const notAllowed = (allowed: string) => {
      res.setHeader("allow", allowed);
      sendJson(res, 405, { code: "MethodNotAllowed", description: `${method} is not allowed on ${url.pathname}` });
    };
    if (route === "/v1" || route === "") {
      if (route === "") return sendJson(res, 404, { code: "NotFound", description: `The STAC API is at ${stac}` });
      if (method !== "GET") return notAllowed("GET");
      return sendJson(res, 200, {
        type: "Catalog",
        stac_version: "1.0.0",
        id: "piksel-local",
        title: "Piksel local STAC API (sample scenes)",
        description: "Synthetic Sentinel-2 L2A scenes in the format of Earth Search v1, for the embedded default and the tests.",
        conformsTo: CONFORMANCE,
        links: [
          { rel: "self", type: "application/json", href: stac },
          { rel: "root", type: "application/json", href: stac },
          { rel: "conformance", type: "application/json", href: `${stac}/conformance` },
          { rel: "data", type: "application/json", href: `${stac}/collections` },
          { rel: "search", type: "application/geo+json", href: `${stac}/search`, method: "GET" },
          { rel: "search", type: "application/geo+json", href: `${stac}/search`, method: "POST" },
          ...cat.collections().map((id) => ({ rel: "child", type: "application/json", href: `${stac}/collections/${id}` })),
        ],
      });
    }
    if (route === "/v1/conformance") return method === "GET" ? sendJson(res, 200, { conformsTo: CONFORMANCE }) : notAllowed("GET");
    if (route === "/v1/collections") {
      if (method !== "GET") return notAllowed("GET");
      return sendJson(res, 200, {
        collections: cat.collections().map((id) => collection(id)),
        links: [
          { rel: "self", type: "application/json", href: `${stac}/collections` },
          { rel: "root", type: "application/json", href: stac },
        ],
      });
    }
    const m = /^\/v1\/collections\/([^/]+)(?:\/items(?:\/([^/]+))?)?$/.exec(route);
    if (m) {
      if (method !== "GET") return notAllowed("GET");
      const id = decodeURIComponent(m[1] as string);
      if (!cat.collections().includes(id)) return sendJson(res, 404, { code: "NotFound", description: `No collection ${id}` });
      if (!route.includes("/items")) return sendJson(res, 200, collection(id));
      if (m[2] !== undefined) {
        const entry = cat.find(id, decodeURIComponent(m[2]));
        return entry ? sendJson(res, 200, JSON.stringify(entry.json()), "application/geo+json") : sendJson(res, 404, { code: "NotFound", description: `No item ${decodeURIComponent(m[2])} in ${id}` });
      }
      const s = parseSearch(queryOf(url), maxLimit, id);
      const base = `${stac}/collections/${encodeURIComponent(id)}`;
      const body = page(s, cat.match(s), (next) => [
        { rel: "self", type: "application/geo+json", href: `${base}/items${url.search}` },
        { rel: "root", type: "application/json", href: stac },
        { rel: "parent", type: "application/json", href: base },
        { rel: "collection", type: "application/json", href: base },
        ...(next ? [{ rel: "next", type: "application/geo+json", method: "GET", href: `${base}/items?${nextQuery(url, next)}` }] : []),
      ]);
      return sendJson(res, 200, body, "application/geo+json");
    }
    if (route === "/v1/search") {
      if (method !== "GET" && method !== "POST") return notAllowed("GET, POST");
      const params = method === "POST" ? await readBody(req) : queryOf(url);
      const s = parseSearch(params, maxLimit);
      const body = page(s, cat.match(s), (next) => [
        { rel: "root", type: "application/json", href: stac },
        ...(next
          ? [
              method === "POST"
                ? { rel: "next", title: "Next page of Items", method: "POST", type: "application/geo+json", href: `${stac}/search`, merge: false, body: { ...params, next } }
                : { rel: "next", title: "Next page of Items", method: "GET", type: "application/geo+json", href: `${stac}/search?${nextQuery(url, next)}` },
            ]
          : []),
      ]);
      return sendJson(res, 200, body, "application/geo+json");
    }
    sendJson(res, 404, { code: "NotFound", description: `No route ${url.pathname}` });
  }

  function collection(id: string): unknown {
    if (id === COLLECTION_ID) return collectionDocument(state.urls as SampleUrls, state.extent);
    return {
      type: "Collection",
      stac_version: "1.0.0",
      id,
      description: `Items of collection ${id}`,
      license: "proprietary",
      extent: { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [[null, null]] } },
      links: [{ rel: "self", type: "application/json", href: `${(state.urls as SampleUrls).stac}/collections/${id}` }],
    };
  }

  /** The archive's scenes and the given items as search entries (items JSON made per request). */
  function entriesOf(u: SampleUrls): Entry[] {
    const entries: Entry[] = [];
    for (const scene of archive?.scenes ?? []) {
      const a = archive as SampleArchive;
      entries.push({ id: scene.id, collection: COLLECTION_ID, time: Date.parse(scene.datetime), datetime: scene.datetime, bbox: a.bbox(scene.id), json: () => a.item(scene.id, u) });
    }
    for (const item of opts.items?.(u) ?? []) {
      const time = Date.parse(item.properties.datetime);
      if (Number.isNaN(time) || item.bbox.length < 4) throw new Error(`Item ${item.id} has no usable datetime or bbox`);
      const b = item.bbox.length === 6 ? [item.bbox[0], item.bbox[1], item.bbox[3], item.bbox[4]] : item.bbox.slice(0, 4);
      const text = JSON.stringify(item);
      entries.push({ id: item.id, collection: item.collection, time, datetime: item.properties.datetime, bbox: b as Entry["bbox"], json: () => JSON.parse(text) as unknown });
    }
    return entries;
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" ? new Error(`The local STAC API cannot listen on ${host}:${opts.port}: the port is in use. Set embedded.catalogPort in the configuration.`) : err),
    );
    server.listen(opts.port, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const u: SampleUrls = { stac: `http://${host}:${port}/v1`, files: `http://${host}:${port}/files` };
  let catalogue: Catalogue;
  try {
    catalogue = new Catalogue(entriesOf(u));
  } catch (err) {
    server.close();
    throw err;
  }
  const sample = catalogue.entries.filter((e) => e.collection === COLLECTION_ID);
  if (sample.length > 0) {
    state.extent = {
      bbox: [Math.min(...sample.map((e) => e.bbox[0])), Math.min(...sample.map((e) => e.bbox[1])), Math.max(...sample.map((e) => e.bbox[2])), Math.max(...sample.map((e) => e.bbox[3]))],
      start: (sample[sample.length - 1] as Entry).datetime,
      end: (sample[0] as Entry).datetime,
    };
  }
  state.urls = u;
  state.catalogue = catalogue;
  opts.log.info({ url: u.stac, files: archive ? u.files : undefined, items: catalogue.entries.length }, "local STAC API is serving");
  return {
    url: u.stac,
    filesUrl: u.files,
    fileStats: () => files?.stats() ?? structuredClone(noFiles),
    resetFileStats: () => files?.resetStats(),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const CONFORMANCE = [
  "https://api.stacspec.org/v1.0.0/core",
  "https://api.stacspec.org/v1.0.0/collections",
  "https://api.stacspec.org/v1.0.0/ogcapi-features",
  "https://api.stacspec.org/v1.0.0/item-search",
  "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
  "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
];
