import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stacToEo3 } from "~/features/indexing/stac-to-eo3";
import type { IndexPort, NewDataset } from "~/server/drivers/index";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import { standardDefinitions } from "~/server/odc/standard-definitions";
import { createTestDatabase } from "../support/databases";

const fixtures = path.resolve(import.meta.dirname, "../reference/datacube/fixtures");
const template = JSON.parse(fs.readFileSync(path.join(fixtures, "odc-tools__S2B_31QGB_20200831_0_L2A.json"), "utf8")) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- STAC JSON

/**
 * Earth Search items of a fictitious year over one UTM zone: the real item with its id, footprint
 * (shifted by whole tiles) and date changed, converted as the indexer will convert them.
 */
function generatedItems(count: number): NewDataset[] {
  const out: NewDataset[] = [];
  for (let i = 0; i < count; i++) {
    const item = structuredClone(template);
    const [col, row, day] = [i % 20, Math.floor(i / 20) % 25, Math.floor(i / 500)];
    const [dx, dy] = [col * 0.05, row * 0.05];
    item.id = `S2B_31QGB_2021${String(day).padStart(4, "0")}_${i}_L2A`;
    item.properties["s2:granule_id"] = `S2B_OPER_MSI_L2A_TL_VGS2_${i}_N05.10`;
    item.properties.datetime = new Date(Date.UTC(2021, 0, 1 + day * 5, 10, 25, 34)).toISOString();
    item.geometry.coordinates = item.geometry.coordinates.map((ring: number[][]) => ring.map(([lon, lat]) => [(lon as number) + dx, (lat as number) + dy]));
    item.links = item.links.map((l: { rel: string; href: string }) => (l.rel === "self" || l.rel === "canonical" ? { ...l, href: l.href.replace("S2B_31QGB_20200831_0_L2A.json", `${item.id}.json`) } : l));
    const { document, uri } = stacToEo3(item);
    out.push({ document, uris: [uri] });
  }
  return out;
}

describe("ODC index driver: batch adds", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let index: IndexPort;

  beforeAll(async () => {
    db = await createTestDatabase("odc_batch");
    index = createPostgresIndex(db.url);
    await index.init();
    const { metadataTypes, products } = standardDefinitions();
    for (const mt of metadataTypes) await index.addMetadataType(mt);
    for (const p of products) await index.addProduct(p);
  });
  afterAll(async () => {
    await index?.close();
    await db?.drop();
  });

  it("adds 5 000 generated datasets in transactions of 1 000 and finds them again", async () => {
    const items = generatedItems(5000);
    const started = performance.now();
    let added = 0;
    for (let i = 0; i < items.length; i += 1000) {
      const result = await index.addDatasets(items.slice(i, i + 1000));
      expect(result.rejected).toEqual([]);
      added += result.added.length;
    }
    const seconds = (performance.now() - started) / 1000;
    // A figure for people, not a timed assertion (bench/ measures throughput properly).
    console.info(`odc-batch: ${added} datasets in ${seconds.toFixed(2)} s = ${Math.round(added / seconds)} datasets/s`);
    expect(added).toBe(5000);
    expect((await index.productCounts()).find((p) => p.product === "s2_l2a")?.datasets).toBe(5000);
    expect(await index.countDatasets("s2_l2a", { time: [new Date("2021-01-01T00:00:00Z"), new Date("2021-01-01T23:59:59Z")] })).toBe(500);
    const again = await index.addDatasets(items.slice(0, 1000));
    expect(again.unchanged).toHaveLength(1000);
  });
});
