import "server-only";
import type pg from "pg";
import type { MetadataTypeDefinition } from "~/server/odc/definitions";
import { datasetFields, docFields } from "~/server/odc/fields";
import { hasSchema } from "~/server/odc/schema";

/**
 * Per product of an ODC index: active dataset count, acquisition time range and latest dataset, for
 * the Indexing page. Read-only SQL over `agdc` with the metadata type's own `time` and `region_code`
 * expressions (src/server/odc/fields.ts), so it agrees with ODC's search and uses ODC's indexes:
 * a scan for min/max of an expression over millions of TOASTed documents takes minutes, so the time
 * range is found by bisection with EXISTS probes on the product's `dix_<product>_time_lat_lon` GiST
 * index (about 70 probes of well under a millisecond each), and the count comes from the
 * `ix_ds_prod_isactive` index. (IndexPort has no summary operation yet; this is the one place that
 * would move into the driver when a second index driver arrives.)
 */

export interface ProductSummary {
  product: string;
  datasets: number;
  /** Earliest start and latest end of acquisition of the active datasets. */
  from: Date | null;
  to: Date | null;
  /** The active dataset whose acquisition ends last. */
  latest: { id: string; label: string | null; time: Date | null; regionCode: string | null; added: Date } | null;
}

// Bisection bounds and precision: ODC times are after 1900 and before 2200; one second is enough.
const EARLIEST = Date.UTC(1900, 0, 1);
const LATEST = Date.UTC(2200, 0, 1);
const PRECISION_MS = 1000;

export async function productSummaries(db: pg.Pool): Promise<ProductSummary[]> {
  if (!(await hasSchema(db))) return [];
  const { rows: products } = await db.query<{ id: number; name: string; definition: MetadataTypeDefinition }>(
    "SELECT t.id, t.name, m.definition FROM agdc.dataset_type t JOIN agdc.metadata_type m ON m.id = t.metadata_type_ref ORDER BY t.name",
  );
  const out: ProductSummary[] = [];
  for (const p of products) {
    const fields = docFields(datasetFields(p.definition));
    const time = fields.get("time");
    const region = fields.get("region_code");
    // The predicate of ODC's partial indexes, with the product id as a literal as ODC writes it.
    const active = `agdc.dataset.archived IS NULL AND agdc.dataset.dataset_type_ref = ${Math.trunc(p.id)}`;
    const { rows: counted } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM agdc.dataset WHERE ${active}`);
    const datasets = Number(counted[0]?.n ?? 0);
    if (!time || time.type !== "datetime-range" || datasets === 0) {
      out.push({ product: p.name, datasets, from: null, to: null, latest: null });
      continue;
    }
    const range = time.sql("agdc.dataset.metadata");
    const exists = async (lower: number | null, upper: number | null) => {
      const { rows } = await db.query<{ e: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM agdc.dataset WHERE ${active} AND (${range} && tstzrange($1::timestamptz, $2::timestamptz, '[]'))) AS e`,
        [lower === null ? null : new Date(lower).toISOString(), upper === null ? null : new Date(upper).toISOString()],
      );
      return Boolean(rows[0]?.e);
    };
    // Largest t with a dataset ending at or after t; smallest t with one starting at or before t.
    let [lo, hi] = [EARLIEST, LATEST];
    while (hi - lo > PRECISION_MS) {
      const mid = Math.floor((lo + hi) / 2);
      if (await exists(mid, null)) lo = mid;
      else hi = mid;
    }
    const nearEnd = lo;
    [lo, hi] = [EARLIEST, LATEST];
    while (hi - lo > PRECISION_MS) {
      const mid = Math.floor((lo + hi) / 2);
      if (await exists(null, mid)) hi = mid;
      else lo = mid;
    }
    const nearStart = hi;
    // Exact values from the few datasets within the last second of the bisection, again by index.
    const { rows: ends } = await db.query<{ to: Date | null; id: string; label: string | null; time: Date | null; region: string | null; added: Date }>(
      `SELECT upper(${range}) AS to, agdc.dataset.id::text AS id, agdc.dataset.metadata ->> 'label' AS label, lower(${range}) AS time,
              ${region ? region.sql("agdc.dataset.metadata") : "NULL"} AS region, agdc.dataset.added
         FROM agdc.dataset WHERE ${active} AND (${range} && tstzrange($1::timestamptz, NULL, '[]'))
        ORDER BY upper(${range}) DESC, agdc.dataset.added DESC LIMIT 1`,
      [new Date(nearEnd - PRECISION_MS).toISOString()],
    );
    const { rows: starts } = await db.query<{ from: Date | null }>(
      `SELECT min(lower(${range})) AS from FROM agdc.dataset WHERE ${active} AND (${range} && tstzrange(NULL, $1::timestamptz, '[]'))`,
      [new Date(nearStart + PRECISION_MS).toISOString()],
    );
    const l = ends[0];
    out.push({
      product: p.name,
      datasets,
      from: starts[0]?.from ?? null,
      to: l?.to ?? null,
      latest: l ? { id: l.id, label: l.label, time: l.time, regionCode: l.region, added: l.added } : null,
    });
  }
  return out;
}
