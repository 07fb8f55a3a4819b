import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { stacToEo3, type StacConversion } from "~/features/indexing/stac-to-eo3";
import type { IndexedDataset, IndexPort, NewDataset } from "~/server/drivers/index";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import { parseOdcYaml } from "~/server/odc/definitions";
import { EO3_SCHEMA, prepEo3, type Eo3Document } from "~/server/odc/eo3";
import { eo3MetadataTypeYaml, gmS2AnnualProductYaml, s2L2aProductYaml } from "~/server/odc/standard-definitions";
import { createTestDatabase } from "../../support/databases";
import { ensureDatacubePython, writeDatacubeConfig, type DatacubePython } from "./datacube-python";

// The one switch for machines without Python or PyPI; anywhere else a missing reference is a failure.
const SKIP = process.env.PIKSEL_SKIP_PYTHON_REFERENCE === "1";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON from Python and STAC, compared field by field
const fixtures = path.join(import.meta.dirname, "fixtures");
const stacItem = (name: string): Json => JSON.parse(readFileSync(path.join(fixtures, name), "utf8"));
const itemA = () => stacItem("odc-tools__S2A_28QCH_20200714_0_L2A.json");
const itemB = () => stacItem("odc-tools__S2B_31QGB_20200831_0_L2A.json");

/** The API form of an item: https self link to Earth Search, canonical link to the bucket copy (optional). */
function apiForm(item: Json, canonical: boolean): Json {
  const bucketJson = item.links.find((l: Json) => l.rel === "self").href;
  item.links = [
    { rel: "self", type: "application/geo+json", href: `https://earth-search.aws.element84.com/v1/collections/sentinel-2-l2a/items/${item.id}` },
    ...(canonical ? [{ rel: "canonical", href: bucketJson, type: "application/json" }] : []),
  ];
  return item;
}

/** The real item B moved by whole tenths of a degree and days: distinct datasets over a known area. */
function shiftedItem(i: number): Json {
  const item = itemB();
  const [dx, dy, day] = [(i % 4) * 0.1, (Math.floor(i / 4) % 3) * 0.1, Math.floor(i / 12) * 3];
  item.id = `S2B_31QGB_2021_${i}_L2A`;
  item.properties["s2:granule_id"] = `S2B_OPER_MSI_L2A_TL_VGS2_reference_${i}_N05.10`;
  item.properties["s2:processing_baseline"] = "05.10";
  item.properties.datetime = new Date(Date.UTC(2021, 0, 1 + day, 10, 25, 34, 438)).toISOString();
  item.geometry.coordinates = item.geometry.coordinates.map((ring: number[][]) => ring.map(([lon, lat]) => [(lon as number) + dx, (lat as number) + dy]));
  item.links = item.links.map((l: Json) => (l.rel === "self" || l.rel === "canonical" ? { ...l, href: l.href.replace("S2B_31QGB_20200831_0_L2A", item.id) } : l));
  return item;
}

/** An annual geomedian output in EPSG:6933 over Kalimantan, derived from `source`. */
function geomedianDataset(source: string): Eo3Document {
  // Tile x=112, y=0 of odc-stats' 96 km grid: just south of the equator at about 112.2 E.
  const [x0, y0] = [112 * 96_000, 0];
  const bands = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "SMAD", "EMAD", "BCMAD", "COUNT"];
  return {
    $schema: EO3_SCHEMA,
    id: "5b1d1a6e-8a3c-5c0e-9c39-4b1f0e3d2a10",
    label: "gm_s2_annual_x112y000_2021--P1Y_final",
    product: { name: "gm_s2_annual" },
    crs: "EPSG:6933",
    grids: { default: { shape: [9600, 9600], transform: [10, 0, x0, 0, -10, y0] } },
    geometry: { type: "Polygon", coordinates: [[[x0, y0], [x0 + 96000, y0], [x0 + 96000, y0 - 96000], [x0, y0 - 96000], [x0, y0]]] },
    properties: {
      datetime: "2021-01-01T00:00:00Z",
      "dtr:start_datetime": "2021-01-01T00:00:00Z",
      "dtr:end_datetime": "2021-12-31T23:59:59.999999Z",
      "odc:region_code": "x112y000",
      "odc:product_family": "geomedian",
      "odc:processing_datetime": "2026-11-25T00:00:00Z",
      "odc:file_format": "GeoTIFF",
    },
    measurements: Object.fromEntries(bands.map((b) => [b, { path: `gm_s2_annual_x112y000_2021--P1Y_final_${b}.tif` }])),
    lineage: { s2_l2a: [source] },
  };
}

