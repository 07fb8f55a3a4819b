/**
 * Fills an ODC index with generated Sentinel-2 datasets fast, for the benchmarks: server-side
 * INSERT ... SELECT over generate_series from one real Earth Search item prepared as ODC stores it
 * (extent, grid_spatial), each row moved onto a one-degree "granule" of a grid (with its own region
 * code) and given its own time: one acquisition per granule about every 34 hours from 2020.
 * The product's dynamic indexes are dropped while loading and rebuilt after, as `datacube product add`
 * builds them.
 */
import fs from "node:fs";
import path from "node:path";
import type pg from "pg";
import { stacToEo3 } from "~/features/indexing/stac-to-eo3";
import { odcJson } from "~/server/odc/definitions";
import { prepEo3 } from "~/server/odc/eo3";

/** One-degree granules from (west, south), `columns` x `rows` of them. */
export interface GranuleGrid {
  west: number;
  south: number;
  columns: number;
  rows: number;
}

/** The EO3 document every generated dataset starts from (a real item of the fixtures). */
export function s2Template(repo: string): string {
  const item = JSON.parse(fs.readFileSync(path.join(repo, "tests/reference/datacube/fixtures/odc-tools__S2B_31QGB_20200831_0_L2A.json"), "utf8"));
  return odcJson(prepEo3(stacToEo3(item).document));
}

/** The ids of the s2_l2a product and its metadata type. */
export async function s2Product(db: pg.Pool): Promise<{ product: number; metadataType: number }> {
  const { rows } = await db.query<{ product: number; mt: number }>("SELECT id AS product, metadata_type_ref AS mt FROM agdc.dataset_type WHERE name = 's2_l2a'");
  if (!rows[0]) throw new Error("no s2_l2a product in the index: add the standard definitions first");
  return { product: rows[0].product, metadataType: rows[0].mt };
}

/** Rows `start` .. `start + count - 1` of the sequence: row i lies on granule i mod cells. */
export async function fillGranules(
  db: pg.Pool,
  opts: { template: string; product: number; metadataType: number; grid: GranuleGrid; start: number; count: number; chunk?: number; onProgress?: (rows: number) => void },
): Promise<void> {
  const { columns, rows, west, south } = opts.grid;
  const cells = columns * rows;
  const chunk = opts.chunk ?? 100_000;
  for (let s = opts.start; s < opts.start + opts.count; s += chunk) {
    const end = Math.min(opts.start + opts.count, s + chunk) - 1;
    await db.query(
      `INSERT INTO agdc.dataset (id, metadata_type_ref, dataset_type_ref, metadata)
       SELECT gen_random_uuid(), $2, $3,
              jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set($1::jsonb,
                '{extent,lon,begin}', to_jsonb(${west} + (i % ${columns})::float8)),
                '{extent,lon,end}', to_jsonb(${west + 1} + (i % ${columns})::float8)),
                '{extent,lat,begin}', to_jsonb(${south} + ((i / ${columns}) % ${rows})::float8)),
                '{extent,lat,end}', to_jsonb(${south + 1} + ((i / ${columns}) % ${rows})::float8)),
                '{properties,odc:region_code}', to_jsonb('T' || lpad((i % ${cells})::text, 3, '0'))),
                '{properties,datetime}', to_jsonb(to_char(timestamptz '2020-01-01 02:30:00+00' + (i / ${cells}) * interval '34 hours' + (i % ${cells}) * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
         FROM generate_series($4::int, $5::int) AS i`,
      [opts.template, opts.metadataType, opts.product, s, end],
    );
    opts.onProgress?.(end + 1 - opts.start);
  }
}

/** Runs `fill` with the product's dynamic indexes dropped, then rebuilds them and analyses the table. */
export async function withoutDynamicIndexes(db: pg.Pool, fill: () => Promise<void>): Promise<void> {
  const { rows: dix } = await db.query<{ indexname: string; indexdef: string }>("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'agdc' AND indexname LIKE 'dix_s2_l2a_%'");
  for (const d of dix) await db.query(`DROP INDEX agdc.${d.indexname}`);
  await fill();
  for (const d of dix) await db.query(d.indexdef);
  await db.query("VACUUM ANALYZE agdc.dataset");
}
