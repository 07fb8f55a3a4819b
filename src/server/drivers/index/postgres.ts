import "server-only";
import pg from "pg";
import { AppError } from "~/server/errors";
import {
  DefinitionError,
  jsonifyDocument,
  odcJson,
  parseMetadataTypeDefinition,
  parseProductDefinition,
  productMetadataTypeName,
  type MetadataTypeDefinition,
  type ProductDefinition,
} from "~/server/odc/definitions";
import { eo3Sources, Eo3Error, prepEo3, type PreparedEo3Document } from "~/server/odc/eo3";
import { constantFields, datasetFields, docFields, dynamicIndexes, extractFields, ident, viewSql, type OdcField } from "~/server/odc/fields";
import { createSchemaStatements, ensureRoles, grantsSql, hasSchema, schemaIsCurrent } from "~/server/odc/schema";
import { datasetColumnsSql, searchWhere, UnknownFieldError, type SearchQuery } from "~/server/odc/search";
import { redactUrl, withTimeout } from "../port";
import type { AddDatasetsOptions, AddDatasetsResult, AddDefinitionResult, IndexedDataset, IndexPort, IndexProduct, InitOptions, NewDataset } from "./index";

/** What the driver keeps of a product: enough to validate, prepare and search its datasets. */
interface ProductInfo extends IndexProduct {
  metadataTypeId: number;
  /** The product's `metadata` document: a dataset must contain it (ODC's product signature). */
  signature: Record<string, unknown>;
  fields: Map<string, OdcField>;
}

interface PreparedRow {
  id: string;
  product: ProductInfo;
  json: string;
  uris: { scheme: string; body: string }[];
  sources: { classifier: string; id: string }[];
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Serialises schema creation and definition changes between processes sharing one index.
const DDL_LOCK_KEY = 0x6f6463; // "odc"
// Rows per INSERT: 4 parameters each stays far below PostgreSQL's 65 535, and one statement of a few
// megabytes keeps round trips (not parsing) from dominating.
const ROWS_PER_STATEMENT = 1000;

/**
 * `datacube.utils.changes.contains`: v1 is a superset of v2; strings compare case-insensitively,
 * dicts recursively, a null signature matches anything.
 */
function contains(v1: unknown, v2: unknown): boolean {
  if (typeof v1 === "string") return typeof v2 === "string" && v1.toLowerCase() === v2.toLowerCase();
  if (v1 !== null && typeof v1 === "object" && !Array.isArray(v1)) {
    if (v2 === null || v2 === undefined) return true;
    if (typeof v2 !== "object" || Array.isArray(v2)) return false;
    return Object.entries(v2).every(([k, v]) => contains((v1 as Record<string, unknown>)[k], v));
  }
  return JSON.stringify(v1) === JSON.stringify(v2);
}

/** `split_uri`: scheme and body around the first colon, `s3://b/k.json` -> (`s3`, `//b/k.json`). */
export function splitUri(uri: string): { scheme: string; body: string } | undefined {
  const i = uri.indexOf(":");
  return i < 0 ? undefined : { scheme: uri.slice(0, i), body: uri.slice(i + 1) };
}

function definitionError(err: unknown): never {
  if (err instanceof DefinitionError) throw new AppError("BAD_REQUEST", err.message);
  throw err;
}

async function inTransaction<T>(client: pg.PoolClient, fn: () => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    const result = await fn();
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK");
    throw err;
  }
}

/** Runs the statement `build` makes for each chunk of `rows`, as one multi-row VALUES list of typed parameters. */
async function insertChunked<R extends pg.QueryResultRow>(
  db: pg.PoolClient,
  rows: unknown[][],
  build: (valuesSql: string) => string,
  casts: string[],
): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
    const values: unknown[] = [];
    const tuples = chunk.map((row) => `(${row.map((v, j) => `$${values.push(v)}::${casts[j]}`).join(", ")})`);
    const { rows: result } = await db.query<R>(build(tuples.join(", ")), values);
    out.push(...result);
  }
  return out;
}

