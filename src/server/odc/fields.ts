import "server-only";
import { DefinitionError, type MetadataTypeDefinition, type SearchFieldDefinition } from "./definitions";

/**
 * Search fields of an ODC metadata type and the SQL expressions datacube-core 1.8 builds for them
 * (`datacube/drivers/postgres/_fields.py`). The expressions must be the same as ODC's, character for
 * character where it matters: PostgreSQL uses an expression index only for a query that repeats the
 * indexed expression, and ODC's own searches must hit the indexes we create (and ours, theirs).
 */

export type FieldType =
  | "string"
  | "integer"
  | "numeric"
  | "double"
  | "datetime"
  | "numeric-range"
  | "integer-range"
  | "double-range"
  | "datetime-range";

type ScalarType = "string" | "integer" | "numeric" | "double" | "datetime";

/** A field computed from the dataset document (`PgDocField`): it has an expression and may be indexed. */
export interface DocField {
  kind: "doc";
  name: string;
  description?: string;
  type: FieldType;
  indexed: boolean;
  /** gist for ranges, btree for single values (`postgres_index_type`). */
  indexType: "btree" | "gist";
  /** The SQL expression over the given jsonb column (`metadata` in indexes, `agdc.dataset.metadata` in queries). */
  sql(column: string): string;
  /** The value in a document, computed in JS as `extract()` does in Python; null when absent. */
  extract(doc: unknown): FieldValue;
}

/** A column of the dataset, product or metadata type table (`NativeField`): shown in views, never indexed. */
export interface NativeField {
  kind: "native";
  name: string;
  /** Its SQL in the `dv_*` views. */
  sql: string;
}

export type OdcField = DocField | NativeField;
export type FieldValue = string | number | { begin: string | number | null; end: string | number | null } | null;

// Types and SQL casts of `_fields.py` (`value_to_alchemy` of each class).
const scalarCast: Record<ScalarType, (sql: string) => string> = {
  string: (s) => s,
  integer: (s) => `CAST(${s} AS INTEGER)`,
  numeric: (s) => `CAST(${s} AS NUMERIC)`,
  double: (s) => `CAST(${s} AS DOUBLE PRECISION)`,
  datetime: (s) => `agdc.common_timestamp(${s})`,
};
const rangeFunction: Record<string, { scalar: ScalarType; fn: string }> = {
  "numeric-range": { scalar: "numeric", fn: "numrange" },
  // `float-range` is ODC's backwards-compatible alias of numeric-range.
  "float-range": { scalar: "numeric", fn: "numrange" },
  // IntRangeDocField builds numrange() too (typed INT4RANGE on the Python side only).
  "integer-range": { scalar: "integer", fn: "numrange" },
  "double-range": { scalar: "double", fn: "agdc.float8range" },
  "datetime-range": { scalar: "datetime", fn: "tstzrange" },
};

