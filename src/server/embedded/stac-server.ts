import "server-only";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../logger";

/**
 * The embedded default's STAC API: a landing page, collections and item search over the sample
 * scenes it is given, in the shape of Earth Search v1 (same client code as production).
 */
export interface StacItem {
  id: string;
  collection: string;
  bbox: [number, number, number, number];
  properties: { datetime: string } & Record<string, unknown>;
  [key: string]: unknown;
}

export interface LocalStacServer {
  url: string;
  close(): Promise<void>;
}

export async function startLocalStacServer(opts: { port: number; items: () => StacItem[]; log: Logger; host?: string }): Promise<LocalStacServer> {
  const host = opts.host ?? "127.0.0.1";
  const server = http.createServer((req, res) => {
    const base = `http://${req.headers.host ?? `${host}:${opts.port}`}/v1`;
    const url = new URL(req.url ?? "/", `http://${host}`);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const collections = () => [...new Set(opts.items().map((i) => i.collection))];
    if (url.pathname === "/v1" || url.pathname === "/v1/") {
      return send(200, {
        type: "Catalog",
        stac_version: "1.0.0",
        id: "piksel-local",
        title: "Piksel local STAC API (sample scenes)",
        description: "Sample Sentinel-2 L2A scenes in the Earth Search v1 format.",
        conformsTo: ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search"],
        links: [
          { rel: "self", href: base },
          { rel: "data", href: `${base}/collections` },
          { rel: "search", href: `${base}/search`, method: "GET" },
        ],
      });
    }
    if (url.pathname === "/v1/collections") {
      return send(200, { collections: collections().map((id) => ({ type: "Collection", stac_version: "1.0.0", id, links: [] })), links: [] });
    }
    if (url.pathname === "/v1/search" && req.method === "GET") {
      const limit = Math.min(Number(url.searchParams.get("limit") ?? 100) || 100, 1000);
      const page = Math.max(Number(url.searchParams.get("page") ?? 1) || 1, 1);
      const all = opts.items();
      const features = all.slice((page - 1) * limit, page * limit);
      const links = page * limit < all.length ? [{ rel: "next", href: `${base}/search?limit=${limit}&page=${page + 1}` }] : [];
      return send(200, { type: "FeatureCollection", features, links, numberMatched: all.length, numberReturned: features.length });
    }
    send(404, { code: "NotFound", description: `No route ${url.pathname}` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" ? new Error(`The local STAC API cannot listen on ${host}:${opts.port}: the port is in use. Set embedded.catalogPort in the configuration.`) : err),
    );
    server.listen(opts.port, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  opts.log.info({ port }, "local STAC API is serving");
  return { url: `http://${host}:${port}/v1`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
