import type { Eo3Document } from "~/server/odc/eo3";
import { processingBaseline } from "./stac-to-eo3";

/**
 * What the indexer does with one batch of converted items, decided from what the index already
 * holds (docs/adr/0010-indexing.md). Pure: the indexer fetches, this decides, the indexer writes.
 *
 * - Identity: a dataset id is the granule's (stac-to-eo3: uuid5 of `s2:granule_id`), so the same
 *   item seen again is the same dataset, and a reprocessing (new granule id) is a new dataset.
 * - Update: an indexed dataset is rewritten only when the item is newer (`updated`, else `created`)
 *   than what the index holds; otherwise it is skipped without a write. Archived datasets stay archived.
 * - Supersession: datasets of one granule share the tile (`odc:region_code`) and the sensing time
 *   (`datetime`); the one with the newer processing (baseline, then `created`) stays active and the
 *   other is archived, or, when it is the item that is older, not indexed.
 */

type Props = Record<string, unknown>;

export interface Candidate {
  itemId: string;
  datasetId: string;
  product: string;
  document: Eo3Document;
  uri: string;
  page: number;
  /** lon/lat bounds of the item, for looking up other processings of its granule. */
  bounds: { west: number; south: number; east: number; north: number } | null;
}

/** What the batch needs to know of a dataset the index already holds. */
export interface StoredDataset {
  id: string;
  product: string;
  archived: boolean;
  properties: Props;
}

export type SkipReason = "unchanged" | "duplicate" | "archived" | "superseded";

export interface Skip {
  candidate: Candidate;
  reason: SkipReason;
  /** The dataset that makes this item redundant, where there is one. */
  by?: string;
}

const time = (v: unknown): number | null => {
  if (typeof v !== "string") return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
};

/** When the item last changed: `updated`, else `created`, else unknown. */
export function changedAt(properties: Props): number | null {
  return time(properties.updated) ?? time(properties.created) ?? time(properties["odc:processing_datetime"]);
}

/** The granule a dataset belongs to: product, tile and sensing time (to the millisecond); null when unknown. */
export function granuleKey(product: string, properties: Props): string | null {
  const region = properties["odc:region_code"];
  const sensed = time(properties.datetime);
  return typeof region === "string" && sensed !== null ? `${product}|${region}|${sensed}` : null;
}

/** How new a processing is: baseline ("05.10" -> 510), then creation time; missing parts rank lowest. */
export function processingRank(properties: Props): [number, number] {
  const baseline = processingBaseline(properties);
  return [baseline === undefined ? -1 : Math.round(Number(baseline) * 100), time(properties.created) ?? time(properties["odc:processing_datetime"]) ?? -1];
}

export const compareRank = (a: [number, number], b: [number, number]) => a[0] - b[0] || a[1] - b[1];

/** One candidate per dataset id: the newest (by `changedAt`) of repeats within a batch. */
export function dedupe(candidates: readonly Candidate[]): { kept: Candidate[]; skipped: Skip[] } {
  const best = new Map<string, Candidate>();
  const skipped: Skip[] = [];
  for (const c of candidates) {
    const seen = best.get(c.datasetId);
    if (!seen) {
      best.set(c.datasetId, c);
      continue;
    }
    const newer = (changedAt(c.document.properties) ?? -Infinity) > (changedAt(seen.document.properties) ?? -Infinity);
    skipped.push({ candidate: newer ? seen : c, reason: "duplicate", by: c.datasetId });
    if (newer) best.set(c.datasetId, c);
  }
  return { kept: [...best.values()], skipped };
}

/**
 * Splits candidates by what the index holds under their ids: new ones, updates (the item is newer,
 * or either side has no timestamp and the index compares the documents), and skips.
 */
