import { describe, expect, it } from "vitest";
import { parseMetadataTypeDefinition, parseOdcYaml } from "./definitions";
import { constantFields, datasetFields, docFields, dynamicIndexes, extractFields, pgPathLiteral, viewSql } from "./fields";
import { eo3MetadataTypeYaml } from "./standard-definitions";

const eo3 = () => parseMetadataTypeDefinition(parseOdcYaml(eo3MetadataTypeYaml)[0]);

/** Object keys in PostgreSQL jsonb order (shorter first, then bytewise), as a definition reads back. */
function jsonbOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(jsonbOrder);
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value).sort(([a], [b]) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, jsonbOrder(v)]));
}

// Statements captured from datacube 1.8.20 (`datacube metadata add` / `product add` of the same
// definitions, PostgreSQL log_statement=all), with its line breaks folded into spaces.
const odcLatLonTimeIndex =
  "CREATE INDEX CONCURRENTLY dix_s2_l2a_lat_lon_time ON agdc.dataset USING gist (agdc.float8range(CAST(metadata #>> '{extent, lat, begin}' AS DOUBLE PRECISION), CAST(metadata #>> '{extent, lat, end}' AS DOUBLE PRECISION), '[]'), agdc.float8range(CAST(metadata #>> '{extent, lon, begin}' AS DOUBLE PRECISION), CAST(metadata #>> '{extent, lon, end}' AS DOUBLE PRECISION), '[]'), tstzrange(least(agdc.common_timestamp(metadata #>> '{properties, dtr:start_datetime}'), agdc.common_timestamp(metadata #>> '{properties, datetime}')), greatest(agdc.common_timestamp(metadata #>> '{properties, dtr:end_datetime}'), agdc.common_timestamp(metadata #>> '{properties, datetime}')), '[]')) WHERE archived IS NULL AND dataset_type_ref = 1";
const odcProductView =
  "CREATE VIEW agdc.dv_s2_l2a_dataset AS SELECT agdc.dataset.id AS id, agdc.dataset.added AS indexed_time, agdc.dataset.added_by AS indexed_by, agdc.dataset_type.name AS product, agdc.dataset.dataset_type_ref AS dataset_type_id, agdc.metadata_type.name AS metadata_type, agdc.dataset.metadata_type_ref AS metadata_type_id, agdc.dataset.metadata AS metadata_doc, agdc.common_timestamp(agdc.dataset.metadata #>> '{properties, odc:processing_datetime}') AS creation_time, agdc.dataset.metadata #>> '{properties, odc:file_format}' AS format, agdc.dataset.metadata #>> '{label}' AS label, agdc.float8range(CAST(agdc.dataset.metadata #>> '{extent, lat, begin}' AS DOUBLE PRECISION), CAST(agdc.dataset.metadata #>> '{extent, lat, end}' AS DOUBLE PRECISION), '[]') AS lat, agdc.float8range(CAST(agdc.dataset.metadata #>> '{extent, lon, begin}' AS DOUBLE PRECISION), CAST(agdc.dataset.metadata #>> '{extent, lon, end}' AS DOUBLE PRECISION), '[]') AS lon, tstzrange(least(agdc.common_timestamp(agdc.dataset.metadata #>> '{properties, dtr:start_datetime}'), agdc.common_timestamp(agdc.dataset.metadata #>> '{properties, datetime}')), greatest(agdc.common_timestamp(agdc.dataset.metadata #>> '{properties, dtr:end_datetime}'), agdc.common_timestamp(agdc.dataset.metadata #>> '{properties, datetime}')), '[]') AS time, agdc.dataset.metadata #>> '{properties, eo:platform}' AS platform, agdc.dataset.metadata #>> '{properties, eo:instrument}' AS instrument, CAST(agdc.dataset.metadata #>> '{properties, eo:cloud_cover}' AS DOUBLE PRECISION) AS cloud_cover, agdc.dataset.metadata #>> '{properties, odc:region_code}' AS region_code, agdc.dataset.metadata #>> '{properties, odc:product_family}' AS product_family, agdc.dataset.metadata #>> '{properties, dea:dataset_maturity}' AS dataset_maturity FROM agdc.dataset JOIN agdc.dataset_type ON agdc.dataset_type.id = agdc.dataset.dataset_type_ref JOIN agdc.metadata_type ON agdc.metadata_type.id = agdc.dataset_type.metadata_type_ref WHERE agdc.dataset.archived IS NULL AND agdc.dataset.dataset_type_ref = 1";

