import "server-only";
import type { Feature, FeatureCollection, Polygon } from "geojson";
import type pg from "pg";
import { recordAudit } from "~/features/audit/server/audit.service";
import { decomposeRange, type DayRange, type Level } from "~/lib/periods";
import { indexDatabaseUrl, type EnvironmentConfig, type PikselConfig } from "~/server/config";
import type { Db } from "~/server/db";
import { AppError } from "~/server/errors";
import type { Logger } from "~/server/logger";
import { transformer } from "~/server/odc/crs";
import type { MetadataTypeDefinition } from "~/server/odc/definitions";
import { datasetFields } from "~/server/odc/fields";
import { indexDatabasePool } from "~/server/odc/migrations/database";
import { hasSchema } from "~/server/odc/schema";
import { searchWhere } from "~/server/odc/search";
import type { CellDatasetsInput, CellsInput, CompareInput, FootprintsInput, HistogramInput, RefreshInput } from "../coverage.schema";
import { coverageState, coverageTablesExist, refreshCoverage, type CoverageState, type RefreshResult } from "./summaries";

/**
 * The Coverage page's server side and the explorer-compatible routes: cells by dataset count for a
 * view and period, the time histogram, dataset footprints (hard-limited), the datasets of one cell,
 * and two environments compared. Everything but footprints and a cell's datasets reads the summary
 * tables only (summaries.ts); those two read agdc by ODC's indexes, one view or one cell at a time.
 */

export interface CoverageDeps {
  config: PikselConfig;
  log: Logger;
  /** The index database of an environment; default: a process-wide pool on its configured URL. */
  indexDb?: (environment: string) => pg.Pool;
}

type Bbox = [number, number, number, number];

/** Why a view shows no cells. */
export type EmptyReason = "not-migrated" | "not-summarised" | "not-indexed" | "outside-scope" | "no-acquisitions";

export interface CoverageCell {
  cell: string;
  datasets: number;
  first: Date;
  last: Date;
  /** Lon/lat bounds of the cell's datasets in the period: the simplified footprint. */
  bbox: Bbox;
}

export interface CellsResult {
  environment: string;
  product: string;
  cells: CoverageCell[];
  /** Datasets in the view and period. */
  total: number;
  maxCount: number;
  /** Set when there are no cells: why, in a word and in a sentence. */
  empty: { reason: EmptyReason; message: string } | null;
}

function environmentOf(deps: CoverageDeps, name: string): { env: EnvironmentConfig; db: pg.Pool } {
  const env = deps.config.environments.find((e) => e.name === name);
  if (!env) throw new AppError("NOT_FOUND", `No environment "${name}". Configured: ${deps.config.environments.map((e) => e.name).join(", ")}.`);
  return { env, db: deps.indexDb ? deps.indexDb(name) : indexDatabasePool(indexDatabaseUrl(deps.config, env)) };
}

interface ProductRow {
  id: number;
  name: string;
  definition: MetadataTypeDefinition;
}

/** The product's id and metadata type; NOT_FOUND naming the products there are. */
async function productOf(db: pg.Pool, environment: string, name: string): Promise<ProductRow> {
  if (!(await hasSchema(db))) throw new AppError("NOT_FOUND", `The ODC index of ${environment} has no products yet: nothing has been indexed there.`);
  const { rows } = await db.query<ProductRow>(
    "SELECT t.id, t.name, m.definition FROM agdc.dataset_type t JOIN agdc.metadata_type m ON m.id = t.metadata_type_ref ORDER BY t.name",
  );
  const found = rows.find((r) => r.name === name);
  if (!found) {
    throw new AppError("NOT_FOUND", `No product "${name}" in the ODC index of ${environment}. Products there: ${rows.map((r) => r.name).join(", ") || "none"}.`);
  }
  return found;
}

async function requireTables(db: pg.Pool, environment: string): Promise<void> {
  if (!(await coverageTablesExist(db))) {
    throw new AppError("PRECONDITION_FAILED", `Coverage summaries are not set up in ${environment}: apply index migration 0002_coverage_summaries there (Indexing page, or \`piksel index migrate --env ${environment}\`).`);
  }
}

/**
 * SQL conditions selecting the summary rows that make up a period exactly: whole years, months and
 * days (decomposeRange), or every year for all time. Parameters are appended to `values`.
 */
