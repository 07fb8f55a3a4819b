import "server-only";
import type { DocField, OdcField } from "./fields";
import { docFields } from "./fields";

/**
 * Dataset search SQL as datacube-core 1.8 writes it (`_api.py`, `search_datasets_query`): ranges are
 * compared with `&&` against the very expressions of the dynamic GiST indexes, the product with
 * `dataset_type_ref = <id>` and `archived IS NULL` as in the indexes' predicate, so that PostgreSQL can
 * use `dix_<product>_lat_lon_time`.
 */

/** An inclusive range; either end may be open (null). Times are Dates or ISO 8601 strings. */
export type Bounds<T> = readonly [T | null, T | null];

export interface SearchQuery {
  /** Longitude range in degrees (WGS 84), inclusive. */
  lon?: Bounds<number>;
  /** Latitude range in degrees (WGS 84), inclusive. */
  lat?: Bounds<number>;
  /** Acquisition time range, inclusive. */
  time?: Bounds<Date | string>;
  /** Other search fields of the metadata type: equality for single-valued fields, containment for ranges. */
  fields?: Record<string, string | number>;
}

export interface SqlQuery {
  text: string;
  values: unknown[];
}

/** A search term that names no field of the product's metadata type. */
export class UnknownFieldError extends Error {
  constructor(readonly field: string, readonly product: string) {
    super(`product ${product} has no search field ${field}`);
    this.name = "UnknownFieldError";
  }
}

// Every active location, newest first (`_DATASET_SELECT_FIELDS`): datacube puts the first in `uri`.
const urisSql =
  "array((SELECT selected_dataset_location.uri_scheme || ':' || selected_dataset_location.uri_body " +
  "FROM agdc.dataset_location AS selected_dataset_location " +
  "WHERE selected_dataset_location.dataset_ref = agdc.dataset.id AND selected_dataset_location.archived IS NULL " +
  "ORDER BY selected_dataset_location.added DESC, selected_dataset_location.id DESC)) AS uris";

export const datasetColumnsSql =
  "agdc.dataset.id, agdc.dataset.metadata_type_ref, agdc.dataset.dataset_type_ref, agdc.dataset.metadata, " +
  `agdc.dataset.archived, agdc.dataset.added, agdc.dataset.added_by, ${urisSql}`;

const toTime = (v: Date | string | null) => (v instanceof Date ? v.toISOString() : v);

/**
 * The WHERE clause and parameters of a search within one product. `$n` numbering starts after
 * `offset` parameters the caller already has.
 */
export function searchWhere(product: { id: number; name: string; fields: Map<string, OdcField> }, query: SearchQuery, offset = 0): SqlQuery {
  const fields = docFields(product.fields);
  const values: unknown[] = [];
  const param = (v: unknown, cast: string) => {
    values.push(v);
    return `$${offset + values.length}::${cast}`;
  };
  const field = (name: string): DocField => {
    const f = fields.get(name);
    if (!f) throw new UnknownFieldError(name, product.name);
    return f;
  };
  const conditions = ["agdc.dataset.archived IS NULL"];
  // RangeBetweenExpression: `field && '[low,high]'`, bounds inclusive; an open end is unbounded.
  const overlaps = (name: string, fn: string, cast: string, b: Bounds<unknown>) => {
    const f = field(name);
    conditions.push(`(${f.sql("agdc.dataset.metadata")} && ${fn}(${param(b[0], cast)}, ${param(b[1], cast)}, '[]'))`);
  };
  if (query.time) overlaps("time", "tstzrange", "timestamptz", [toTime(query.time[0]), toTime(query.time[1])]);
  if (query.lat) overlaps("lat", "agdc.float8range", "float8", query.lat);
  if (query.lon) overlaps("lon", "agdc.float8range", "float8", query.lon);
  for (const [name, value] of Object.entries(query.fields ?? {})) {
    const f = field(name);
    const cast = { string: "text", integer: "integer", numeric: "numeric", double: "float8", datetime: "timestamptz" } as const;
    if (f.indexType === "gist") {
      // RangeContainsExpression: the range holds the value.
      const scalar = f.type === "datetime-range" ? "timestamptz" : f.type === "double-range" ? "float8" : "numeric";
      conditions.push(`(${f.sql("agdc.dataset.metadata")} @> ${param(value, scalar)})`);
    } else if (f.type === "datetime") {
      conditions.push(`(${f.sql("agdc.dataset.metadata")} = ${param(value, "timestamptz")})`);
    } else {
      conditions.push(`(${f.sql("agdc.dataset.metadata")} = ${param(value, cast[f.type as keyof typeof cast])})`);
    }
  }
  // A literal, as ODC writes it: the planner must prove the dynamic indexes' partial predicate
  // `dataset_type_ref = <id>`, which it cannot do against a parameter in a generic plan.
  conditions.push(`agdc.dataset.dataset_type_ref = ${Math.trunc(product.id)}`);
  return { text: conditions.join(" AND "), values };
}

/** The full search statement: datasets with their active locations, at most `limit` rows. */
export function searchSql(product: { id: number; name: string; fields: Map<string, OdcField> }, query: SearchQuery, limit?: number): SqlQuery {
  const where = searchWhere(product, query);
  const limitSql = limit === undefined ? "" : ` LIMIT ${Math.max(0, Math.trunc(limit))}`;
  return { text: `SELECT ${datasetColumnsSql} FROM agdc.dataset WHERE ${where.text}${limitSql}`, values: where.values };
}