describe("search field expressions of the eo3 metadata type", () => {
  it("are the expressions datacube 1.8 indexes", () => {
    const fields = docFields(datasetFields(eo3()));
    const index = odcLatLonTimeIndex.slice(odcLatLonTimeIndex.indexOf("gist (") + 6, odcLatLonTimeIndex.lastIndexOf(") WHERE"));
    expect([fields.get("lat"), fields.get("lon"), fields.get("time")].map((f) => f?.sql("metadata")).join(", ")).toBe(index);
    expect(fields.get("region_code")?.sql("metadata")).toBe("metadata #>> '{properties, odc:region_code}'");
    expect(fields.get("cloud_cover")?.sql("metadata")).toBe("CAST(metadata #>> '{properties, eo:cloud_cover}' AS DOUBLE PRECISION)");
  });

  it("build the product view datacube 1.8 builds, column for column", () => {
    const fields = datasetFields(parseMetadataTypeDefinition(jsonbOrder(parseOdcYaml(eo3MetadataTypeYaml)[0])));
    expect(viewSql("s2_l2a", fields, "agdc.dataset.archived IS NULL AND agdc.dataset.dataset_type_ref = 1")).toBe(odcProductView);
  });

  it("give s2_l2a the three dynamic indexes datacube creates", () => {
    const fields = datasetFields(eo3());
    const indexes = dynamicIndexes("s2_l2a", fields, constantFields(fields, { product: { name: "s2_l2a" } }), "archived IS NULL AND dataset_type_ref = 1");
    expect(indexes.filter((i) => i.shouldExist).map((i) => i.name)).toEqual(["dix_s2_l2a_lat_lon_time", "dix_s2_l2a_time_lat_lon", "dix_s2_l2a_region_code"]);
    expect(indexes.find((i) => i.name === "dix_s2_l2a_region_code")?.create(false)).toBe(
      "CREATE INDEX dix_s2_l2a_region_code ON agdc.dataset USING btree ((metadata #>> '{properties, odc:region_code}')) WHERE archived IS NULL AND dataset_type_ref = 1",
    );
  });

  it("give a metadata type no index of its own (queries are per product)", () => {
    const fields = datasetFields(eo3());
    expect(dynamicIndexes("eo3", fields, new Set(docFields(fields).keys()), "archived IS NULL AND metadata_type_ref = 1").filter((i) => i.shouldExist)).toEqual([]);
  });

  it("skip the index of a field the product's metadata fixes", () => {
    const fields = datasetFields(eo3());
    const constant = constantFields(fields, { product: { name: "x" }, properties: { "odc:region_code": "50MKE" } });
    expect(constant).toEqual(new Set(["region_code"]));
    expect(dynamicIndexes("x", fields, constant, "true").find((i) => i.name === "dix_x_region_code")?.shouldExist).toBe(false);
  });
});

describe("extractFields", () => {
  it("reads the values datacube dataset info shows", () => {
    const doc = {
      label: "L",
      extent: { lat: { begin: 20.05, end: 20.79 }, lon: { begin: -16.92, end: -16.72 } },
      properties: { datetime: "2020-07-14T11:55:52.479000Z", "odc:region_code": "28QCH", "eo:cloud_cover": 5.01237, "odc:processing_datetime": "2022-11-03T06:10:59.240406+00:00" },
    };
    const f = extractFields(datasetFields(eo3()), doc);
    expect(f.lat).toEqual({ begin: 20.05, end: 20.79 });
    expect(f.time).toEqual({ begin: "2020-07-14T11:55:52.479Z", end: "2020-07-14T11:55:52.479Z" });
    expect(f.region_code).toBe("28QCH");
    expect(f.cloud_cover).toBe(5.01237);
    expect(f.creation_time).toBe("2022-11-03T06:10:59.240Z");
    expect(f.product_family).toBeNull();
  });
});

describe("pgPathLiteral", () => {
  it("quotes path elements PostgreSQL would split or fold", () => {
    expect(pgPathLiteral(["properties", "odc:region_code"])).toBe("'{properties, odc:region_code}'");
    expect(pgPathLiteral(["a b", "c,d", 'e"', "it's", "null"])).toBe(`'{"a b", "c,d", "e\\"", it''s, "null"}'`);
  });
});
