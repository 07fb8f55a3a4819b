import "server-only";
import type { Eo3Document, PreparedEo3Document } from "~/server/odc/eo3";
import type { FieldValue } from "~/server/odc/fields";
import type { SearchQuery } from "~/server/odc/search";
import type { Port } from "../port";

export type { SearchQuery } from "~/server/odc/search";

/**
 * The ODC index of one environment. One driver per index schema: `postgres` writes datacube-core
 * 1.8's `agdc` schema (legacy driver); a `postgis` driver for 1.9's `odc` schema can implement the same
 * port. Everything ODC-specific that is not storage (EO3 preparation, search fields of a metadata type,
 * definition parsing) lives in `src/server/odc/` and is shared by drivers.
 *
 * Expected failures are `AppError`s: BAD_REQUEST (invalid definition or query), CONFLICT (a name
 * already used by a different definition), NOT_FOUND (unknown product), PRECONDITION_FAILED (schema
 * not initialised, metadata type missing). Per-dataset problems of a batch are returned, not thrown.
 */
export interface IndexPort extends Port {
  /** Dataset count per product; empty when the schema does not exist yet. */
  productCounts(): Promise<{ product: string; datasets: number }[]>;

  /**
   * Creates the schema where none exists, as `datacube system init --no-default-types` does; an
   * existing schema (ODC's only marker: the `agdc` namespace) is left as it is, roles and grants too.
   */
  init(options?: InitOptions): Promise<InitResult>;
  /** Adds a metadata type (`datacube metadata add`); a no-op if the same definition is present. */
  addMetadataType(definition: unknown): Promise<AddDefinitionResult>;
  /** Adds a product and its dynamic indexes (`datacube product add`); a no-op if the same definition is present. */
  addProduct(definition: unknown): Promise<AddDefinitionResult>;
  /** A product by name, or undefined. */
  getProduct(name: string): Promise<IndexProduct | undefined>;

  /**
   * Adds EO3 datasets and their locations in one transaction, prepared as `datacube dataset add` does
   * (extent and grid_spatial added). Datasets already present are skipped, or updated with
   * `onExisting: "update"`. Invalid datasets are returned in `rejected` and do not stop the batch.
   */
  addDatasets(datasets: readonly NewDataset[], options?: AddDatasetsOptions): Promise<AddDatasetsResult>;
  /** Archives active datasets (hidden from search, kept in the index); returns how many changed. */
  archiveDatasets(ids: readonly string[]): Promise<number>;
  /** Un-archives datasets; returns how many changed. */
  restoreDatasets(ids: readonly string[]): Promise<number>;
  /** Datasets by id, archived or not, in no particular order; unknown ids are left out. */
  getDatasets(ids: readonly string[]): Promise<IndexedDataset[]>;
  /**
   * Active datasets of a product meeting a lon/lat box, a time range and field values, in no
   * particular order (`dc.find_datasets`).
   */
  searchDatasets(product: string, query: SearchQuery, options?: { limit?: number }): Promise<IndexedDataset[]>;
  /** How many active datasets of a product match the query. */
  countDatasets(product: string, query: SearchQuery): Promise<number>;
  /**
   * The lon/lat extents of the active datasets matching the query (the search fields ODC indexes),
   * at most `limit`: what a planner needs to count scenes per tile in one query instead of one per tile.
   */
  datasetExtents(product: string, query: SearchQuery, options: { limit: number }): Promise<DatasetExtent[]>;

  close(): Promise<void>;
}

/** A dataset's extent as ODC's `lon` and `lat` search fields hold it (inclusive ranges, degrees). */
export interface DatasetExtent {
  west: number;
  east: number;
  south: number;
  north: number;
}

export interface InitOptions {
  /**
   * Create ODC's roles (agdc_user, agdc_ingest, agdc_manage, agdc_admin), own the schema as
   * agdc_admin and grant them their rights, as `datacube system init` does by default (`--init-users`).
   * Needs CREATEROLE; default true.
   */
  withPermissions?: boolean;
}

export interface InitResult {
  /** Whether this call created the schema (false: it existed and was left alone). */
  created: boolean;
  /** False when an existing schema predates datacube 1.8.3 (no `updated` columns): run `datacube system init` on it. */
  current: boolean;
}

export interface AddDefinitionResult {
  name: string;
  id: number;
  /** False when an identical definition was already there. */
  added: boolean;
}

export interface IndexProduct {
  id: number;
  name: string;
  metadataType: string;
  /** The product document as stored. */
  definition: Record<string, unknown>;
  /** Measurement names every dataset of the product must have. */
  measurements: string[];
}

export interface NewDataset {
  /** The EO3 document as a producer writes it (no extent / grid_spatial). */
  document: Eo3Document;
  /** Where the document lives (its measurement paths are relative to it), e.g. `s3://bucket/x.json`. */
  uris: readonly string[];
  /** Product name; defaults to `document.product.name`. */
  product?: string;
}

export interface AddDatasetsOptions {
  /** What to do with an id already in the index: leave it (default, as `datacube dataset add`) or replace its document. */
  onExisting?: "skip" | "update";
}

export interface AddDatasetsResult {
  added: string[];
  /** Existing datasets whose document changed (onExisting "update" only). */
  updated: string[];
  /** Existing datasets left as they were. */
  unchanged: string[];
  rejected: { id: string | null; reason: string }[];
}

export interface IndexedDataset {
  id: string;
  product: string;
  /** The stored (prepared) document. */
  metadata: PreparedEo3Document;
  /** Active locations, newest first (datacube's `Dataset.uris`). */
  uris: string[];
  archived: Date | null;
  added: Date;
  addedBy: string;
  /** Search field values (lat, lon, time, region_code, ...) as `datacube dataset info` shows them. */
  fields: Record<string, FieldValue>;
}