/** A PostgreSQL text[] literal of a JSON path, `'{properties, odc:region_code}'` as SQLAlchemy renders it. */
export function pgPathLiteral(path: readonly string[]): string {
  const items = path.map((p) => (/^[^\s{}",\\]+$/.test(p) && p.toUpperCase() !== "NULL" ? p : `"${p.replace(/[\\"]/g, (c) => `\\${c}`)}"`));
  return `'{${items.join(", ").replace(/'/g, "''")}}'`;
}

/** `metadata #>> '{a, b}'`: the text at an offset of the document. */
function offsetSql(column: string, path: readonly string[]): string {
  return `${column} #>> ${pgPathLiteral(path)}`;
}

function valueAt(doc: unknown, path: readonly string[]): unknown {
  let v: unknown = doc;
  for (const key of path) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
    v = (v as Record<string, unknown>)[key];
  }
  return v ?? null;
}

function parseScalar(type: ScalarType, raw: unknown): string | number | null {
  if (raw === null || raw === undefined) return null;
  switch (type) {
    case "string":
      return typeof raw === "string" ? raw : JSON.stringify(raw);
    case "integer":
    case "numeric":
    case "double": {
      const n = typeof raw === "number" ? raw : Number(raw);
      return Number.isNaN(n) ? null : n;
    }
    case "datetime": {
      if (typeof raw !== "string") return null;
      // common_timestamp(): a timestamp without zone is UTC.
      const hasZone = /(Z|[+-]\d\d(:?\d\d)?)$/i.test(raw.trim());
      const t = Date.parse(hasZone || !/T|\d \d/.test(raw) ? raw : `${raw}Z`);
      return Number.isNaN(t) ? null : new Date(t).toISOString();
    }
  }
}

/** Offsets are either one path (`[properties, eo:platform]`) or several (`[[a, b], [c]]`). */
function normaliseOffsets(name: string, offsets: unknown): string[][] {
  if (!Array.isArray(offsets) || offsets.length === 0) throw new DefinitionError(`field ${name}: value requires at least one offset`);
  if (typeof offsets[0] === "string") return [offsets as string[]];
  return offsets as string[][];
}

function simpleField(name: string, description: string | undefined, type: ScalarType, indexed: boolean, offsetSpec: unknown, selection: "first" | "least" | "greatest"): DocField {
  const offsets = normaliseOffsets(name, offsetSpec);
  const aggregate = { first: "coalesce", least: "least", greatest: "greatest" }[selection];
  return {
    kind: "doc",
    name,
    description,
    type,
    indexed,
    indexType: "btree",
    sql(column) {
      const values = offsets.map((o) => scalarCast[type](offsetSql(column, o)));
      return values.length > 1 ? `${aggregate}(${values.join(", ")})` : (values[0] as string);
    },
    extract(doc) {
      const values = offsets.map((o) => parseScalar(type, valueAt(doc, o))).filter((v): v is string | number => v !== null);
      if (values.length === 0) return null;
      if (values.length === 1 || selection === "first") return values[0] as string | number;
      const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      return (selection === "least" ? sorted[0] : sorted[sorted.length - 1]) as string | number;
    },
  };
}

function rangeField(name: string, description: string | undefined, typeName: string, indexed: boolean, spec: SearchFieldDefinition): DocField {
  const r = rangeFunction[typeName];
  if (!r) throw new DefinitionError(`field ${name} has unknown type ${typeName}`);
  if (!spec.min_offset || !spec.max_offset) throw new DefinitionError(`field ${name}: a ${typeName} needs min_offset and max_offset`);
  const lower = simpleField(`${name}_lower`, description, r.scalar, false, spec.min_offset, "least");
  const greater = simpleField(`${name}_greater`, description, r.scalar, false, spec.max_offset, "greatest");
  return {
    kind: "doc",
    name,
    description,
    type: typeName === "float-range" ? "numeric-range" : (typeName as FieldType),
    indexed,
    indexType: "gist",
    sql: (column) => `${r.fn}(${lower.sql(column)}, ${greater.sql(column)}, '[]')`,
    extract(doc) {
      const begin = lower.extract(doc) as string | number | null;
      const end = greater.extract(doc) as string | number | null;
      // RangeDocField.extract: `if not min_val and not max_val` (Python truthiness: 0 counts as absent).
      if (!begin && !end) return null;
      return { begin, end };
    },
  };
}

function searchField(name: string, spec: SearchFieldDefinition): DocField {
  const typeName = spec.type ?? "string";
  // `indexed` defaults to true; a string is compared case-insensitively with "true" (`parse_fields`).
  const indexed = typeof spec.indexed === "string" ? spec.indexed.toLowerCase() === "true" : (spec.indexed ?? true);
  if (typeName in rangeFunction) return rangeField(name, spec.description, typeName, indexed, spec);
  if (!["string", "integer", "numeric", "double", "datetime"].includes(typeName)) {
    throw new DefinitionError(`field ${name} has unknown type ${typeName}`);
  }
  if (!spec.offset) throw new DefinitionError(`field ${name}: a ${typeName} field needs an offset`);
  return simpleField(name, spec.description, typeName as ScalarType, indexed, spec.offset, "first");
}

/**
 * All fields of datasets of a metadata type, in the order ODC puts them in its `dv_*` views:
 * native columns, then creation_time / format / label, then the search fields in the order of the
 * definition object given (a search field of the same name replaces a fixed one in place, as a
 * Python dict update does). `get_native_fields` + `get_dataset_fields` in `_api.py`.
 */
export function datasetFields(definition: MetadataTypeDefinition): Map<string, OdcField> {
  const fields = new Map<string, OdcField>();
  const native: [string, string][] = [
    ["id", "agdc.dataset.id"],
    ["indexed_time", "agdc.dataset.added"],
    ["indexed_by", "agdc.dataset.added_by"],
    ["product", "agdc.dataset_type.name"],
    ["dataset_type_id", "agdc.dataset.dataset_type_ref"],
    ["metadata_type", "agdc.metadata_type.name"],
    ["metadata_type_id", "agdc.dataset.metadata_type_ref"],
    ["metadata_doc", "agdc.dataset.metadata"],
  ];
  for (const [name, sql] of native) fields.set(name, { kind: "native", name, sql });
  const ds = definition.dataset;
  fields.set("creation_time", simpleField("creation_time", "Time when dataset was created (processed)", "datetime", false, ds.creation_dt.length ? ds.creation_dt : ["creation_dt"], "first"));
  fields.set("format", simpleField("format", "File format (GeoTiff, NetCDF)", "string", false, ds.format?.length ? ds.format : ["format", "name"], "first"));
  fields.set("label", simpleField("label", "Label", "string", false, ds.label.length ? ds.label : ["label"], "first"));
  for (const [name, spec] of Object.entries(ds.search_fields)) fields.set(name, searchField(name, spec));
  return fields;
}

/** Only the fields computed from the document. */
export function docFields(fields: Map<string, OdcField>): Map<string, DocField> {
  return new Map([...fields].filter((e): e is [string, DocField] => e[1].kind === "doc"));
}

/** The values of a dataset's search fields (what `datacube dataset info` lists under `fields`). */
export function extractFields(fields: Map<string, OdcField>, doc: unknown): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {};
  for (const f of docFields(fields).values()) out[f.name] = f.extract(doc);
  return out;
}

/** Quotes an SQL identifier only when PostgreSQL would fold or reject it unquoted (as SQLAlchemy does). */
export function ident(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** One dynamic index ODC keeps for a product or metadata type (`_dynamic.py`, `_check_field_index`). */
export interface DynamicIndex {
  name: string;
  /** The name an older ODC gave it; either one counts as present. */
  legacyName: string;
  shouldExist: boolean;
  create(concurrently: boolean): string;
}

/**
 * The dynamic indexes of one product (or metadata type), as `check_dynamic_fields` decides them:
 * composite GiST indexes over (lat, lon, time), (time, lat, lon) and (sat_path, sat_row, time) where
 * the metadata type has all three fields, then one index per indexed field not covered by a composite
 * and not constant for the product. `excluded` are the fields that are excluded (ODC: those whose value
 * the product's `metadata` document fixes; for a metadata type, all of them). `filter` is the partial
 * index predicate, e.g. `archived IS NULL AND dataset_type_ref = 1`.
 */
export function dynamicIndexes(prefix: string, fields: Map<string, OdcField>, excluded: ReadonlySet<string>, filter: string): DynamicIndex[] {
  const doc = docFields(fields);
  const out: DynamicIndex[] = [];
  const coveredByComposite = new Set(excluded);
  const make = (members: DocField[], using: "btree" | "gist", shouldExist: boolean): DynamicIndex => {
    const fieldName = members.map((f) => f.name.toLowerCase()).join("_");
    const name = `dix_${prefix.toLowerCase()}_${fieldName}`;
    return {
      name,
      legacyName: `dix_field_${prefix.toLowerCase()}_dataset_${fieldName}`,
      shouldExist,
      create: (concurrently) =>
        `CREATE INDEX ${concurrently ? "CONCURRENTLY " : ""}${ident(name)} ON agdc.dataset USING ${using} (${members.map((f) => `(${f.sql("metadata")})`).join(", ")}) WHERE ${filter}`,
    };
  };
  for (const names of [["lat", "lon", "time"], ["time", "lat", "lon"], ["sat_path", "sat_row", "time"]]) {
    const members = names.map((n) => doc.get(n));
    if (members.some((m) => m === undefined)) continue;
    const allExcluded = names.every((n) => excluded.has(n));
    out.push(make(members as DocField[], "gist", !allExcluded));
    for (const n of names) coveredByComposite.add(n);
  }
  for (const f of doc.values()) out.push(make([f], f.indexType, f.indexed && !coveredByComposite.has(f.name)));
  return out;
}

/**
 * The fields whose value a product's `metadata` document fixes (`_get_active_field_names`): all its
 * datasets share it, so ODC does not index it.
 */
export function constantFields(fields: Map<string, OdcField>, productMetadata: unknown): Set<string> {
  const out = new Set<string>();
  for (const f of docFields(fields).values()) {
    if (f.extract(productMetadata) !== null) out.add(f.name);
  }
  return out;
}

/**
 * `CREATE VIEW agdc.dv_<name>_dataset`: every field of the datasets of a product or metadata type,
 * for people querying the index by hand (`_dynamic.py`, `_ensure_view`). `where` is the selection,
 * e.g. `agdc.dataset.archived IS NULL AND agdc.dataset.dataset_type_ref = 1`.
 */
export function viewSql(prefix: string, fields: Map<string, OdcField>, where: string): string {
  const columns = [...fields.values()].map((f) => `${f.kind === "native" ? f.sql : f.sql("agdc.dataset.metadata")} AS ${ident(f.name)}`);
  return (
    // The name goes in unquoted, as ODC writes it: PostgreSQL folds it to lower case.
    `CREATE VIEW agdc.dv_${prefix}_dataset AS SELECT ${columns.join(", ")} ` +
    "FROM agdc.dataset JOIN agdc.dataset_type ON agdc.dataset_type.id = agdc.dataset.dataset_type_ref " +
    "JOIN agdc.metadata_type ON agdc.metadata_type.id = agdc.dataset_type.metadata_type_ref " +
    `WHERE ${where}`
  );
}
