import "server-only";
import { parseAllDocuments, type ScalarTag } from "yaml";
import { z } from "zod";

/**
 * ODC metadata type and product definitions: reading them as datacube-core does, validating them
 * against the rules of its JSON schemas (`datacube/model/schema/*.yaml`), and turning them into the
 * JSON that it stores.
 */

/** A definition ODC would refuse, with the reason (names the document and the offending key). */
export class DefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DefinitionError";
  }
}

const TAG = "tag:yaml.org,2002:";

/** Sexagesimal `1:20:30` (base 60), which PyYAML still resolves for ints and floats. */
function base60(digits: string): number {
  return digits.split(":").reduce((acc, part) => acc * 60 + Number(part), 0);
}

/**
 * PyYAML's implicit resolvers (`yaml/resolver.py`) and constructors (`yaml/constructor.py`) for
 * booleans, integers and floats. They differ from the YAML 1.1 spec that the `yaml` package follows:
 * `y`/`n` stay strings, a float needs a dot and a signed exponent (`1e-4` is a string), `09` is a
 * string. A product definition must parse here exactly as it does in `datacube product add`.
 */
const pyyamlScalars: ScalarTag[] = [
  { tag: `${TAG}bool`, default: true, test: /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/, resolve: () => true },
  { tag: `${TAG}bool`, default: true, test: /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/, resolve: () => false },
  {
    tag: `${TAG}int`,
    default: true,
    test: /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
    resolve(text) {
      let v = text.replace(/_/g, "");
      const sign = v.startsWith("-") ? -1 : 1;
      if (v[0] === "-" || v[0] === "+") v = v.slice(1);
      if (v === "0") return 0;
      if (v.startsWith("0b")) return sign * parseInt(v.slice(2), 2);
      if (v.startsWith("0x")) return sign * parseInt(v.slice(2), 16);
      if (v.startsWith("0")) return sign * parseInt(v, 8);
      if (v.includes(":")) return sign * base60(v);
      return sign * Number(v);
    },
  },
  {
    tag: `${TAG}float`,
    default: true,
    test: /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
    resolve(text) {
      let v = text.replace(/_/g, "").toLowerCase();
      const sign = v.startsWith("-") ? -1 : 1;
      if (v[0] === "-" || v[0] === "+") v = v.slice(1);
      if (v === ".inf") return sign * Infinity;
      if (v === ".nan") return NaN;
      if (v.includes(":")) return sign * base60(v);
      return sign * Number(v);
    },
  },
];

/**
 * Parses YAML the way datacube-core reads documents (`datacube/utils/documents.py`, `load_from_yaml`):
 * PyYAML's SafeLoader, YAML 1.1-ish (see `pyyamlScalars`), and its `NoDatesSafeLoader` drops the
 * timestamp resolver so that dates stay strings. One entry per document.
 */
export function parseOdcYaml(text: string): unknown[] {
  const replaced = new Set([`${TAG}bool`, `${TAG}int`, `${TAG}float`, `${TAG}timestamp`]);
  const docs = parseAllDocuments(text, {
    version: "1.1",
    customTags: (tags) => [...pyyamlScalars, ...tags.filter((t) => typeof t === "string" || !replaced.has(t.tag))],
  });
  return docs.map((d, i) => {
    if (d.errors.length > 0) throw new DefinitionError(`YAML document ${i + 1}: ${d.errors[0]?.message}`);
    return pythonKeys(d.toJS({ maxAliasCount: 1000, mapAsMap: true }));
  });
}

/**
 * Mapping keys as datacube stores them: `jsonify_document` applies Python's `str()`, so a YAML key
 * `true` becomes "True" and `null` "None" (numbers read the same either way).
 */
function pythonKeys(value: unknown): unknown {
  if (value instanceof Map) {
    const key = (k: unknown) => (k === true ? "True" : k === false ? "False" : k === null ? "None" : String(k));
    return Object.fromEntries([...value].map(([k, v]) => [key(k), pythonKeys(v)]));
  }
  if (Array.isArray(value)) return value.map(pythonKeys);
  return value;
}

/**
 * The JSON ODC stores for a document (`datacube/utils/serialise.py`, `jsonify_document`, applied by
 * the engine's `json_serializer`): NaN and infinities become the strings "NaN", "Infinity",
 * "-Infinity" (PostgreSQL JSON has no such numbers; `JSON.stringify` would write `null`), dates become
 * ISO strings, keys become strings.
 */
export function jsonifyDocument(value: unknown): unknown {
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value;
    if (Number.isNaN(value)) return "NaN";
    return value < 0 ? "-Infinity" : "Infinity";
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(jsonifyDocument);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonifyDocument(v)]));
  }
  return value;
}

/** `JSON.stringify(jsonifyDocument(value))` in one pass, without copying the document first. */
export function odcJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== "number" || Number.isFinite(v)) return v;
    return Number.isNaN(v) ? "NaN" : v < 0 ? "-Infinity" : "Infinity";
  });
}

// `^\w+$` of the schemas: Python's \w is Unicode-aware; ODC names in practice are ASCII.
const odcName = z.string().regex(/^\w+$/u, "must be letters, digits and underscores only");
const offset = z.array(z.string());

const searchField = z.strictObject({
  description: z.string().optional(),
  offset: offset.optional(),
  type: z.string().optional(),
  indexed: z.union([z.boolean(), z.string()]).optional(),
  min_offset: z.array(offset).optional(),
  max_offset: z.array(offset).optional(),
});