function periodCondition(period: DayRange | undefined, values: unknown[], alias = "p"): string {
  if (!period) return `${alias}.level = 'y'`;
  const terms = decomposeRange(period).map((s) => {
    values.push(s.level, s.start, s.end);
    const n = values.length;
    return `(${alias}.level = $${n - 2}::"char" AND ${alias}.period >= $${n - 1}::date AND ${alias}.period < $${n}::date)`;
  });
  return `(${terms.join(" OR ")})`;
}

/** A view bbox as SQL over w/s/e/n columns; a view across the antimeridian is two ranges of longitude. */
function bboxCondition(bbox: Bbox | undefined, values: unknown[], alias = "p"): string {
  if (!bbox) return "true";
  const [w, s, e, n] = bbox;
  values.push(s, n);
  const lat = `${alias}.north >= $${values.length - 1}::float8 AND ${alias}.south <= $${values.length}::float8`;
  const lonRange = (a: number, b: number) => {
    values.push(a, b);
    return `(${alias}.east >= $${values.length - 1}::float8 AND ${alias}.west <= $${values.length}::float8)`;
  };
  const lonSql = w <= e ? lonRange(w, e) : `(${lonRange(w, 180)} OR ${lonRange(-180, e)})`;
  return `(${lat} AND ${lonSql})`;
}

const intersects = (a: Bbox, b: Bbox) => {
  const lonOk = a[0] <= a[2] ? a[2] >= b[0] && a[0] <= b[2] : b[2] >= a[0] || b[0] <= a[2];
  return lonOk && a[3] >= b[1] && a[1] <= b[3];
};

async function queryCells(db: pg.Pool, productId: number, bbox: Bbox | undefined, period: DayRange | undefined): Promise<CoverageCell[]> {
  const values: unknown[] = [productId];
  const where = `p.product_ref = $1::smallint AND ${periodCondition(period, values)} AND ${bboxCondition(bbox, values)}`;
  const { rows } = await db.query<{ cell: string; datasets: number; first: Date; last: Date; west: number; south: number; east: number; north: number }>(
    `SELECT p.cell, sum(p.datasets)::int AS datasets, min(p.first_time) AS first, max(p.last_time) AS last,
            min(p.west) AS west, min(p.south) AS south, max(p.east) AS east, max(p.north) AS north
       FROM piksel.coverage_period p WHERE ${where} GROUP BY p.cell ORDER BY p.cell`,
    values,
  );
  return rows.map((r) => ({ cell: r.cell, datasets: r.datasets, first: r.first, last: r.last, bbox: [r.west, r.south, r.east, r.north] }));
}

/** Cells of a product coloured by dataset count, for the view and period; when none, why. */
export async function coverageCells(deps: CoverageDeps, input: CellsInput): Promise<CellsResult> {
  const { env, db } = environmentOf(deps, input.environment);
  await requireTables(db, env.name);
  const product = await productOf(db, env.name, input.product);
  const base = { environment: env.name, product: product.name };
  const cells = await queryCells(db, product.id, input.bbox as Bbox | undefined, input.period);
  const total = cells.reduce((n, c) => n + c.datasets, 0);
  const maxCount = cells.reduce((m, c) => Math.max(m, c.datasets), 0);
  return { ...base, cells, total, maxCount, empty: cells.length ? null : await whyEmpty(db, env, product, input) };
}

async function whyEmpty(db: pg.Pool, env: EnvironmentConfig, product: ProductRow, input: CellsInput): Promise<{ reason: EmptyReason; message: string }> {
  const state = await coverageState(db);
  if (!state) {
    return { reason: "not-summarised", message: `The coverage of ${env.name} has not been summarised yet: it is after the next indexer run, or run \`piksel index coverage --env ${env.name}\`.` };
  }
  const scope = env.scope.bbox as Bbox;
  if (input.bbox && !intersects(input.bbox as Bbox, scope)) {
    return { reason: "outside-scope", message: `This area is outside the scope of ${env.name} (${scope.join(", ")}): its index takes no datasets here.` };
  }
  const anyTime = input.period ? await queryCells(db, product.id, input.bbox as Bbox | undefined, undefined) : [];
  if (anyTime.length > 0) {
    const n = anyTime.reduce((s, c) => s + c.datasets, 0);
    return { reason: "no-acquisitions", message: `No acquisitions of ${product.name} here from ${input.period!.from} to ${input.period!.to}; ${n.toLocaleString("en-US")} datasets at other times.` };
  }
  return { reason: "not-indexed", message: `Nothing of ${product.name} is indexed here in ${env.name} yet, although the area is within its scope: run the indexer.` };
}

