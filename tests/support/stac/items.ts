import fs from "node:fs";
import path from "node:path";

/**
 * Earth Search v1 `sentinel-2-l2a` items for tests and benches, made from the two real items in
 * tests/reference/datacube/fixtures/ (31QGB in UTM 31N, 28QCH in UTM 28N): each generated item is one
 * of them with its tile (MGRS square), footprint, date, ids, processing baseline and links changed
 * consistently, in the API form (https `self`, s3 `canonical` as Earth Search serves it).
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- STAC JSON, shaped by each test
export type StacItem = Record<string, any> & { id: string; collection: string; bbox: number[]; properties: Record<string, any> };

const fixtures = path.resolve(import.meta.dirname, "../../reference/datacube/fixtures");
const load = (name: string) => JSON.parse(fs.readFileSync(path.join(fixtures, name), "utf8")) as StacItem;
export const templates = [load("odc-tools__S2B_31QGB_20200831_0_L2A.json"), load("odc-tools__S2A_28QCH_20200714_0_L2A.json")] as const;
// Copies are parsed from text: faster than structuredClone, which matters for the bench's 50 000 items.
const templateText = templates.map((t) => JSON.stringify(t));

export const EARTH_SEARCH = "https://earth-search.aws.element84.com/v1";
const letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"; // MGRS letters (no I, O)

const pad = (n: number, w = 2) => String(n).padStart(w, "0");
const compact = (d: Date) => `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
const safeTime = (d: Date) => `${compact(d)}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;

export interface ItemSpec {
  /** Which real item to start from (0: 31QGB, 1: 28QCH). */
  template: 0 | 1;
  /** Tile number: picks the MGRS square and shifts the footprint by whole tenths of a degree. */
  tile: number;
  /** Sensing time. */
  datetime: Date;
  /** Earth Search's sequence number in the id (`_0_`, `_1_`). */
  sequence?: number;
  /** "xx.yy"; default 05.10 (from 2024 on Earth Search). */
  baseline?: string;
  /** When Earth Search made the item; default one day after sensing. */
  created?: Date;
  updated?: Date;
}

/** The footprint shift of a tile: a 10 x 10 grid of 0.1-degree steps, inside the template's UTM zone. */
export function tileOffset(tile: number): [number, number] {
  return [(tile % 10) * 0.1, (Math.floor(tile / 10) % 10) * 0.1];
}

/** One Earth Search item as the API serves it. */
export function makeItem(spec: ItemSpec): StacItem {
  const t = templates[spec.template];
  const item = JSON.parse(templateText[spec.template]!) as StacItem;
  const p = item.properties;
  const zone = String(p["mgrs:utm_zone"]);
  const band = String(p["mgrs:latitude_band"]);
  const square = `${letters[spec.tile % letters.length]}${letters[Math.floor(spec.tile / letters.length) % letters.length]}`;
  const tileId = `${zone}${band}${square}`;
  const platform = String(p.platform).slice(-1).toUpperCase();
  const baseline = spec.baseline ?? "05.10";
  const d = spec.datetime;
  const created = spec.created ?? new Date(d.getTime() + 86_400_000);
  const id = `S2${platform}_${tileId}_${compact(d)}_${spec.sequence ?? 0}_L2A`;
  const processed = safeTime(new Date(d.getTime() + 5 * 3_600_000 + Number(baseline.replace(".", "")) * 1000));
  const orbit = pad(10_000 + Math.floor(d.getTime() / 86_400_000), 6);
  const folder = `sentinel-s2-l2a-cogs/${zone}/${band}/${square}/${d.getUTCFullYear()}/${d.getUTCMonth() + 1}/${id}`;
  const [dx, dy] = tileOffset(spec.tile);

  item.id = id;
  item.geometry.coordinates = item.geometry.coordinates.map((ring: number[][]) => ring.map(([lon, lat]) => [lon! + dx, lat! + dy]));
  const [w, s, e, n] = t.bbox as [number, number, number, number];
  item.bbox = [w + dx, s + dy, e + dx, n + dy];
  Object.assign(p, {
    datetime: d.toISOString(),
    created: created.toISOString(),
    updated: (spec.updated ?? created).toISOString(),
    "mgrs:grid_square": square,
    "grid:code": `MGRS-${tileId}`,
    "s2:processing_baseline": baseline,
    "s2:product_uri": `S2${platform}_MSIL2A_${safeTime(d)}_N${baseline.replace(".", "")}_R022_T${tileId}_${processed}.SAFE`,
    "s2:datatake_id": `GS2${platform}_${safeTime(d)}_${orbit}_N${baseline}`,
    "s2:datastrip_id": `S2${platform}_OPER_MSI_L2A_DS_VGS2_${processed}_S${safeTime(d)}_N${baseline}`,
    "s2:granule_id": `S2${platform}_OPER_MSI_L2A_TL_VGS2_${processed}_A${orbit}_T${tileId}_N${baseline}`,
    "earthsearch:s3_path": `s3://sentinel-cogs/${folder}`,
    "earthsearch:boa_offset_applied": Number(baseline) >= 4,
  });
  item.links = [
    { rel: "self", href: `${EARTH_SEARCH}/collections/sentinel-2-l2a/items/${id}`, type: "application/geo+json" },
    { rel: "canonical", href: `s3://sentinel-cogs/${folder}/${id}.json`, type: "application/json" },
    { rel: "parent", href: `${EARTH_SEARCH}/collections/sentinel-2-l2a`, type: "application/json" },
    { rel: "collection", href: `${EARTH_SEARCH}/collections/sentinel-2-l2a`, type: "application/json" },
    { rel: "root", href: EARTH_SEARCH, type: "application/json" },
  ];
  const oldFolder = String(t.properties["earthsearch:s3_path"]).replace("s3://sentinel-cogs/", "");
  for (const asset of Object.values(item.assets) as { href: string }[]) {
    asset.href = asset.href.replace(oldFolder, folder);
  }
  return item;
}

