import { describe, expect, it } from "vitest";
import type { Eo3Document } from "~/server/odc/eo3";
import { changedAt, classifyExisting, dedupe, granuleKey, itemBounds, planSupersession, processingRank, type Candidate, type StoredDataset } from "./batch-plan";

const SENSED = "2024-03-05T02:33:21.024000Z";

function candidate(id: string, props: Record<string, unknown> = {}): Candidate {
  const properties = { datetime: SENSED, "odc:region_code": "48MYU", "s2:processing_baseline": "05.10", created: "2024-03-05T10:00:00Z", updated: "2024-03-05T10:00:00Z", ...props };
  return { itemId: `item-${id}`, datasetId: id, product: "s2_l2a", document: { id, properties } as unknown as Eo3Document, uri: `s3://b/${id}.json`, page: 1, bounds: null };
}
const stored = (c: Candidate, extra: Partial<StoredDataset> = {}): StoredDataset => ({ id: c.datasetId, product: c.product, archived: false, properties: c.document.properties, ...extra });

describe("granules and processings", () => {
  it("are keyed by product, tile and sensing time", () => {
    expect(granuleKey("s2_l2a", candidate("a").document.properties)).toBe(`s2_l2a|48MYU|${Date.parse(SENSED)}`);
    expect(granuleKey("s2_l2a", { datetime: SENSED })).toBeNull();
  });
  it("rank by baseline, then by creation", () => {
    expect(processingRank({ "s2:processing_baseline": "04.00", created: "2024-01-01T00:00:00Z" })).toEqual([400, Date.parse("2024-01-01T00:00:00Z")]);
    expect(processingRank({ "s2:product_uri": "S2A_MSIL2A_20240305T023321_N0510_R103_T48MYU_20240305T060000.SAFE" })[0]).toBe(510);
    expect(processingRank({})).toEqual([-1, -1]);
  });
  it("date a change by updated, else created, else the processing time", () => {
    expect(changedAt({ updated: "2024-02-01T00:00:00Z", created: "2024-01-01T00:00:00Z" })).toBe(Date.parse("2024-02-01T00:00:00Z"));
    expect(changedAt({ "odc:processing_datetime": "2024-01-03T00:00:00Z" })).toBe(Date.parse("2024-01-03T00:00:00Z"));
    expect(changedAt({})).toBeNull();
  });
});

describe("one batch", () => {
  it("keeps the newest of an item seen twice", () => {
    const older = candidate("a");
    const newer = candidate("a", { updated: "2024-04-01T00:00:00Z" });
    const { kept, skipped } = dedupe([older, newer]);
    expect(kept).toEqual([newer]);
    expect(skipped).toMatchObject([{ candidate: older, reason: "duplicate" }]);
  });

  it("adds new datasets, updates newer items, skips unchanged and archived ones", () => {
    const fresh = candidate("new");
    const newer = candidate("newer", { updated: "2024-04-01T00:00:00Z" });
    const same = candidate("same");
    const gone = candidate("gone", { updated: "2024-05-01T00:00:00Z" });
    const undated = candidate("undated", { updated: undefined, created: undefined });
    const existing = new Map([
      ["newer", stored(candidate("newer"))],
      ["same", stored(same)],
      ["gone", stored(candidate("gone"), { archived: true })],
      ["undated", stored(undated)],
    ]);
    const r = classifyExisting([fresh, newer, same, gone, undated], existing);
    expect(r.fresh).toEqual([fresh]);
    // Without a timestamp on either side the index compares the documents itself.
    expect(r.updates).toEqual([newer, undated]);
    expect(r.skipped.map((s) => [s.candidate.datasetId, s.reason])).toEqual([["same", "unchanged"], ["gone", "archived"]]);
  });

  it("archives the active older processing of a granule when a newer one arrives", () => {
    const old = candidate("old", { "s2:processing_baseline": "04.00" });
    const reprocessed = candidate("reprocessed", { "s2:processing_baseline": "05.10" });
    expect(planSupersession([reprocessed], [stored(old)])).toEqual({ add: [reprocessed], skipped: [], archive: [{ older: "old", newer: "reprocessed" }] });
  });

  it("does not add an older processing when a newer one is active", () => {
    const late = candidate("late", { "s2:processing_baseline": "04.00" });
    const active = stored(candidate("active", { "s2:processing_baseline": "05.10" }));
    expect(planSupersession([late], [active])).toMatchObject({ add: [], archive: [], skipped: [{ candidate: late, reason: "superseded", by: "active" }] });
  });

  it("orders processings of one baseline by creation time", () => {
    const first = candidate("first", { created: "2024-03-06T00:00:00Z" });
    const second = candidate("second", { created: "2024-04-06T00:00:00Z" });
    expect(planSupersession([second], [stored(first)]).archive).toEqual([{ older: "first", newer: "second" }]);
  });

  it("keeps both of two processings of equal rank (two datastrips over one tile)", () => {
    const a = candidate("a");
    const b = candidate("b");
    expect(planSupersession([b], [stored(a)])).toEqual({ add: [b], skipped: [], archive: [] });
  });

  it("settles processings of one granule within a batch", () => {
    const old = candidate("old", { "s2:processing_baseline": "02.14" });
    const mid = candidate("mid", { "s2:processing_baseline": "04.00" });
    const top = candidate("top", { "s2:processing_baseline": "05.10" });
    const r = planSupersession([old, top, mid], []);
    expect(r.add).toEqual([top]);
    expect(r.skipped.map((s) => [s.candidate.datasetId, s.by])).toEqual([["old", "top"], ["mid", "top"]]);
  });

  it("leaves other tiles and times alone", () => {
    const here = candidate("here", { "s2:processing_baseline": "05.10" });
    const otherTile = stored(candidate("t", { "odc:region_code": "48MYV", "s2:processing_baseline": "04.00" }));
    const otherTime = stored(candidate("d", { datetime: "2024-03-10T02:33:21.024Z", "s2:processing_baseline": "04.00" }));
    expect(planSupersession([here], [otherTile, otherTime]).archive).toEqual([]);
  });
});

describe("item bounds", () => {
  it("come from the bbox (2D or 3D), else from the geometry", () => {
    expect(itemBounds({ bbox: [1, 2, 3, 4] })).toEqual({ west: 1, south: 2, east: 3, north: 4 });
    expect(itemBounds({ bbox: [1, 2, 0, 3, 4, 9] })).toEqual({ west: 1, south: 2, east: 3, north: 4 });
    expect(itemBounds({ geometry: { coordinates: [[[5, 1], [6, 1], [6, 2], [5, 1]]] } })).toEqual({ west: 5, south: 1, east: 6, north: 2 });
    expect(itemBounds({})).toBeNull();
  });
});