export interface ProductCoverage {
  product: string;
  datasets: number;
  first: Date | null;
  last: Date | null;
}

export interface CoverageOverview {
  environment: string;
  /** Why coverage cannot be shown at all, or null. */
  unavailable: string | null;
  state: CoverageState | null;
  /** Datasets added or updated since the last refresh: not on the map yet. */
  pending: number | null;
  products: ProductCoverage[];
}

// The page polls; counting changed rows scans agdc.dataset's heap (no index on added/updated), a
// fraction of a second at a million datasets: counted at most once a minute per watermark.
const PENDING_MAX_AGE_MS = 60_000;
const pendingCache = globalThis as unknown as { pikselCoveragePending?: Map<string, { at: number; watermark: number; value: Promise<number> }> };

/** Datasets added or updated after the watermark: not in the summaries yet. */
function pendingSince(environment: string, db: pg.Pool, watermark: Date): Promise<number> {
  pendingCache.pikselCoveragePending ??= new Map();
  const cache = pendingCache.pikselCoveragePending;
  const hit = cache.get(environment);
  if (hit && hit.watermark === watermark.getTime() && Date.now() - hit.at < PENDING_MAX_AGE_MS) return hit.value;
  const value = db
    .query<{ n: string }>("SELECT count(*)::text AS n FROM agdc.dataset WHERE added > $1 OR updated > $1", [watermark])
    .then((r) => Number(r.rows[0]?.n ?? 0));
  cache.set(environment, { at: Date.now(), watermark: watermark.getTime(), value });
  // A failure is not kept: the next call counts again.
  value.catch(() => cache.delete(environment));
  return value;
}

/** Per environment: the products with summarised coverage, totals, and how current the summaries are. */
export async function coverageOverview(deps: CoverageDeps): Promise<CoverageOverview[]> {
  return Promise.all(
    deps.config.environments.map(async (e): Promise<CoverageOverview> => {
      const base = { environment: e.name, state: null, pending: null, products: [] };
      try {
        const { db } = environmentOf(deps, e.name);
        if (!(await coverageTablesExist(db))) return { ...base, unavailable: "Index migration 0002_coverage_summaries is not applied here yet." };
        if (!(await hasSchema(db))) return { ...base, unavailable: null };
        const state = await coverageState(db);
        const { rows } = await db.query<{ name: string; datasets: number | null; first: Date | null; last: Date | null }>(
          `SELECT t.name, sum(p.datasets)::int AS datasets, min(p.first_time) AS first, max(p.last_time) AS last
             FROM agdc.dataset_type t LEFT JOIN piksel.coverage_period p ON p.product_ref = t.id AND p.level = 'y'
            GROUP BY t.name ORDER BY t.name`,
        );
        const pending = state ? await pendingSince(e.name, db, state.watermark) : null;
        return { environment: e.name, unavailable: null, state, pending, products: rows.map((r) => ({ product: r.name, datasets: r.datasets ?? 0, first: r.first, last: r.last })) };
      } catch (err) {
        deps.log.warn({ err, environment: e.name }, "cannot read the coverage of this environment");
        return { ...base, unavailable: `Cannot read the index: ${(err as Error).message}` };
      }
    }),
  );
}

export interface HistogramResult {
  level: Level;
  buckets: { period: string; datasets: number }[];
}

/** Datasets per day, month or year of the whole product in the environment. */
export async function coverageHistogram(deps: CoverageDeps, input: HistogramInput): Promise<HistogramResult> {
  const { env, db } = environmentOf(deps, input.environment);
  await requireTables(db, env.name);
  const product = await productOf(db, env.name, input.product);
  const { rows } = await db.query<{ period: string; datasets: number }>(
    `SELECT to_char(period, 'YYYY-MM-DD') AS period, datasets FROM piksel.coverage_timeline
      WHERE product_ref = $1::smallint AND level = $2::"char" ORDER BY period`,
    [product.id, input.level],
  );
  return { level: input.level, buckets: rows };
}

export interface FootprintsResult {
  collection: FeatureCollection<Polygon, { id: string; time: string | null; label: string | null }>;
  /** More datasets meet the view than the limit: zoom in. */
  truncated: boolean;
  limit: number;
}