/** Deep equality with numbers equal to 1e-9 (PROJ and proj4js agree to ~1e-14 degrees). */
function expectClose(actual: unknown, expected: unknown, at = "$"): void {
  if (typeof expected === "number" && typeof actual === "number") {
    expect(Math.abs(actual - expected), `${at}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
    return;
  }
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual), `${at} is an array`).toBe(true);
    expect((actual as unknown[]).length, `${at} length`).toBe(expected.length);
    expected.forEach((v, i) => expectClose((actual as unknown[])[i], v, `${at}[${i}]`));
    return;
  }
  if (expected !== null && typeof expected === "object") {
    expect(actual !== null && typeof actual === "object", `${at} is an object`).toBe(true);
    expect(Object.keys(actual as object).sort(), `${at} keys`).toEqual(Object.keys(expected).sort());
    for (const [k, v] of Object.entries(expected)) expectClose((actual as Json)[k], v, `${at}.${k}`);
    return;
  }
  expect(actual, at).toEqual(expected);
}

/** Everything `datacube system init` + metadata/product add put in the agdc schema, as PostgreSQL describes it. */
async function describeSchema(url: string): Promise<Json> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const q = async (text: string) => (await c.query(text)).rows;
    return {
      schema: await q("select nspname, pg_get_userbyid(nspowner) as owner, nspacl::text as acl from pg_namespace where nspname = 'agdc'"),
      relations: await q("select relname, relkind, pg_get_userbyid(relowner) as owner, relacl::text as acl from pg_class where relnamespace = 'agdc'::regnamespace order by relname"),
      columns: await q("select table_name, column_name, ordinal_position, data_type, udt_name, is_nullable, column_default from information_schema.columns where table_schema = 'agdc' order by table_name, ordinal_position"),
      constraints: await q("select conrelid::regclass::text as rel, conname, pg_get_constraintdef(oid) as def from pg_constraint where connamespace = 'agdc'::regnamespace order by 1, 2"),
      indexes: await q("select indexname, indexdef from pg_indexes where schemaname = 'agdc' order by indexname"),
      functions: await q("select proname, pg_get_function_identity_arguments(oid) as args, pg_get_userbyid(proowner) as owner, proacl::text as acl, case when prokind = 'f' then pg_get_functiondef(oid) end as def from pg_proc where pronamespace = 'agdc'::regnamespace order by 1, 2"),
      types: await q("select typname, typtype from pg_type where typnamespace = 'agdc'::regnamespace order by typname"),
      triggers: await q("select tgrelid::regclass::text as rel, tgname, pg_get_triggerdef(oid) as def from pg_trigger where not tgisinternal and tgrelid::regclass::text like 'agdc.%' order by 1, 2"),
      views: await q("select viewname, viewowner, definition from pg_views where schemaname = 'agdc' order by viewname"),
      metadataTypes: await q("select id, name, definition, added_by from agdc.metadata_type order by id"),
      products: await q("select id, name, metadata, metadata_type_ref, definition, added_by from agdc.dataset_type order by id"),
    };
  } finally {
    await c.end();
  }
}

const byId = <T extends { id: string }>(list: T[]) => [...list].sort((a, b) => a.id.localeCompare(b.id));

describe.skipIf(SKIP)("real ODC tools read our index (datacube 1.8, odc-tools stac-to-dc)", () => {
  let py: DatacubePython;
  let ours: Awaited<ReturnType<typeof createTestDatabase>>;
  let theirs: Awaited<ReturnType<typeof createTestDatabase>>;
  let index: IndexPort;
  let theirIndex: IndexPort;
  let dir: string;
  let oursConfig: string;
  let theirsConfig: string;

  beforeAll(async () => {
    py = await ensureDatacubePython();
    const versions = await py.script<Record<string, string>>(null, ["versions"]);
    console.info(
      `datacube reference: ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(", ")}; ` +
        (py.installSeconds !== null ? `virtualenv created, pip install took ${py.installSeconds} s` : `virtualenv reused (its pip install took ${py.recordedInstallSeconds ?? "?"} s)`),
    );
    [ours, theirs] = await Promise.all([createTestDatabase("odc_ref_ours"), createTestDatabase("odc_ref_theirs")]);
    dir = mkdtempSync(path.join(tmpdir(), "piksel-datacube-reference-"));
    oursConfig = writeDatacubeConfig(path.join(dir, "ours.conf"), ours.url);
    theirsConfig = writeDatacubeConfig(path.join(dir, "theirs.conf"), theirs.url);
    const files = { eo3: path.join(dir, "eo3.odc-type.yaml"), s2: path.join(dir, "s2_l2a.odc-product.yaml"), gm: path.join(dir, "gm_s2_annual.odc-product.yaml") };
    writeFileSync(files.eo3, eo3MetadataTypeYaml);
    writeFileSync(files.s2, s2L2aProductYaml);
    writeFileSync(files.gm, gmS2AnnualProductYaml);

    // ODC's side, with its own tools.
    await py.datacube(theirsConfig, ["system", "init", "--no-default-types"]);
    await py.datacube(theirsConfig, ["metadata", "add", files.eo3]);
    await py.datacube(theirsConfig, ["product", "add", files.s2, files.gm]);
    // Ours, with the driver.
    index = createPostgresIndex(ours.url);
    theirIndex = createPostgresIndex(theirs.url);
    await index.init();
    await index.addMetadataType(parseOdcYaml(eo3MetadataTypeYaml)[0]);
    await index.addProduct(parseOdcYaml(s2L2aProductYaml)[0]);
    await index.addProduct(parseOdcYaml(gmS2AnnualProductYaml)[0]);
  });

  afterAll(async () => {
    await index?.close();
    await theirIndex?.close();
    await ours?.drop();
    await theirs?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("our schema, metadata type and products are what datacube system init, metadata add and product add create", async () => {
    const [o, t] = await Promise.all([describeSchema(ours.url), describeSchema(theirs.url)]);
    for (const key of Object.keys(t)) expect(o[key], key).toEqual(t[key]);
    expect(t.indexes.map((i: Json) => i.indexname)).toContain("dix_s2_l2a_lat_lon_time");
  });

  it("stac-to-eo3 gives the document odc-tools stac_transform gives, less the jp2 twins", async () => {
    const b = itemB();
    const multi = itemA();
    multi.geometry = { type: "MultiPolygon", coordinates: [multi.geometry.coordinates, [[[-16.8, 20.4], [-16.79, 20.4], [-16.79, 20.41], [-16.8, 20.4]]]] };
    const variants: [string, Json][] = [
      ["A bucket copy", itemA()],
      ["B bucket copy", b],
      ["A API with canonical", apiForm(itemA(), true)],
      ["B API without canonical", apiForm(itemB(), false)],
      ["A MultiPolygon", multi],
      ["B baseline 05.10", shiftedItem(5)],
    ];
    for (const [label, item] of variants) {
      const file = path.join(dir, `item-${label.replace(/\W+/g, "_")}.json`);
      writeFileSync(file, JSON.stringify(item));
      const theirsDoc = await py.script<Json>(null, ["stac-transform", file]);
      for (const key of Object.keys(theirsDoc.measurements)) if (key.endsWith("-jp2")) delete theirsDoc.measurements[key];
      expect(JSON.parse(JSON.stringify(stacToEo3(item).document)), label).toEqual(theirsDoc);
    }
  });

  describe("datasets we index", () => {
    const converted: StacConversion[] = [stacToEo3(itemA()), stacToEo3(itemB()), ...Array.from({ length: 36 }, (_, i) => stacToEo3(shiftedItem(i)))];
    const archived = [converted[2]?.document.id, converted[7]?.document.id] as string[];

    beforeAll(async () => {
      const result = await index.addDatasets(converted.map((c) => ({ document: c.document, uris: [c.uri] })));
      expect(result.added).toHaveLength(converted.length);
      expect(await index.archiveDatasets(archived)).toBe(2);
    });

    const queries: { lat: [number, number]; lon: [number, number]; time: [string, string] }[] = [
      { lat: [19.5, 20.0], lon: [5.5, 6.5], time: ["2021-01-01", "2021-01-10"] },
      { lat: [18.5, 20.5], lon: [4.0, 8.0], time: ["2021-01-04", "2021-01-07"] },
      { lat: [19.0, 19.05], lon: [5.0, 5.2], time: ["2020-08-31", "2021-12-31"] },
      { lat: [20.0, 21.0], lon: [-17.0, -16.5], time: ["2020-07-01", "2020-07-31"] },
    ];

    it("dc.find_datasets finds exactly what our search finds, with locations and measurements", async () => {
      for (const q of queries) {
        const theirsFound = await py.script<{ id: string; product: string; uris: string[]; measurements: string[] }[]>(oursConfig, [
          "find",
          "s2_l2a",
          ...q.lat.map(String),
          ...q.lon.map(String),
          ...q.time,
        ]);
        // datacube widens a date to its whole day; so do we, explicitly.
        const oursFound = await index.searchDatasets("s2_l2a", { lat: q.lat, lon: q.lon, time: [`${q.time[0]}T00:00:00Z`, `${q.time[1]}T23:59:59.999999Z`] });
        expect(oursFound.length, JSON.stringify(q)).toBeGreaterThan(0);
        expect(oursFound.map((d) => d.id).filter((id) => archived.includes(id))).toEqual([]);
        expect(byId(theirsFound), JSON.stringify(q)).toEqual(
          byId(oursFound).map((d) => ({ id: d.id, product: d.product, uris: d.uris, measurements: Object.keys(d.metadata.measurements).sort() })),
        );
      }
    });

    it("datacube dataset info shows our datasets, archived or not, as our driver reads them", async () => {
      const ids = [converted[0], converted[1], converted[2], converted[9]].map((c) => c?.document.id as string);
      const text = await py.datacube(oursConfig, ["dataset", "info", ...ids]);
      const infos = parseAllDocuments(text, { version: "1.1" }).map((d) => d.toJS() as Json);
      const oursRead = new Map((await index.getDatasets(ids)).map((d) => [d.id, d]));
      expect(infos.map((i) => i.id).sort()).toEqual([...ids].sort());
      for (const info of infos) {
        const d = oursRead.get(info.id) as IndexedDataset;
        expect(info.product).toBe(d.product);
        expect(info.status).toBe(d.archived ? "archived" : "active");
        expect(info.locations).toEqual(d.uris);
        for (const field of ["lat", "lon"]) expectClose(info.fields[field], d.fields[field], field);
        const time = d.fields.time as { begin: string; end: string };
        expect(Date.parse(info.fields.time.begin)).toBe(Date.parse(time.begin));
        expect(Date.parse(info.fields.time.end)).toBe(Date.parse(time.end));
        for (const field of ["region_code", "platform", "instrument", "label", "format", "cloud_cover"]) expect(info.fields[field], field).toEqual(d.fields[field]);
      }
    });
  });

  describe("datasets datacube dataset add indexes", () => {
    const a = stacToEo3(apiForm(itemA(), true));
    const b = stacToEo3(itemB());
    const gm = geomedianDataset(a.document.id);
    const yamlFile = (name: string, doc: Eo3Document) => {
      // YAML 1.1 quoting, so that PyYAML reads every string back as a string.
      const file = path.join(dir, `${name}.odc-metadata.yaml`);
      writeFileSync(file, stringify(doc, { version: "1.1" }));
      return file;
    };
    let files: { a: string; b: string; gm: string };

    beforeAll(async () => {
      files = { a: yamlFile("a", a.document), b: yamlFile("b", b.document), gm: yamlFile("gm", gm) };
      await py.datacube(theirsConfig, ["dataset", "add", files.a, files.b]);
      // Lineage needs its source indexed first.
      await py.datacube(theirsConfig, ["dataset", "add", files.gm]);
    });

    it("our driver reads them with their file locations, measurements and fields", async () => {
      const read = new Map((await theirIndex.getDatasets([a.document.id, b.document.id, gm.id])).map((d) => [d.id, d]));
      expect(read.get(a.document.id)?.uris).toEqual([`file://${files.a}`]);
      expect(read.get(gm.id)?.uris).toEqual([`file://${files.gm}`]);
      expect(read.get(gm.id)?.product).toBe("gm_s2_annual");
      expect(Object.keys(read.get(b.document.id)?.metadata.measurements ?? {}).sort()).toEqual(Object.keys(b.document.measurements).sort());
      expect(read.get(a.document.id)?.fields.region_code).toBe("28QCH");
      expect(read.get(gm.id)?.fields.time).toEqual({ begin: "2021-01-01T00:00:00.000Z", end: "2021-12-31T23:59:59.999Z" });
    });

    it("they hold exactly the document we store for the same EO3 input (prep_eo3 reproduced)", async () => {
      for (const doc of [a.document, b.document, gm]) {
        const [stored] = await theirIndex.getDatasets([doc.id]);
        expectClose(stored?.metadata, JSON.parse(JSON.stringify(prepEo3(doc))), doc.id);
      }
    });

    it("our search finds them by box and time, and the lineage is recorded alike", async () => {
      const found = await theirIndex.searchDatasets("gm_s2_annual", { lat: [-0.5, -0.1], lon: [112.2, 112.4], time: ["2021-06-01T00:00:00Z", "2021-06-02T00:00:00Z"] });
      expect(found.map((d) => d.id)).toEqual([gm.id]);
      expect((await theirIndex.searchDatasets("s2_l2a", { lat: [20.5, 20.6], lon: [-16.9, -16.8], time: ["2020-07-14T00:00:00Z", "2020-07-14T23:59:59Z"] })).map((d) => d.id)).toEqual([a.document.id]);

      const sources = async (url: string) => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          return (await c.query("select dataset_ref::text, classifier, source_dataset_ref::text from agdc.dataset_source order by 1, 2")).rows;
        } finally {
          await c.end();
        }
      };
      const ourGm: NewDataset = { document: gm, uris: [`file://${files.gm}`] };
      expect((await index.addDatasets([ourGm])).added).toEqual([gm.id]);
      expect(await sources(ours.url)).toEqual(await sources(theirs.url));
      expect(await sources(theirs.url)).toEqual([{ dataset_ref: gm.id, classifier: "s2_l2a", source_dataset_ref: a.document.id }]);
    });
  });
});