/** A metadata type document (`metadata-type-schema.yaml`). */
export const metadataTypeDefinition = z.strictObject({
  name: odcName,
  description: z.string(),
  dataset: z.strictObject({
    id: offset,
    creation_dt: offset,
    label: offset,
    sources: offset,
    measurements: offset.optional(),
    format: offset.optional(),
    grid_spatial: offset.optional(),
    search_fields: z.record(z.string(), searchField),
  }),
});
export type MetadataTypeDefinition = z.infer<typeof metadataTypeDefinition>;
export type SearchFieldDefinition = z.infer<typeof searchField>;

const dtype = z.enum(["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "complex64", "complex128"]);
// YAML `.nan` parses to NaN, which zod's z.number() refuses; the schema also admits these strings.
const nodataStrings = new Set(["nan", "NAN", "NaN", "Inf", "-Inf"]);
const nodata = z.custom<number | string>((v) => typeof v === "number" || (typeof v === "string" && nodataStrings.has(v)), {
  message: "must be a number, nan or Inf",
});
const spectralDefinition = z.looseObject({ wavelength: z.array(z.number()).optional(), response: z.array(z.number()).optional() });

const measurement = z.strictObject({
  name: odcName,
  dtype,
  nodata,
  units: z.string(),
  scale_factor: z.number().optional(),
  add_offset: z.number().optional(),
  aliases: z.array(z.string()).optional(),
  spectral_definition: z.union([spectralDefinition, z.array(spectralDefinition)]).optional(),
  flags_definition: z.record(z.string(), z.looseObject({ bits: z.union([z.number(), z.array(z.number())]), values: z.record(z.string(), z.unknown()), description: z.string().optional() })).optional(),
  extra_dim: z.string().optional(),
});
export type MeasurementDefinition = z.infer<typeof measurement>;

/** A product document (`dataset-type-schema.yaml`; ODC's code still calls products "dataset types"). */
export const productDefinition = z
  .object({
    name: odcName,
    description: z.string(),
    metadata_type: z.union([z.string(), metadataTypeDefinition]),
    license: z.string().regex(/^[\w\-.+]+$/u).optional(),
    metadata: z.record(z.string(), z.unknown()),
    extra_dimensions: z.array(z.strictObject({ name: z.string(), values: z.array(z.number()), dtype })).optional(),
    storage: z.strictObject({
      chunking: z.record(z.string(), z.unknown()).optional(),
      crs: z.string().optional(),
      dimension_order: z.array(z.unknown()).optional(),
      resolution: z.record(z.string(), z.unknown()).optional(),
      tile_size: z.record(z.string(), z.unknown()).optional(),
      origin: z.record(z.string(), z.unknown()).optional(),
      driver: z.string().optional(),
    }).optional(),
    load: z.strictObject({ crs: z.string(), resolution: z.record(z.string(), z.unknown()), align: z.record(z.string(), z.unknown()).optional() }).optional(),
    measurements: z.array(measurement).optional(),
    managed: z.boolean().optional(),
  })
  // additionalProperties: false, except `default_\w+` objects that some people keep for YAML anchors.
  .catchall(z.unknown())
  .superRefine((doc, ctx) => {
    const known = new Set(["name", "description", "metadata_type", "license", "metadata", "extra_dimensions", "storage", "load", "measurements", "managed"]);
    for (const [key, value] of Object.entries(doc)) {
      if (known.has(key)) continue;
      if (!/^default_\w+$/u.test(key) || value === null || typeof value !== "object") {
        ctx.addIssue({ code: "custom", path: [key], message: "unknown key" });
      }
    }
  });
export type ProductDefinition = z.infer<typeof productDefinition>;

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(document)"}: ${i.message}`).join("; ");
}

/** Validates a metadata type document as `datacube metadata add` does; throws DefinitionError. */
export function parseMetadataTypeDefinition(doc: unknown): MetadataTypeDefinition {
  const r = metadataTypeDefinition.safeParse(doc);
  if (!r.success) throw new DefinitionError(`metadata type ${nameOf(doc)} is invalid: ${describeIssues(r.error)}`);
  return r.data;
}

/**
 * Validates a product document as `datacube product add` does; throws DefinitionError. Like ODC 1.8
 * (`Product._resolve_aliases` has a TODO for it), colliding aliases are not refused.
 */
export function parseProductDefinition(doc: unknown): ProductDefinition {
  const r = productDefinition.safeParse(doc);
  if (!r.success) throw new DefinitionError(`product ${nameOf(doc)} is invalid: ${describeIssues(r.error)}`);
  return r.data;
}

/** The name of the metadata type a product uses, whether referenced by name or embedded. */
export function productMetadataTypeName(product: ProductDefinition): string {
  return typeof product.metadata_type === "string" ? product.metadata_type : product.metadata_type.name;
}

/** The product's measurement names (without aliases): every dataset must provide them. */
export function productMeasurementNames(product: ProductDefinition): string[] {
  return (product.measurements ?? []).map((m) => m.name);
}

function nameOf(doc: unknown): string {
  const name = doc !== null && typeof doc === "object" ? (doc as { name?: unknown }).name : undefined;
  return typeof name === "string" ? JSON.stringify(name) : "(unnamed)";
}