/** Individual dataset footprints (valid-data polygons in lon/lat) in a view and period, at most `limit`. */
export async function coverageFootprints(deps: CoverageDeps, input: FootprintsInput): Promise<FootprintsResult> {
  const { env, db } = environmentOf(deps, input.environment);
  const product = await productOf(db, env.name, input.product);
  const [w, s, e, n] = input.bbox;
  // ODC's own search expressions, so the product's dix_*_lat_lon_time GiST index answers it.
  const where = searchWhere(
    { id: product.id, name: product.name, fields: datasetFields(product.definition) },
    {
      // Across the antimeridian the box is widened to all longitudes: rare, and still limited.
      lon: w <= e ? [w, e] : [-180, 180],
      lat: [s, n],
      ...(input.period && { time: [`${input.period.from}T00:00:00Z`, `${input.period.to}T23:59:59.999Z`] as const }),
    },
  );
  const { rows } = await db.query<{ id: string; crs: string | null; valid: { type?: string; coordinates?: number[][][] } | null; time: string | null; label: string | null }>(
    `SELECT agdc.dataset.id::text AS id, agdc.dataset.metadata ->> 'crs' AS crs,
            agdc.dataset.metadata #> '{grid_spatial,projection,valid_data}' AS valid,
            coalesce(agdc.dataset.metadata #>> '{properties,dtr:start_datetime}', agdc.dataset.metadata #>> '{properties,datetime}') AS time,
            agdc.dataset.metadata ->> 'label' AS label
       FROM agdc.dataset WHERE ${where.text} LIMIT ${input.limit + 1}`,
    where.values,
  );
  const features: Feature<Polygon, { id: string; time: string | null; label: string | null }>[] = [];
  for (const r of rows.slice(0, input.limit)) {
    if (!r.crs || r.valid?.type !== "Polygon" || !r.valid.coordinates?.[0]) continue;
    try {
      const toLonLat = transformer(r.crs, "EPSG:4326");
      const ring = r.valid.coordinates[0].map((p) => toLonLat([p[0]!, p[1]!]));
      features.push({ type: "Feature", properties: { id: r.id, time: r.time, label: r.label }, geometry: { type: "Polygon", coordinates: [ring] } });
    } catch (err) {
      // A CRS Piksel cannot reproject: that dataset is left out of the drawing, not the whole view.
      deps.log.debug({ err, id: r.id }, "footprint not drawn");
    }
  }
  return { collection: { type: "FeatureCollection", features }, truncated: rows.length > input.limit, limit: input.limit };
}

export interface CellDataset {
  id: string;
  label: string | null;
  time: Date;
  cloudCover: number | null;
  /** The dataset's location as indexed (the STAC item's canonical or self link). */
  uri: string | null;
  /** The STAC item over HTTP(S), when the location is one (s3:// of a public bucket becomes https://). */
  stacItemUrl: string | null;
  /** The EO3 document as stored in the index, served by the explorer-compatible route. */
  eo3Url: string;
  cogs: { band: string; href: string }[];
}

export interface CellDatasetsResult {
  cell: string;
  datasets: CellDataset[];
  /** Datasets of the cell in the period (the list holds at most `limit`, newest first). */
  total: number;
}

/** An s3:// URL as the public HTTPS URL of the object; other schemes unchanged. */
export function httpUrl(uri: string): string {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri);
  return m ? `https://${m[1]}.s3.amazonaws.com/${m[2]}` : uri;
}