export function classifyExisting(candidates: readonly Candidate[], existing: ReadonlyMap<string, StoredDataset>): { fresh: Candidate[]; updates: Candidate[]; skipped: Skip[] } {
  const fresh: Candidate[] = [];
  const updates: Candidate[] = [];
  const skipped: Skip[] = [];
  for (const c of candidates) {
    const stored = existing.get(c.datasetId);
    if (!stored) fresh.push(c);
    else if (stored.archived) skipped.push({ candidate: c, reason: "archived" });
    else {
      const mine = changedAt(c.document.properties);
      const theirs = changedAt(stored.properties);
      if (mine === null || theirs === null || mine > theirs) updates.push(c);
      else skipped.push({ candidate: c, reason: "unchanged" });
    }
  }
  return { fresh, updates, skipped };
}

/**
 * Among new candidates and the active datasets the index holds around them: which candidates to add,
 * which to skip because a newer processing of their granule is active (or in the batch), and which
 * active datasets the added ones supersede. A processing of equal rank is not a supersession (two
 * datastrips can cover one tile at one time): both stay.
 */
export function planSupersession(fresh: readonly Candidate[], active: readonly StoredDataset[]): { add: Candidate[]; skipped: Skip[]; archive: { older: string; newer: string }[] } {
  const add: Candidate[] = [];
  const skipped: Skip[] = [];
  const archive: { older: string; newer: string }[] = [];
  const groups = new Map<string, Candidate[]>();
  for (const c of fresh) {
    const key = granuleKey(c.product, c.document.properties);
    if (key === null) add.push(c);
    else groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const activeByKey = new Map<string, StoredDataset[]>();
  for (const d of active) {
    const key = granuleKey(d.product, d.properties);
    if (key !== null) activeByKey.set(key, [...(activeByKey.get(key) ?? []), d]);
  }
  for (const [key, group] of groups) {
    const ranked = group.map((c) => ({ c, rank: processingRank(c.document.properties) }));
    const top = ranked.reduce((a, b) => (compareRank(b.rank, a.rank) > 0 ? b : a));
    const winners = ranked.filter((r) => compareRank(r.rank, top.rank) === 0).map((r) => r.c);
    for (const r of ranked) if (compareRank(r.rank, top.rank) < 0) skipped.push({ candidate: r.c, reason: "superseded", by: top.c.datasetId });
    const ids = new Set(group.map((c) => c.datasetId));
    const others = (activeByKey.get(key) ?? []).filter((d) => !ids.has(d.id));
    const newer = others.find((d) => compareRank(processingRank(d.properties), top.rank) > 0);
    if (newer) {
      for (const c of winners) skipped.push({ candidate: c, reason: "superseded", by: newer.id });
      continue;
    }
    add.push(...winners);
    for (const d of others) if (compareRank(processingRank(d.properties), top.rank) < 0) archive.push({ older: d.id, newer: top.c.datasetId });
  }
  return { add, skipped, archive };
}

/** lon/lat bounds of a STAC item: its `bbox`, else its geometry's positions. */
export function itemBounds(item: unknown): Candidate["bounds"] {
  const it = item as { bbox?: unknown; geometry?: { coordinates?: unknown } } | null;
  const b = it?.bbox;
  if (Array.isArray(b) && b.length >= 4 && b.every((v) => typeof v === "number" && Number.isFinite(v))) {
    const [w, s, e, n] = b.length >= 6 ? [b[0], b[1], b[3], b[4]] : [b[0], b[1], b[2], b[3]];
    return { west: w as number, south: s as number, east: e as number, north: n as number };
  }
  const points: [number, number][] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v) && v.length >= 2 && typeof v[0] === "number" && typeof v[1] === "number") points.push([v[0], v[1]]);
    else if (Array.isArray(v)) v.forEach(walk);
  };
  walk(it?.geometry?.coordinates);
  if (points.length === 0) return null;
  const lons = points.map((p) => p[0]);
  const lats = points.map((p) => p[1]);
  return { west: Math.min(...lons), south: Math.min(...lats), east: Math.max(...lons), north: Math.max(...lats) };
}
