import "server-only";
import { withTimeout } from "../port";
import type { CatalogPort } from "./index";

/** A STAC API over HTTP(S): the same client for Earth Search and the embedded sample server. */
export function createStacCatalog(opts: { url: string }): CatalogPort {
  const url = opts.url.replace(/\/+$/, "");
  return {
    driver: "stac",
    endpoint: url,
    async check() {
      const res = await withTimeout(fetch(url, { headers: { accept: "application/json" } }), 5000, "STAC API");
      if (!res.ok) throw new Error(`STAC API ${url} answered ${res.status}`);
      const landing = (await res.json()) as { stac_version?: string; title?: string };
      if (!landing.stac_version) throw new Error(`${url} answered, but not with a STAC landing page`);
      return `STAC ${landing.stac_version}${landing.title ? `: ${landing.title}` : ""}`;
    },
  };
}