/** A measurement path against its document's location, as ODC resolves it (relative paths are beside the document). */
function resolveHref(path: string, base: string | null): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(path) || !base) return httpUrl(path);
  return httpUrl(base.replace(/[^/]*$/, "") + path.replace(/^\.\//, ""));
}

/** The datasets of one cell in the period, newest first, with links to their documents and COGs. */
export async function cellDatasets(deps: CoverageDeps, input: CellDatasetsInput, routes: { eo3Url: (environment: string, id: string) => string }): Promise<CellDatasetsResult> {
  const { env, db } = environmentOf(deps, input.environment);
  await requireTables(db, env.name);
  const product = await productOf(db, env.name, input.product);
  const values: unknown[] = [product.id, input.cell];
  let timeSql = "";
  if (input.period) {
    values.push(`${input.period.from}T00:00:00Z`, `${input.period.to}T00:00:00Z`);
    timeSql = ` AND c.time >= $3::timestamptz AND c.time < $4::timestamptz + interval '1 day'`;
  }
  const { rows: counted } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM piksel.coverage_dataset c WHERE c.product_ref = $1::smallint AND c.cell = $2${timeSql}`, values);
  const { rows } = await db.query<{ id: string; time: Date; label: string | null; cloud: string | null; measurements: Record<string, { path?: string }> | null; uri: string | null }>(
    `SELECT c.id::text, c.time, d.metadata ->> 'label' AS label, d.metadata #>> '{properties,eo:cloud_cover}' AS cloud,
            d.metadata -> 'measurements' AS measurements,
            (SELECT l.uri_scheme || ':' || l.uri_body FROM agdc.dataset_location l
              WHERE l.dataset_ref = d.id AND l.archived IS NULL ORDER BY l.added DESC, l.id DESC LIMIT 1) AS uri
       FROM (SELECT * FROM piksel.coverage_dataset c WHERE c.product_ref = $1::smallint AND c.cell = $2${timeSql}
              ORDER BY c.time DESC LIMIT ${input.limit}) c
       JOIN agdc.dataset d ON d.id = c.id
      ORDER BY c.time DESC`,
    values,
  );
  return {
    cell: input.cell,
    total: counted[0]?.n ?? 0,
    datasets: rows.map((r) => ({
      id: r.id,
      label: r.label,
      time: r.time,
      cloudCover: r.cloud === null || Number.isNaN(Number(r.cloud)) ? null : Number(r.cloud),
      uri: r.uri,
      stacItemUrl: r.uri && /^(https?|s3):/.test(r.uri) ? httpUrl(r.uri) : null,
      eo3Url: routes.eo3Url(env.name, r.id),
      cogs: Object.entries(r.measurements ?? {})
        .filter(([, m]) => typeof m.path === "string")
        .map(([band, m]) => ({ band, href: resolveHref(m.path!, r.uri) }))
        .sort((a, b) => a.band.localeCompare(b.band)),
    })),
  };
}

export interface CompareCell {
  cell: string;
  bbox: Bbox;
  /** Datasets in the first environment and in the other. */
  counts: [number, number];
  presence: "both" | "only-first" | "only-other";
}

export interface CompareResult {
  environments: [string, string];
  cells: CompareCell[];
  totals: { both: number; onlyFirst: number; onlyOther: number };
  /** The scopes of both, to tell "outside the scope" from "not indexed". */
  scopes: [Bbox, Bbox];
}

/** Two environments' cells side by side: which cells each has that the other has not. */
export async function compareCoverage(deps: CoverageDeps, input: CompareInput): Promise<CompareResult> {
  const sides = await Promise.all(
    [input.environment, input.other].map(async (name) => {
      const { env, db } = environmentOf(deps, name);
      await requireTables(db, env.name);
      const product = await productOf(db, env.name, input.product);
      return { env, cells: await queryCells(db, product.id, input.bbox as Bbox | undefined, input.period) };
    }),
  );
  const [a, b] = sides as [(typeof sides)[number], (typeof sides)[number]];
  const byCell = new Map<string, CompareCell>();
  for (const c of a.cells) byCell.set(c.cell, { cell: c.cell, bbox: c.bbox, counts: [c.datasets, 0], presence: "only-first" });
  for (const c of b.cells) {
    const seen = byCell.get(c.cell);
    if (seen) {
      seen.counts[1] = c.datasets;
      seen.presence = "both";
      seen.bbox = [Math.min(seen.bbox[0], c.bbox[0]), Math.min(seen.bbox[1], c.bbox[1]), Math.max(seen.bbox[2], c.bbox[2]), Math.max(seen.bbox[3], c.bbox[3])];
    } else byCell.set(c.cell, { cell: c.cell, bbox: c.bbox, counts: [0, c.datasets], presence: "only-other" });
  }
  const cells = [...byCell.values()].sort((x, y) => x.cell.localeCompare(y.cell));
  return {
    environments: [a.env.name, b.env.name],
    cells,
    totals: {
      both: cells.filter((c) => c.presence === "both").length,
      onlyFirst: cells.filter((c) => c.presence === "only-first").length,
      onlyOther: cells.filter((c) => c.presence === "only-other").length,
    },
    scopes: [a.env.scope.bbox as Bbox, b.env.scope.bbox as Bbox],
  };
}

/** Refreshes (or rebuilds) an environment's summaries now, for datasets others added since the last run; audited. */
export async function refreshEnvironmentCoverage(deps: CoverageDeps & { db: Pick<Db, "auditEvent"> }, actor: { id?: string | null; email: string }, input: RefreshInput): Promise<RefreshResult> {
  const { env, db } = environmentOf(deps, input.environment);
  await requireTables(db, env.name);
  const result = await refreshCoverage(db, { rebuild: input.rebuild });
  await recordAudit(deps.db, {
    actor,
    action: "coverage.refresh",
    environment: env.name,
    subjectType: "coverage",
    subjectId: env.name,
    detail: { mode: result.mode, changed: result.changed, ms: result.ms },
  });
  return result;
}

/** The polygon of a bbox, closed and counter-clockwise (RFC 7946). */
export function bboxPolygon([w, s, e, n]: Bbox): Polygon {
  return { type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] };
}

// ---- datacube-explorer's shapes ------------------------------------------------------------------

/** `/api/regions/<product>[/y[/m[/d]]]`: regions with their dataset counts, as explorer serves them. */
export async function explorerRegions(deps: CoverageDeps, environment: string, product: string, period: DayRange | null): Promise<object> {
  const result = await coverageCells(deps, { environment, product, period: period ?? undefined });
  const counts = result.cells.map((c) => c.datasets);
  return {
    type: "FeatureCollection",
    properties: {
      region_type: "region_code",
      region_unit_label: "regions",
      min_count: counts.length ? Math.min(...counts) : 0,
      max_count: counts.length ? Math.max(...counts) : 0,
    },
    features: result.cells.map((c) => ({ type: "Feature", geometry: bboxPolygon(c.bbox), properties: { region_code: c.cell, label: c.cell, count: c.datasets } })),
  };
}

/**
 * `/api/footprint/<product>[/y[/m[/d]]]`: one feature whose geometry covers the product's datasets
 * in the period. Explorer dissolves the dataset footprints; this is the MultiPolygon of the cells'
 * bounds (docs/adr/0014-coverage-summaries.md). Null when there are no datasets (explorer: 404).
 */
export async function explorerFootprint(deps: CoverageDeps, environment: string, product: string, period: DayRange | null, timeSpec: (number | null)[]): Promise<object | null> {
  const result = await coverageCells(deps, { environment, product, period: period ?? undefined });
  if (result.cells.length === 0) return null;
  return {
    type: "Feature",
    geometry: { type: "MultiPolygon", coordinates: result.cells.map((c) => bboxPolygon(c.bbox).coordinates) },
    properties: { dataset_count: result.total, product_name: product, time_spec: timeSpec },
  };
}

/**
 * `/api/dataset-timeline/<product>[/y[/m[/d]]]`: `{"2024-01-05T00:00:00": 12, ...}`, by month for all
 * time and by day within a year, month or day, as explorer keys it (naive ISO times).
 */
export async function explorerTimeline(deps: CoverageDeps, environment: string, product: string, period: DayRange | null): Promise<Record<string, number>> {
  const level: Level = period ? "d" : "m";
  const { buckets } = await coverageHistogram(deps, { environment, product, level });
  const out: Record<string, number> = {};
  for (const b of buckets) {
    if (period && (b.period < period.from || b.period > period.to)) continue;
    out[`${b.period}T00:00:00`] = b.datasets;
  }
  return out;
}

/** The stored EO3 document of a dataset (as `datacube dataset info` would print it), or null. */
export async function datasetDocument(deps: CoverageDeps, environment: string, id: string): Promise<{ product: string; document: Record<string, unknown> } | null> {
  const { env, db } = environmentOf(deps, environment);
  if (!(await hasSchema(db))) throw new AppError("NOT_FOUND", `The ODC index of ${env.name} has no datasets yet.`);
  const { rows } = await db.query<{ product: string; metadata: Record<string, unknown> }>(
    "SELECT t.name AS product, d.metadata FROM agdc.dataset d JOIN agdc.dataset_type t ON t.id = d.dataset_type_ref WHERE d.id = $1::uuid",
    [id],
  );
  return rows[0] ? { product: rows[0].product, document: rows[0].metadata } : null;
}