/** ODC index on PostgreSQL (datacube-core 1.8 legacy `postgres` driver, schema `agdc`). */
export function createPostgresIndex(url: string, options: { maxConnections?: number } = {}): IndexPort {
  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 5, connectionTimeoutMillis: 5000 });
  // An idle client that loses its server must not crash the process.
  pool.on("error", () => undefined);

  let schemaSeen = false;
  const products = new Map<string, ProductInfo>();
  const productsById = new Map<number, ProductInfo>();

  const schemaPresent = async () => {
    if (!schemaSeen) schemaSeen = await hasSchema(pool);
    return schemaSeen;
  };
  const requireSchema = async () => {
    if (!(await schemaPresent())) throw new AppError("PRECONDITION_FAILED", "The ODC index has no agdc schema yet: initialise it first (datacube system init).");
  };

  async function loadProduct(where: "p.name" | "p.id", value: string | number): Promise<ProductInfo | undefined> {
    const { rows } = await pool.query<{ id: number; name: string; definition: Record<string, unknown>; metadata: Record<string, unknown>; mt_id: number; mt_name: string; mt_definition: MetadataTypeDefinition }>(
      `SELECT p.id, p.name, p.definition, p.metadata, m.id AS mt_id, m.name AS mt_name, m.definition AS mt_definition
         FROM agdc.dataset_type p JOIN agdc.metadata_type m ON m.id = p.metadata_type_ref WHERE ${where} = $1`,
      [value],
    );
    const r = rows[0];
    if (!r) return undefined;
    const measurements = ((r.definition.measurements ?? []) as { name: string; extra_dim?: string }[])
      // check_dataset_consistent: 3D measurements map onto 2D ones and are not required.
      .filter((m) => m.extra_dim === undefined)
      .map((m) => m.name);
    const info: ProductInfo = {
      id: r.id,
      name: r.name,
      metadataType: r.mt_name,
      metadataTypeId: r.mt_id,
      definition: r.definition,
      measurements,
      signature: r.metadata,
      fields: datasetFields(r.mt_definition),
    };
    products.set(info.name, info);
    productsById.set(info.id, info);
    return info;
  }
  const productByName = async (name: string) => products.get(name) ?? (await loadProduct("p.name", name));
  const productById = async (id: number) => productsById.get(id) ?? (await loadProduct("p.id", id));

  /**
   * `_setup_metadata_type_fields` / `_setup_product_fields` + `check_dynamic_fields`: create the
   * dynamic indexes that should exist and are missing, drop those that should not, and the view.
   */
  async function ensureDynamicFields(prefix: string, fields: Map<string, OdcField>, excluded: Set<string>, ref: { column: "dataset_type_ref" | "metadata_type_ref"; id: number }) {
    const filter = `archived IS NULL AND ${ref.column} = ${ref.id}`;
    for (const index of dynamicIndexes(prefix, fields, excluded, filter)) {
      const { rows } = await pool.query<{ name: string; valid: boolean }>(
        `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
          WHERE c.oid IN (to_regclass($1), to_regclass($2))`,
        [`agdc.${index.name}`, `agdc.${index.legacyName}`],
      );
      // A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind: build it again.
      for (const r of rows.filter((r) => !r.valid || !index.shouldExist)) await pool.query(`DROP INDEX CONCURRENTLY IF EXISTS agdc.${ident(r.name)}`);
      if (index.shouldExist && !rows.some((r) => r.valid)) {
        // ODC builds them concurrently so that adding a product never blocks indexing of the others.
        await pool.query(index.create(true));
      }
    }
    const view = `agdc.dv_${prefix}_dataset`;
    const { rows } = await pool.query<{ v: string | null; legacy: string | null }>("SELECT to_regclass($1)::text AS v, to_regclass($2)::text AS legacy", [view, `agdc.${prefix}_dataset`]);
    if (!rows[0]?.v) await pool.query(viewSql(prefix, fields, `agdc.dataset.archived IS NULL AND agdc.dataset.${ref.column} = ${ref.id}`));
    if (rows[0]?.legacy) await pool.query(`DROP VIEW agdc.${prefix}_dataset`);
  }

  /** Inserts a definition row unless one of that name exists; refuses a different definition. */
  async function insertDefinition(kind: "metadata type" | "product", table: string, name: string, json: string, insertSql: string, insertValues: unknown[]) {
    const client = await pool.connect();
    try {
      return await inTransaction(client, async () => {
        await client.query("SELECT pg_advisory_xact_lock($1)", [DDL_LOCK_KEY]);
        const existing = await client.query<{ id: number; same: boolean }>(`SELECT id, definition = $2::jsonb AS same FROM agdc.${table} WHERE name = $1`, [name, json]);
        const row = existing.rows[0];
        if (row) {
          if (!row.same) throw new AppError("CONFLICT", `${kind} ${name} is already in the index with a different definition`);
          return { id: row.id, added: false };
        }
        const { rows } = await client.query<{ id: number }>(insertSql, insertValues);
        return { id: (rows[0] as { id: number }).id, added: true };
      });
    } finally {
      client.release();
    }
  }

  async function addMetadataType(definition: unknown): Promise<AddDefinitionResult> {
    let parsed: MetadataTypeDefinition;
    try {
      parsed = parseMetadataTypeDefinition(definition);
      datasetFields(parsed);
    } catch (err) {
      definitionError(err);
    }
    await requireSchema();
    const json = odcJson(definition);
    const { id, added } = await insertDefinition("metadata type", "metadata_type", parsed.name, json, "INSERT INTO agdc.metadata_type (name, definition) VALUES ($1, $2::jsonb) RETURNING id", [parsed.name, json]);
    // The type's own fields are all excluded: queries are per product, so ODC keeps only its view.
    const fields = datasetFields(parsed);
    await ensureDynamicFields(parsed.name, fields, new Set(docFields(fields).keys()), { column: "metadata_type_ref", id });
    return { name: parsed.name, id, added };
  }

  async function addProduct(definition: unknown): Promise<AddDefinitionResult> {
    let parsed: ProductDefinition;
    try {
      parsed = parseProductDefinition(definition);
    } catch (err) {
      definitionError(err);
    }
    await requireSchema();
    const metadataTypeName = productMetadataTypeName(parsed);
    // An embedded metadata type is added if missing and the product then refers to it by name
    // (`ProductResource.from_doc` and `add` in datacube/index/postgres/_products.py).
    if (typeof parsed.metadata_type !== "string") await addMetadataType((definition as { metadata_type: unknown }).metadata_type);
    const mt = await pool.query<{ id: number; definition: MetadataTypeDefinition }>("SELECT id, definition FROM agdc.metadata_type WHERE name = $1", [metadataTypeName]);
    const metadataType = mt.rows[0];
    if (!metadataType) throw new AppError("PRECONDITION_FAILED", `product ${parsed.name} uses metadata type ${metadataTypeName}, which is not in the index: add it first`);
    const stored = jsonifyDocument({ ...(definition as Record<string, unknown>), metadata_type: metadataTypeName }) as Record<string, unknown>;
    const json = JSON.stringify(stored);
    const { id, added } = await insertDefinition(
      "product",
      "dataset_type",
      parsed.name,
      json,
      "INSERT INTO agdc.dataset_type (name, metadata, metadata_type_ref, definition) VALUES ($1, $2::jsonb, $3, $4::jsonb) RETURNING id",
      [parsed.name, JSON.stringify(stored.metadata), metadataType.id, json],
    );
    // Fields in the order of the stored (jsonb) definition, as ODC reads it back before indexing;
    // run on an existing product too, which repairs indexes a failed earlier add left missing.
    const fields = datasetFields(metadataType.definition);
    await ensureDynamicFields(parsed.name, fields, constantFields(fields, stored.metadata), { column: "dataset_type_ref", id });
    products.delete(parsed.name);
    return { name: parsed.name, id, added };
  }

  function toDataset(row: Record<string, unknown>, product: ProductInfo): IndexedDataset {
    const metadata = row.metadata as PreparedEo3Document;
    return {
      id: row.id as string,
      product: product.name,
      metadata,
      uris: (row.uris as string[] | null) ?? [],
      archived: (row.archived as Date | null) ?? null,
      added: row.added as Date,
      addedBy: row.added_by as string,
      fields: extractFields(product.fields, metadata),
    };
  }

  /** Validates and prepares one dataset; returns the reason when ODC would not index it. */
  async function prepareRow(item: NewDataset): Promise<PreparedRow | { id: string | null; reason: string }> {
    const doc = item.document as unknown as Record<string, unknown> | null;
    if (doc === null || typeof doc !== "object") return { id: null, reason: "the dataset document is not an object" };
    const id = typeof doc.id === "string" && UUID_RE.test(doc.id) ? doc.id.toLowerCase() : null;
    if (!id) return { id: null, reason: `dataset id ${JSON.stringify(doc.id)} is not a UUID` };
    const productName = item.product ?? (doc.product as { name?: unknown } | undefined)?.name;
    if (typeof productName !== "string") return { id, reason: "no product given and the document has no product.name" };
    const product = await productByName(productName);
    if (!product) return { id, reason: `unknown product ${productName}` };
    if (!contains(doc, product.signature)) return { id, reason: `dataset does not match the signature of product ${product.name}: ${JSON.stringify(product.signature)}` };
    const measurements = doc.measurements;
    if (product.measurements.length > 0) {
      if (measurements === null || typeof measurements !== "object") return { id, reason: "no measurements defined for the dataset" };
      // check_dataset_consistent: the product's measurements must be a subset of the dataset's.
      const missing = product.measurements.filter((m) => !Object.hasOwn(measurements, m));
      if (missing.length > 0) return { id, reason: `the dataset lacks measurements of product ${product.name}: ${missing.join(", ")}` };
    }
    const uris = [];
    for (const uri of item.uris) {
      const parts = splitUri(uri);
      if (!parts) return { id, reason: `location ${JSON.stringify(uri)} is not a URI` };
      uris.push(parts);
    }
    try {
      const prepared = prepEo3(item.document);
      const sources = eo3Sources(item.document);
      const badSource = sources.find((s) => !UUID_RE.test(s.id));
      if (badSource) return { id, reason: `lineage source ${JSON.stringify(badSource.id)} is not a dataset id (UUID)` };
      return { id, product, uris, sources, json: odcJson(prepared) };
    } catch (err) {
      if (err instanceof Eo3Error) return { id, reason: err.message };
      throw err;
    }
  }

  async function addDatasets(datasets: readonly NewDataset[], options: AddDatasetsOptions = {}): Promise<AddDatasetsResult> {
    const result: AddDatasetsResult = { added: [], updated: [], unchanged: [], rejected: [] };
    if (datasets.length === 0) return result;
    await requireSchema();
    const rows: PreparedRow[] = [];
    const seen = new Set<string>();
    for (const item of datasets) {
      const row = await prepareRow(item);
      if ("reason" in row) result.rejected.push(row);
      else if (seen.has(row.id)) result.rejected.push({ id: row.id, reason: "the same dataset id appears twice in the batch" });
      else {
        seen.add(row.id);
        rows.push(row);
      }
    }
    // Lineage sources must be indexed (agdc.dataset_source references agdc.dataset): refuse a dataset
    // whose sources are missing rather than fail the batch on the foreign key. A source may come in
    // the same batch, unless it is refused itself: repeat until nothing more is refused.
    const sourceIds = [...new Set(rows.flatMap((r) => r.sources.map((s) => s.id.toLowerCase())))].filter((s) => !seen.has(s));
    const indexed = new Set<string>();
    if (sourceIds.length > 0) {
      const { rows: found } = await pool.query<{ id: string }>("SELECT id::text FROM agdc.dataset WHERE id = ANY($1::uuid[])", [sourceIds]);
      for (const f of found) indexed.add(f.id);
    }
    for (let refused = true; refused; ) {
      refused = false;
      const batch = new Set(rows.map((r) => r.id));
      for (let i = rows.length - 1; i >= 0; i--) {
        const row = rows[i] as PreparedRow;
        const missing = row.sources.filter((s) => !indexed.has(s.id.toLowerCase()) && !batch.has(s.id.toLowerCase()));
        if (missing.length > 0) {
          result.rejected.push({ id: row.id, reason: `lineage source datasets are not in the index: ${missing.map((s) => s.id).join(", ")}` });
          rows.splice(i, 1);
          refused = true;
        }
      }
    }
    if (rows.length === 0) return result;

    const update = options.onExisting === "update";
    const client = await pool.connect();
    try {
      await inTransaction(client, async () => {
        const written = await insertChunked<{ id: string; inserted: boolean }>(
          client,
          rows.map((r) => [r.id, r.product.metadataTypeId, r.product.id, r.json]),
          (values) =>
            `INSERT INTO agdc.dataset (id, metadata_type_ref, dataset_type_ref, metadata) VALUES ${values} ` +
            (update
              ? // Same product only (ODC's update_dataset); `xmax = 0` tells an inserted row from an updated one.
                "ON CONFLICT (id) DO UPDATE SET metadata = EXCLUDED.metadata WHERE agdc.dataset.dataset_type_ref = EXCLUDED.dataset_type_ref AND agdc.dataset.metadata IS DISTINCT FROM EXCLUDED.metadata RETURNING id::text, (xmax = 0) AS inserted"
              : "ON CONFLICT (id) DO NOTHING RETURNING id::text, true AS inserted"),
          ["uuid", "int2", "int2", "jsonb"],
        );
        const status = new Map(written.map((w) => [w.id, w.inserted ? "added" : "updated"]));
        if (update) {
          const untouched = rows.filter((r) => !status.has(r.id));
          if (untouched.length > 0) {
            const { rows: existing } = await client.query<{ id: string; ref: number }>("SELECT id::text, dataset_type_ref AS ref FROM agdc.dataset WHERE id = ANY($1::uuid[])", [untouched.map((r) => r.id)]);
            const refs = new Map(existing.map((e) => [e.id, e.ref]));
            for (const r of untouched) {
              const ref = refs.get(r.id);
              if (ref !== undefined && ref !== r.product.id) {
                const other = await productById(ref);
                status.set(r.id, "rejected");
                result.rejected.push({ id: r.id, reason: `dataset is already indexed in product ${other?.name ?? ref}, not ${r.product.name}` });
              }
            }
          }
        }
        for (const r of rows) {
          const s = status.get(r.id);
          if (s === "added") result.added.push(r.id);
          else if (s === "updated") result.updated.push(r.id);
          else if (s !== "rejected") result.unchanged.push(r.id);
        }
        // `datacube dataset add` records locations of new datasets only; an update ensures them too.
        const located = rows.filter((r) => status.get(r.id) === "added" || (update && status.get(r.id) !== "rejected"));
        await insertChunked(
          client,
          located.flatMap((r) => r.uris.map((u) => [r.id, u.scheme, u.body])),
          (values) => `INSERT INTO agdc.dataset_location (dataset_ref, uri_scheme, uri_body) VALUES ${values} ON CONFLICT DO NOTHING`,
          ["uuid", "text", "text"],
        );
        await insertChunked(
          client,
          rows.filter((r) => status.get(r.id) === "added").flatMap((r) => r.sources.map((s) => [r.id, s.classifier, s.id])),
          (values) => `INSERT INTO agdc.dataset_source (dataset_ref, classifier, source_dataset_ref) VALUES ${values} ON CONFLICT DO NOTHING`,
          ["uuid", "text", "uuid"],
        );
      });
    } finally {
      client.release();
    }
    return result;
  }

  const checkIds = (ids: readonly string[]) => {
    const bad = ids.filter((i) => !UUID_RE.test(i));
    if (bad.length > 0) throw new AppError("BAD_REQUEST", `not dataset ids (UUIDs): ${bad.slice(0, 5).join(", ")}`);
  };

  async function setArchived(ids: readonly string[], archived: boolean): Promise<number> {
    checkIds(ids);
    if (ids.length === 0) return 0;
    await requireSchema();
    const { rowCount } = await pool.query(
      archived
        ? "UPDATE agdc.dataset SET archived = now() WHERE id = ANY($1::uuid[]) AND archived IS NULL"
        : "UPDATE agdc.dataset SET archived = NULL WHERE id = ANY($1::uuid[]) AND archived IS NOT NULL",
      [ids],
    );
    return rowCount ?? 0;
  }

  async function productForSearch(name: string): Promise<ProductInfo> {
    await requireSchema();
    const product = await productByName(name);
    if (!product) throw new AppError("NOT_FOUND", `No product ${name} in the ODC index`);
    return product;
  }

  function where(product: ProductInfo, query: SearchQuery) {
    for (const [key, bounds] of [["lon", query.lon], ["lat", query.lat]] as const) {
      if (bounds && bounds.some((b) => b !== null && !Number.isFinite(b))) throw new AppError("BAD_REQUEST", `${key} bounds must be numbers`);
    }
    try {
      return searchWhere(product, query);
    } catch (err) {
      if (err instanceof UnknownFieldError) throw new AppError("BAD_REQUEST", err.message);
      throw err;
    }
  }

  return {
    driver: "postgres",
    endpoint: redactUrl(url),
    async check() {
      await withTimeout(pool.query("select 1"), 5000, "ODC index database");
      return (await hasSchema(pool)) ? "agdc schema present" : "reachable; no agdc schema yet";
    },
    async productCounts() {
      if (!(await schemaPresent())) return [];
      const { rows } = await pool.query<{ product: string; datasets: string }>(
        `select t.name as product, count(d.id) as datasets
           from agdc.dataset_type t left join agdc.dataset d on d.dataset_type_ref = t.id and d.archived is null
          group by t.name order by t.name`,
      );
      return rows.map((r) => ({ product: r.product, datasets: Number(r.datasets) }));
    },
    async init(opts: InitOptions = {}) {
      const withPermissions = opts.withPermissions ?? true;
      const client = await pool.connect();
      try {
        // An existing schema is left alone, roles and grants included: `datacube system init` would
        // re-grant and migrate it, which is for its administrators to decide, not for a console start.
        if (await hasSchema(client)) {
          schemaSeen = true;
          return { created: false, current: await schemaIsCurrent(client) };
        }
        // One transaction under a lock: two processes initialising the same database must not both
        // create the schema, nor update the database's grants at once ("tuple concurrently updated").
        const created = await inTransaction(client, async () => {
          await client.query("SELECT pg_advisory_xact_lock($1)", [DDL_LOCK_KEY]);
          if (await hasSchema(client)) return false;
          if (withPermissions) {
            await ensureRoles(client);
            // ODC switches to agdc_admin so that the schema's objects are owned by that role.
            await client.query("SET LOCAL ROLE agdc_admin");
          }
          for (const statement of createSchemaStatements()) await client.query(statement);
          if (withPermissions) {
            await client.query("RESET ROLE");
            await client.query(grantsSql);
          }
          return true;
        });
        schemaSeen = true;
        return { created, current: await schemaIsCurrent(client) };
      } finally {
        client.release();
      }
    },
    addMetadataType,
    addProduct,
    async getProduct(name) {
      if (!(await schemaPresent())) return undefined;
      const p = await productByName(name);
      return p && { id: p.id, name: p.name, metadataType: p.metadataType, definition: p.definition, measurements: p.measurements };
    },
    addDatasets,
    archiveDatasets: (ids) => setArchived(ids, true),
    restoreDatasets: (ids) => setArchived(ids, false),
    async getDatasets(ids) {
      checkIds(ids);
      if (ids.length === 0) return [];
      await requireSchema();
      const { rows } = await pool.query(`SELECT ${datasetColumnsSql} FROM agdc.dataset WHERE agdc.dataset.id = ANY($1::uuid[])`, [ids]);
      const out: IndexedDataset[] = [];
      for (const row of rows) {
        const product = await productById(row.dataset_type_ref as number);
        if (product) out.push(toDataset(row, product));
      }
      return out;
    },
    async searchDatasets(productName, query, opts = {}) {
      const product = await productForSearch(productName);
      const w = where(product, query);
      const limit = opts.limit === undefined ? "" : ` LIMIT ${Math.max(0, Math.trunc(opts.limit))}`;
      const { rows } = await pool.query(`SELECT ${datasetColumnsSql} FROM agdc.dataset WHERE ${w.text}${limit}`, w.values);
      return rows.map((row) => toDataset(row, product));
    },
    async countDatasets(productName, query) {
      const product = await productForSearch(productName);
      const w = where(product, query);
      const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM agdc.dataset WHERE ${w.text}`, w.values);
      return Number(rows[0]?.n ?? 0);
    },
    async datasetExtents(productName, query, opts) {
      const product = await productForSearch(productName);
      const w = where(product, query);
      const fields = docFields(product.fields);
      const [lon, lat] = (["lon", "lat"] as const).map((name) => {
        const f = fields.get(name);
        if (!f) throw new AppError("BAD_REQUEST", `product ${productName} has no ${name} search field`);
        return f.sql("agdc.dataset.metadata");
      });
      const { rows } = await pool.query<{ west: number; east: number; south: number; north: number }>(
        `SELECT lower(${lon}) AS west, upper(${lon}) AS east, lower(${lat}) AS south, upper(${lat}) AS north FROM agdc.dataset WHERE ${w.text} LIMIT ${Math.max(0, Math.trunc(opts.limit))}`,
        w.values,
      );
      return rows;
    },
    close: () => pool.end(),
  };
}
