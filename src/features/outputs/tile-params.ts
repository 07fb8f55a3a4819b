import type { TileIndex } from "~/lib/grid";
import { GM_S2_ANNUAL, REFLECTANCE_BANDS } from "~/worker/layout";

/**
 * The URL shapes of the outputs endpoints and the query of the tile endpoint, shared by the route
 * handlers (parsing) and the request page (building). Pure: no I/O.
 *
 *   /api/outputs/<environment>/<product>/<period>/tiles/<z>/<x>/<y>.png[?tasks=x/y,x/y][&bands=B04,B03,B02][&stretch=0,3000][&v=…]
 *   /api/outputs/<environment>/files/<key…>
 */

/** Products the endpoints serve (their output layout is the worker's, `src/worker/layout.ts`). */
export const OUTPUT_PRODUCTS = { [GM_S2_ANNUAL.name]: GM_S2_ANNUAL } as const;

/**
 * Key prefix of products in an environment's bucket: the worker's default `--output` (the
 * environment's bucket under `derived/`). Downloads serve nothing outside it.
 */
export { OUTPUT_PREFIX } from "~/worker/layout";

/** True colour: red B04, green B03, blue B02. */
export const DEFAULT_RGB: readonly [string, string, string] = ["B04", "B03", "B02"];
/**
 * Surface reflectance DN mapped linearly to 0..255, clipped: 0..3000 (reflectance 0..0.3), the
 * `scale_range` of datacube-ows' true-colour styles for Sentinel-2 GeoMAD and ARD.
 */
export const DEFAULT_STRETCH: readonly [number, number] = [0, 3000];
/**
 * Most outputs one tile may draw. Each costs three COG opens (a round trip each over S3); beyond
 * this the endpoint asks the client to zoom in or to name the tasks it wants.
 */
export const MAX_TASKS_PER_TILE = 256;
/** Most tasks a `tasks` filter may list (a request holds at most 1 000 tiles). */
export const MAX_TASK_FILTER = 2000;

/** What the tile endpoint's query asks for. */
export interface OutputTileQuery {
  /** Only these grid tiles; undefined = every output of the period. */
  tasks?: TileIndex[];
  /** Output bands shown as red, green, blue (reflectance bands only). */
  bands: readonly [string, string, string];
  /** DN shown black and white. */
  stretch: readonly [number, number];
}

/** A query parameter that cannot be used; the message says which and what it takes. */
export class TileQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TileQueryError";
  }
}

const REFLECTANCE = new Set(REFLECTANCE_BANDS.map((b) => b.name));
const KNOWN = new Set(["tasks", "bands", "stretch", "v"]);

/** Parses `tasks=x/y,x/y`, `bands=B04,B03,B02`, `stretch=min,max` and `v` (a cache-buster, ignored). */
export function parseOutputTileQuery(params: URLSearchParams): OutputTileQuery {
  for (const name of params.keys()) {
    if (!KNOWN.has(name)) throw new TileQueryError(`unknown parameter "${name}": the tile endpoint takes tasks, bands, stretch and v`);
  }
  const query: OutputTileQuery = { bands: DEFAULT_RGB, stretch: DEFAULT_STRETCH };
  const tasks = params.get("tasks");
  if (tasks !== null) {
    const items = tasks === "" ? [] : tasks.split(",");
    if (items.length > MAX_TASK_FILTER) throw new TileQueryError(`tasks lists ${items.length} tiles; at most ${MAX_TASK_FILTER}`);
    query.tasks = items.map((item) => {
      const m = /^(-?\d{1,6})\/(-?\d{1,6})$/.exec(item.trim());
      if (!m) throw new TileQueryError(`tasks: "${item}" is not a grid tile; list tiles as x/y separated by commas, e.g. tasks=304/68,305/68`);
      return { x: Number(m[1]), y: Number(m[2]) };
    });
  }
  const bands = params.get("bands");
  if (bands !== null) {
    const names = bands.split(",").map((b) => b.trim().toUpperCase());
    if (names.length !== 3 || names.some((b) => !REFLECTANCE.has(b))) {
      throw new TileQueryError(`bands: "${bands}" must name three reflectance bands for red, green and blue, from ${[...REFLECTANCE].join(", ")} (e.g. bands=B04,B03,B02)`);
    }
    query.bands = names as [string, string, string];
  }
  const stretch = params.get("stretch");
  if (stretch !== null) {
    const values = stretch.split(",").map(Number);
    const [min, max] = values as [number, number];
    if (values.length !== 2 || !values.every((v) => Number.isFinite(v) && v >= 0 && v <= 65535) || !(min < max)) {
      throw new TileQueryError(`stretch: "${stretch}" must be two DN values min,max with 0 <= min < max <= 65535 (e.g. stretch=0,3000)`);
    }
    query.stretch = [min, max];
  }
  return query;
}

/** `tasks` as the endpoint takes it: `x/y,x/y`. */
export function formatTaskFilter(tiles: readonly TileIndex[]): string {
  return tiles.map((t) => `${t.x}/${t.y}`).join(",");
}

/** What a tile URL template is built from. */
export interface OutputTileUrlInput {
  environment: string;
  product?: string;
  /** odc-stats period, e.g. `2024--P1Y`. */
  period: string;
  tasks?: readonly TileIndex[];
  bands?: readonly [string, string, string];
  stretch?: readonly [number, number];
  /**
   * Changes the URL when the outputs change (e.g. the request's last update), so that the map, which
   * caches tiles by URL, fetches them again. The server checks freshness itself as well (ETag).
   */
  version?: string | number;
}

/** `/api/outputs/<env>/<product>/<period>/tiles/{z}/{x}/{y}.png?…`, the template MapLibre fills in. */
export function outputTileUrlTemplate(input: OutputTileUrlInput): string {
  const product = input.product ?? GM_S2_ANNUAL.name;
  const query: string[] = [];
  // `/` and `,` stay readable: both are allowed in a query (RFC 3986) and the parser splits on them.
  if (input.tasks) query.push(`tasks=${formatTaskFilter(input.tasks)}`);
  if (input.bands && input.bands.join(",") !== DEFAULT_RGB.join(",")) query.push(`bands=${input.bands.join(",")}`);
  if (input.stretch && input.stretch.join(",") !== DEFAULT_STRETCH.join(",")) query.push(`stretch=${input.stretch.join(",")}`);
  if (input.version !== undefined) query.push(`v=${encodeURIComponent(String(input.version))}`);
  const base = `/api/outputs/${encodeURIComponent(input.environment)}/${encodeURIComponent(product)}/${encodeURIComponent(input.period)}/tiles/{z}/{x}/{y}.png`;
  return query.length ? `${base}?${query.join("&")}` : base;
}

/** `/api/outputs/<env>/files/<key>`: the download URL of an object of the environment's bucket. */
export function outputFileUrl(environment: string, key: string): string {
  return `/api/outputs/${encodeURIComponent(environment)}/files/${key.split("/").map(encodeURIComponent).join("/")}`;
}
