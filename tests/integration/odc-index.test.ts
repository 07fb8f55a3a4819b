import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stacToEo3 } from "~/features/indexing/stac-to-eo3";
import type { IndexPort, NewDataset } from "~/server/drivers/index";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import { AppError } from "~/server/errors";
import { parseOdcYaml } from "~/server/odc/definitions";
import { EO3_SCHEMA, prepEo3, type Eo3Document } from "~/server/odc/eo3";
import { datasetFields } from "~/server/odc/fields";
import { searchSql } from "~/server/odc/search";
import { eo3MetadataTypeYaml, gmS2AnnualProductYaml, s2L2aProductYaml } from "~/server/odc/standard-definitions";
import { createTestDatabase } from "../support/databases";

const fixtures = path.resolve(import.meta.dirname, "../reference/datacube/fixtures");
const stacItem = (name: string) => JSON.parse(fs.readFileSync(path.join(fixtures, name), "utf8")) as Record<string, unknown>;
const eo3Type = parseOdcYaml(eo3MetadataTypeYaml)[0];
const s2L2a = parseOdcYaml(s2L2aProductYaml)[0];
const gmS2Annual = parseOdcYaml(gmS2AnnualProductYaml)[0];
const s2Bands = ["coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "nir09", "swir16", "swir22", "scl", "aot", "wvp"];

/**
 * A Sentinel-2-like EO3 dataset on a 100 km UTM tile grid (zone 49S, Kalimantan): tile (x, y),
 * acquired `day` days after 2024-01-01 at 02:30 UTC. Same shape as stac-to-eo3 output.
 */
function syntheticDataset(x: number, y: number, day: number, extra: Partial<Eo3Document> = {}): NewDataset {
  const id = randomUUID();
  const [x0, y0] = [300000 + x * 100000, 9900000 - y * 100000];
  const datetime = new Date(Date.UTC(2024, 0, 1 + day, 2, 30)).toISOString();
  const document: Eo3Document = {
    $schema: EO3_SCHEMA,
    id,
    label: `synthetic_${x}_${y}_${day}`,
    product: { name: "s2_l2a" },
    crs: "EPSG:32749",
    grids: {
      default: { shape: [10980, 10980], transform: [10, 0, x0, 0, -10, y0] },
      g20m: { shape: [5490, 5490], transform: [20, 0, x0, 0, -20, y0] },
    },
    geometry: { type: "Polygon", coordinates: [[[x0, y0], [x0 + 109800, y0], [x0 + 109800, y0 - 109800], [x0, y0 - 109800], [x0, y0]]] },
    properties: {
      datetime,
      "eo:platform": day % 2 ? "sentinel-2a" : "sentinel-2b",
      "eo:instrument": "MSI",
      "eo:cloud_cover": (x * 7 + y * 13 + day) % 100,
      "odc:region_code": `49M${String.fromCharCode(65 + x)}${String.fromCharCode(65 + y)}`,
      "odc:processing_datetime": datetime,
      "odc:file_format": "GeoTIFF",
      "s2:processing_baseline": "05.10",
      "earthsearch:boa_offset_applied": true,
    },
    measurements: Object.fromEntries(s2Bands.map((b) => [b, { path: `${b}.tif`, ...(["blue", "green", "red", "nir", "coastal"].includes(b) ? {} : { grid: "g20m" }) }])),
    lineage: {},
    ...extra,
  };
  return { document, uris: [`s3://piksel-test-data/synthetic/${id}/item.json`] };
}

function expectAppError(err: unknown, code: AppError["code"]) {
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("ODC index driver (agdc schema) on PostgreSQL", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let index: IndexPort;
  let sql: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase("odc_index");
    index = createPostgresIndex(db.url);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await index?.close();
    await db?.drop();
  });

  describe("schema", () => {
    it("reports no products before the schema exists", async () => {
      expect(await index.productCounts()).toEqual([]);
      expect(await index.check()).toBe("reachable; no agdc schema yet");
      expectAppError(await rejection(index.addProduct(s2L2a)), "PRECONDITION_FAILED");
    });

    it("creates the agdc schema as datacube system init does", async () => {
      expect(await index.init()).toEqual({ created: true, current: true });
      const tables = await sql.query("select tablename, tableowner from pg_tables where schemaname = 'agdc' order by 1");
      expect(tables.rows).toEqual(["dataset", "dataset_location", "dataset_source", "dataset_type", "metadata_type"].map((t) => ({ tablename: t, tableowner: "agdc_admin" })));
      // The range type brings two constructors (2 and 3 arguments) and, from PostgreSQL 14, multirange ones.
      const functions = await sql.query("select distinct proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace where nspname = 'agdc' and proname not like '%multirange' order by 1");
      expect(functions.rows.map((r) => r.proname)).toEqual(["common_timestamp", "float8range", "set_row_update_time"]);
      const triggers = await sql.query("select tgname from pg_trigger where not tgisinternal and tgrelid::regclass::text like 'agdc.%' order by 1");
      expect(triggers.rows.map((r) => r.tgname)).toEqual(["row_update_time_dataset", "row_update_time_dataset_type", "row_update_time_metadata_type"]);
      const indexes = await sql.query("select indexname from pg_indexes where schemaname = 'agdc' and indexname like 'ix_%' order by 1");
      expect(indexes.rows.map((r) => r.indexname)).toEqual(["ix_agdc_dataset_dataset_type_ref", "ix_agdc_dataset_location_dataset_ref", "ix_ds_isactive", "ix_ds_mdt_isactive", "ix_ds_prod_isactive"]);
      const roles = await sql.query("select rolname from pg_roles where rolname like 'agdc\\_%' order by 1");
      expect(roles.rows.map((r) => r.rolname)).toEqual(["agdc_admin", "agdc_ingest", "agdc_manage", "agdc_user"]);
      expect((await sql.query("select agdc.common_timestamp('2020-07-14T11:55:52.479') as t")).rows[0].t).toEqual(new Date("2020-07-14T11:55:52.479Z"));
    });

    it("leaves an existing schema alone when run again", async () => {
      await sql.query("comment on table agdc.dataset is 'kept'");
      expect(await index.init()).toEqual({ created: false, current: true });
      expect((await sql.query("select obj_description('agdc.dataset'::regclass) as c")).rows[0].c).toBe("kept");
    });

    it("creates it once when two processes initialise a fresh database together", async () => {
      const fresh = await createTestDatabase("odc_index_race");
      const [a, b] = [createPostgresIndex(fresh.url), createPostgresIndex(fresh.url)];
      try {
        const results = await Promise.all([a.init(), b.init()]);
        expect(results.map((r) => r.created).sort()).toEqual([false, true]);
      } finally {
        await Promise.all([a.close(), b.close()]);
        await fresh.drop();
      }
    });

    it("reports a pre-1.8.3 schema (no updated column) without changing it", async () => {
      const old = await createTestDatabase("odc_index_old");
      const oldIndex = createPostgresIndex(old.url);
      const c = new pg.Client({ connectionString: old.url });
      await c.connect();
      try {
        await oldIndex.init({ withPermissions: false });
        await c.query("alter table agdc.dataset drop column updated");
        expect(await oldIndex.init({ withPermissions: false })).toEqual({ created: false, current: false });
        expect((await c.query("select 1 from information_schema.columns where table_schema = 'agdc' and table_name = 'dataset' and column_name = 'updated'")).rowCount).toBe(0);
      } finally {
        await c.end();
        await oldIndex.close();
        await old.drop();
      }
    });
  });

  describe("metadata types and products", () => {
    it("adds the eo3 metadata type once", async () => {
      const first = await index.addMetadataType(eo3Type);
      expect(first).toMatchObject({ name: "eo3", added: true });
      expect(await index.addMetadataType(eo3Type)).toEqual({ ...first, added: false });
      expect((await sql.query("select to_regclass('agdc.dv_eo3_dataset')::text as v")).rows[0].v).toBe("agdc.dv_eo3_dataset");
    });

    it("refuses a different definition under a used name", async () => {
      const changed = { ...(eo3Type as object), description: "changed" };
      expectAppError(await rejection(index.addMetadataType(changed)), "CONFLICT");
    });

    it("refuses an invalid definition with the reason", async () => {
      const err = await rejection(index.addProduct({ name: "bad-name", description: "x", metadata_type: "eo3", metadata: {} }));
      expectAppError(err, "BAD_REQUEST");
      expect((err as Error).message).toContain("name");
    });

    it("adds s2_l2a with the dynamic indexes and view of datacube product add", async () => {
      const result = await index.addProduct(s2L2a);
      expect(result).toMatchObject({ name: "s2_l2a", added: true });
      const { rows } = await sql.query("select indexname, indexdef from pg_indexes where schemaname = 'agdc' and indexname like 'dix_%' order by 1");
      expect(rows.map((r) => r.indexname)).toEqual(["dix_s2_l2a_lat_lon_time", "dix_s2_l2a_region_code", "dix_s2_l2a_time_lat_lon"]);
      expect(rows[0].indexdef).toContain("USING gist");
      expect(rows[0].indexdef).toContain(`WHERE ((archived IS NULL) AND (dataset_type_ref = ${result.id}))`);
      expect((await sql.query("select to_regclass('agdc.dv_s2_l2a_dataset')::text as v")).rows[0].v).toBe("agdc.dv_s2_l2a_dataset");
      expect(await index.addProduct(s2L2a)).toEqual({ ...result, added: false });
      const product = await index.getProduct("s2_l2a");
      expect(product).toMatchObject({ name: "s2_l2a", metadataType: "eo3", measurements: s2Bands });
    });

    it("adds the annual geomedian product, storing NaN nodata as datacube does", async () => {
      expect(await index.addProduct(gmS2Annual)).toMatchObject({ name: "gm_s2_annual", added: true });
      const { rows } = await sql.query("select m->>'nodata' as nodata from agdc.dataset_type, jsonb_array_elements(definition->'measurements') m where name = 'gm_s2_annual' and m->>'name' = 'SMAD'");
      expect(rows[0].nodata).toBe("NaN");
      expect((await sql.query("select to_regclass('agdc.dix_gm_s2_annual_lat_lon_time')::text as v")).rows[0].v).not.toBeNull();
    });

    it("refuses a product whose metadata type is missing", async () => {
      expectAppError(await rejection(index.addProduct({ ...(s2L2a as object), name: "other", metadata_type: "eo_plus" })), "PRECONDITION_FAILED");
    });
  });

  describe("datasets", () => {
    const a = () => stacToEo3(stacItem("odc-tools__S2A_28QCH_20200714_0_L2A.json"));
    const b = () => stacToEo3(stacItem("odc-tools__S2B_31QGB_20200831_0_L2A.json"));

    it("adds converted Earth Search items with their locations, prepared as datacube stores them", async () => {
      const [ca, cb] = [a(), b()];
      const result = await index.addDatasets([ca, cb].map((c) => ({ document: c.document, uris: [c.uri] })));
      expect(result).toEqual({ added: [ca.document.id, cb.document.id], updated: [], unchanged: [], rejected: [] });
      const { rows } = await sql.query("select uri_scheme, uri_body from agdc.dataset_location where dataset_ref = $1", [ca.document.id]);
      expect(rows).toEqual([{ uri_scheme: "s3", uri_body: "//sentinel-cogs/sentinel-s2-l2a-cogs/28/Q/CH/2020/7/S2A_28QCH_20200714_0_L2A/S2A_28QCH_20200714_0_L2A.json" }]);
      const stored = (await sql.query("select metadata from agdc.dataset where id = $1", [ca.document.id])).rows[0].metadata;
      expect(stored).toEqual(JSON.parse(JSON.stringify(prepEo3(ca.document))));
      expect(stored.extent.lat.begin).toBeCloseTo(20.052965966606223, 9);
      expect(stored.grid_spatial.projection.spatial_reference).toBe("EPSG:32628");
    });

    it("adds nothing when the same items come again", async () => {
      const [ca, cb] = [a(), b()];
      const result = await index.addDatasets([ca, cb].map((c) => ({ document: c.document, uris: [c.uri] })));
      expect(result).toEqual({ added: [], updated: [], unchanged: [ca.document.id, cb.document.id], rejected: [] });
      expect((await sql.query("select count(*)::int as n from agdc.dataset_location")).rows[0].n).toBe(2);
    });

    it("reads a dataset back with its locations and search fields", async () => {
      const ca = a();
      const [ds] = await index.getDatasets([ca.document.id]);
      expect(ds?.product).toBe("s2_l2a");
      expect(ds?.uris).toEqual([ca.uri]);
      expect(ds?.archived).toBeNull();
      expect(ds?.fields.region_code).toBe("28QCH");
      expect(ds?.fields.time).toEqual({ begin: "2020-07-14T11:55:52.479Z", end: "2020-07-14T11:55:52.479Z" });
      expect(Object.keys(ds?.metadata.measurements ?? {})).toContain("scl");
    });

    it("updates a dataset whose document changed, when asked to", async () => {
      const ca = a();
      ca.document.properties["eo:cloud_cover"] = 1.5;
      const result = await index.addDatasets([{ document: ca.document, uris: [ca.uri, "https://example.com/mirror/item.json"] }], { onExisting: "update" });
      expect(result.updated).toEqual([ca.document.id]);
      const [ds] = await index.getDatasets([ca.document.id]);
      expect(ds?.fields.cloud_cover).toBe(1.5);
      expect(ds?.uris).toHaveLength(2);
      const { rows } = await sql.query("select updated is not null as touched from agdc.dataset where id = $1", [ca.document.id]);
      expect(rows[0].touched).toBe(true);
      expect((await index.addDatasets([{ document: ca.document, uris: [ca.uri] }], { onExisting: "update" })).unchanged).toEqual([ca.document.id]);
    });

    it("rejects what datacube would not index and adds the rest of the batch", async () => {
      const ok = syntheticDataset(0, 0, 400);
      const noScl = syntheticDataset(1, 0, 400);
      delete noScl.document.measurements.scl;
      const unknownProduct = syntheticDataset(2, 0, 400);
      unknownProduct.document.product = { name: "landsat" };
      const badId = syntheticDataset(3, 0, 400);
      badId.document.id = "S2A_28QCH_20200714_0_L2A";
      const badUri = syntheticDataset(4, 0, 400);
      const noDefaultGrid = syntheticDataset(5, 0, 400);
      noDefaultGrid.document.grids = { g20m: noDefaultGrid.document.grids.g20m as Eo3Document["grids"][string] };
      const twice = syntheticDataset(6, 0, 400);
      const result = await index.addDatasets([ok, noScl, unknownProduct, badId, { ...badUri, uris: ["no-scheme"] }, noDefaultGrid, twice, twice]);
      expect(result.added).toEqual([ok.document.id, twice.document.id]);
      expect(result.rejected).toEqual([
        { id: noScl.document.id, reason: "the dataset lacks measurements of product s2_l2a: scl" },
        { id: unknownProduct.document.id, reason: "unknown product landsat" },
        { id: null, reason: 'dataset id "S2A_28QCH_20200714_0_L2A" is not a UUID' },
        { id: badUri.document.id, reason: 'location "no-scheme" is not a URI' },
        { id: noDefaultGrid.document.id, reason: "input must have grids.default" },
        { id: twice.document.id, reason: "the same dataset id appears twice in the batch" },
      ]);
    });

    it("records lineage in agdc.dataset_source and refuses unknown sources", async () => {
      const source = a().document.id;
      const derived = syntheticDataset(0, 0, 0, { product: { name: "gm_s2_annual" }, lineage: { s2_l2a: [source] } });
      derived.document.measurements = Object.fromEntries(["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "SMAD", "EMAD", "BCMAD", "COUNT"].map((m) => [m, { path: `${m}.tif` }]));
      const orphan = syntheticDataset(1, 1, 0, { product: { name: "gm_s2_annual" }, lineage: { s2_l2a: [randomUUID()] }, measurements: derived.document.measurements });
      const result = await index.addDatasets([derived, orphan]);
      expect(result.added).toEqual([derived.document.id]);
      expect(result.rejected[0]?.reason).toMatch(/^lineage source datasets are not in the index/);
      const { rows } = await sql.query("select classifier, source_dataset_ref::text as src from agdc.dataset_source where dataset_ref = $1", [derived.document.id]);
      expect(rows).toEqual([{ classifier: "s2_l2a", src: source }]);
      const stored = (await sql.query("select metadata->'lineage' as l from agdc.dataset where id = $1", [derived.document.id])).rows[0].l;
      expect(stored).toEqual({ source_datasets: {} });
    });

    it("takes a lineage source from the same batch, unless that source is refused too", async () => {
      const gm = (lineage: string[]) => {
        const d = syntheticDataset(2, 2, 0, { product: { name: "gm_s2_annual" }, lineage: { s2_l2a: lineage } });
        d.document.measurements = Object.fromEntries(["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "SMAD", "EMAD", "BCMAD", "COUNT"].map((m) => [m, { path: `${m}.tif` }]));
        return d;
      };
      const source = syntheticDataset(2, 2, 500);
      const derived = gm([source.document.id]);
      const head = gm([randomUUID()]);
      const tail = gm([head.document.id]);
      const result = await index.addDatasets([derived, source, tail, head]);
      expect(result.added.sort()).toEqual([derived.document.id, source.document.id].sort());
      expect(result.rejected.map((r) => r.id).sort()).toEqual([head.document.id, tail.document.id].sort());
    });
  });

  describe("search", () => {
    // 6 x 4 tiles x 12 acquisitions, every 10 days of 2024.
    const grid: NewDataset[] = [];
    for (let x = 0; x < 6; x++) for (let y = 0; y < 4; y++) for (let d = 0; d < 12; d++) grid.push(syntheticDataset(x, y, d * 10));
    const extents = new Map(grid.map((g) => [g.document.id, prepEo3(g.document).extent]));

    beforeAll(async () => {
      const result = await index.addDatasets(grid);
      expect(result.added).toHaveLength(grid.length);
    });

    /** The ids an inclusive lon/lat box and time range must find, from the documents themselves. */
    function expected(lon: [number, number], lat: [number, number], time: [Date, Date]): string[] {
      return grid
        .filter((g) => {
          const e = extents.get(g.document.id);
          const t = Date.parse(g.document.properties.datetime as string);
          return e && e.lon.begin <= lon[1] && e.lon.end >= lon[0] && e.lat.begin <= lat[1] && e.lat.end >= lat[0] && t >= time[0].getTime() && t <= time[1].getTime();
        })
        .map((g) => g.document.id)
        .sort();
    }
    const ids = (datasets: { id: string }[]) => datasets.map((d) => d.id).sort();

    it("finds exactly the datasets meeting a box and a time range", async () => {
      const lon: [number, number] = [111.5, 112.6];
      const lat: [number, number] = [-1.4, -0.6];
      const time: [Date, Date] = [new Date("2024-01-15T00:00:00Z"), new Date("2024-03-01T00:00:00Z")];
      const want = expected(lon, lat, time);
      expect(want.length).toBeGreaterThan(4);
      expect(want.length).toBeLessThan(grid.length / 4);
      expect(ids(await index.searchDatasets("s2_l2a", { lon, lat, time }))).toEqual(want);
      expect(await index.countDatasets("s2_l2a", { lon, lat, time })).toBe(want.length);
    });

    it("includes both ends of the ranges (ODC's '[]' ranges)", async () => {
      const t = new Date(Date.UTC(2024, 0, 11, 2, 30));
      const found = await index.searchDatasets("s2_l2a", { time: [new Date("2024-01-05T00:00:00Z"), t], fields: { region_code: "49MAA" } });
      expect(found.map((d) => d.fields.time)).toEqual([{ begin: t.toISOString(), end: t.toISOString() }]);
    });

    it("finds the real items by their own footprint and date, and not elsewhere", async () => {
      const ca = stacToEo3(stacItem("odc-tools__S2A_28QCH_20200714_0_L2A.json"));
      const near = await index.searchDatasets("s2_l2a", { lat: [20.5, 20.6], lon: [-16.9, -16.8], time: ["2020-07-14T00:00:00Z", "2020-07-14T23:59:59.999999Z"] });
      expect(ids(near)).toEqual([ca.document.id]);
      // Newest location first; the update test above added a mirror after the canonical one.
      expect(near[0]?.uris).toEqual(["https://example.com/mirror/item.json", ca.uri]);
      expect(await index.searchDatasets("s2_l2a", { lat: [20.5, 20.6], lon: [-16.9, -16.8], time: ["2020-07-15T00:00:00Z", "2020-07-16T00:00:00Z"] })).toEqual([]);
      expect(await index.searchDatasets("s2_l2a", { lat: [40, 41], lon: [-16.9, -16.8] })).toEqual([]);
    });

    it("filters on other search fields and honours open ranges and limits", async () => {
      expect(await index.countDatasets("s2_l2a", { fields: { region_code: "49MCB" } })).toBe(12);
      expect(await index.countDatasets("s2_l2a", { fields: { region_code: "49MCB" }, time: [new Date("2024-03-01T00:00:00Z"), null] })).toBe(12 - 6);
      expect(await index.searchDatasets("s2_l2a", { fields: { region_code: "49MCB" } }, { limit: 5 })).toHaveLength(5);
    });

    it("refuses unknown products and fields", async () => {
      expectAppError(await rejection(index.searchDatasets("s3_olci", {})), "NOT_FOUND");
      expectAppError(await rejection(index.searchDatasets("s2_l2a", { fields: { colour: "red" } })), "BAD_REQUEST");
    });

    it("hides archived datasets from search and shows them again when restored", async () => {
      const victims = grid.filter((g) => g.document.properties["odc:region_code"] === "49MBB").map((g) => g.document.id);
      const before = (await index.productCounts()).find((p) => p.product === "s2_l2a")?.datasets ?? 0;
      expect(await index.archiveDatasets(victims)).toBe(12);
      expect(await index.archiveDatasets(victims)).toBe(0);
      expect(await index.countDatasets("s2_l2a", { fields: { region_code: "49MBB" } })).toBe(0);
      expect((await index.productCounts()).find((p) => p.product === "s2_l2a")?.datasets).toBe(before - 12);
      const [archived] = await index.getDatasets([victims[0] as string]);
      expect(archived?.archived).toBeInstanceOf(Date);
      expect(await index.restoreDatasets(victims)).toBe(12);
      expect(await index.countDatasets("s2_l2a", { fields: { region_code: "49MBB" } })).toBe(12);
    });

    it("lets PostgreSQL use the dynamic GiST index for a lat/lon/time search", async () => {
      const product = await index.getProduct("s2_l2a");
      const { rows: mt } = await sql.query("select definition from agdc.metadata_type where name = 'eo3'");
      const query = searchSql(
        { id: product?.id as number, name: "s2_l2a", fields: datasetFields(mt[0].definition) },
        { lat: [-1.4, -0.6], lon: [111.5, 112.6], time: [new Date("2024-01-15T00:00:00Z"), new Date("2024-03-01T00:00:00Z")] },
      );
      await sql.query("analyze agdc.dataset");
      // Some hundred rows fit in a few pages, where a sequential scan is cheapest and the planner
      // rightly picks it; switching it off asks whether the index is usable at all, which is the point.
      await sql.query("set enable_seqscan = off");
      try {
        const plan = (await sql.query(`explain ${query.text}`, query.values)).rows.map((r) => r["QUERY PLAN"]).join("\n");
        expect(plan).toMatch(/dix_s2_l2a_(lat_lon_time|time_lat_lon)/);
        // The query datacube 1.8.20 itself sends for dc.find_datasets(product, lat, lon, time)
        // (captured with log_statement=all) uses our index as well.
        const odcQuery =
          "SELECT agdc.dataset.id FROM agdc.dataset WHERE agdc.dataset.archived IS NULL AND (tstzrange(least(agdc.common_timestamp((agdc.dataset.metadata #>> '{properties, dtr:start_datetime}')), agdc.common_timestamp((agdc.dataset.metadata #>> '{properties, datetime}'))), greatest(agdc.common_timestamp((agdc.dataset.metadata #>> '{properties, dtr:end_datetime}')), agdc.common_timestamp((agdc.dataset.metadata #>> '{properties, datetime}'))), '[]') && tstzrange('2024-01-15T00:00:00+00:00'::timestamptz, '2024-03-01T23:59:59.999999+00:00'::timestamptz, '[]')) AND (agdc.float8range(CAST((agdc.dataset.metadata #>> '{extent, lat, begin}') AS DOUBLE PRECISION), CAST((agdc.dataset.metadata #>> '{extent, lat, end}') AS DOUBLE PRECISION), '[]') && '[-1.4,-0.6]') AND (agdc.float8range(CAST((agdc.dataset.metadata #>> '{extent, lon, begin}') AS DOUBLE PRECISION), CAST((agdc.dataset.metadata #>> '{extent, lon, end}') AS DOUBLE PRECISION), '[]') && '[111.5,112.6]') AND agdc.dataset.dataset_type_ref = " +
          String(product?.id);
        const odcPlan = (await sql.query(`explain ${odcQuery}`)).rows.map((r) => r["QUERY PLAN"]).join("\n");
        expect(odcPlan).toMatch(/dix_s2_l2a_(lat_lon_time|time_lat_lon)/);
      } finally {
        await sql.query("reset enable_seqscan");
      }
    });
  });
});