/**
 * `count` items over `tiles` tiles of each template, one acquisition per tile every `everyDays` days
 * from `start` (template 31QGB at 10:25 UTC, 28QCH at 11:55 UTC, as the real scenes).
 */
export function generateItems(count: number, opts: { start?: Date; tiles?: number; everyDays?: number; baseline?: string } = {}): StacItem[] {
  const start = opts.start ?? new Date("2024-01-01T00:00:00Z");
  const tiles = opts.tiles ?? 20;
  const perDay = tiles * 2;
  const out: StacItem[] = [];
  for (let i = 0; i < count; i++) {
    const template = (i % 2) as 0 | 1;
    const tile = Math.floor(i / 2) % tiles;
    const day = Math.floor(i / perDay) * (opts.everyDays ?? 5);
    const [h, m, s] = template === 0 ? [10, 25, 34] : [11, 55, 52];
    const datetime = new Date(start.getTime() + day * 86_400_000 + ((h * 60 + m) * 60 + s) * 1000 + (i % 1000));
    out.push(makeItem({ template, tile, datetime, baseline: opts.baseline }));
  }
  return out;
}

/** The same granule processed again: a new item (next sequence) with a newer baseline, made later. */
export function reprocessed(item: StacItem, baseline: string, sequence = 1): StacItem {
  const p = item.properties;
  const template = String(p["mgrs:utm_zone"]) === "31" ? 0 : 1;
  const square = String(p["mgrs:grid_square"]);
  const tile = letters.indexOf(square[0]!) + letters.length * letters.indexOf(square[1]!);
  const created = new Date(Date.parse(p.created) + 30 * 86_400_000);
  return makeItem({ template, tile, datetime: new Date(p.datetime), sequence, baseline, created });
}

/** The same item after Earth Search updated it (a later `updated`, a corrected property). */
export function touched(item: StacItem, change: Record<string, unknown> = { "eo:cloud_cover": 42.5 }): StacItem {
  const copy = structuredClone(item);
  Object.assign(copy.properties, change, { updated: new Date(Date.parse(item.properties.updated) + 86_400_000).toISOString() });
  return copy;
}

/** Broken variants the indexer must record and skip. */
export const broken = {
  withoutGeometry(item: StacItem): StacItem {
    const copy = structuredClone(item);
    delete copy.geometry;
    return copy;
  },
  withoutAssets(item: StacItem): StacItem {
    return { ...structuredClone(item), assets: {} };
  },
  withoutProj(item: StacItem): StacItem {
    const copy = structuredClone(item);
    delete copy.properties["proj:epsg"];
    return copy;
  },
  unknownCollection(item: StacItem): StacItem {
    return { ...structuredClone(item), collection: "landsat-c2-l2" };
  },
};
