import fs from "node:fs";
import path from "node:path";
import { stacToEo3 } from "~/features/indexing/stac-to-eo3";
import type { IndexPort } from "~/server/drivers/index";
import { standardDefinitions } from "~/server/odc/standard-definitions";

/**
 * An ODC index for planning tests: the standard definitions and the real Earth Search item 31QGB of
 * 2020-08-31 indexed twice (a second acquisition on 2020-09-10), so tiles inside its footprint hold
 * two scenes for 2020 and tiles outside none. Returns what addDatasets rejected (expected: nothing).
 */
export async function indexPlanningFixture(index: IndexPort): Promise<unknown[]> {
  const fixture = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, "../reference/datacube/fixtures/odc-tools__S2B_31QGB_20200831_0_L2A.json"), "utf8"));
  await index.init();
  const { metadataTypes, products } = standardDefinitions();
  for (const mt of metadataTypes) await index.addMetadataType(mt);
  for (const p of products) await index.addProduct(p);
  const second = structuredClone(fixture);
  second.id = "S2B_31QGB_20200910_0_L2A";
  second.properties.datetime = "2020-09-10T10:25:34.438000Z";
  second.properties["s2:granule_id"] = "S2B_OPER_MSI_L2A_TL_VGS2_20200910_N02.14";
  const docs = [fixture, second].map((item) => stacToEo3(item)).map(({ document, uri }) => ({ document, uris: [uri] }));
  return (await index.addDatasets(docs)).rejected;
}
