import { describe, expect, it } from "vitest";
import { DefinitionError, jsonifyDocument, odcJson, parseMetadataTypeDefinition, parseOdcYaml, parseProductDefinition, productMeasurementNames, productMetadataTypeName } from "./definitions";
import { standardDefinitions } from "./standard-definitions";

describe("parseOdcYaml reads YAML as datacube's NoDatesSafeLoader does", () => {
  it("keeps dates as strings and speaks YAML 1.1", () => {
    expect(parseOdcYaml("a: 2020-01-01\nb: yes\nc: .nan\nd: 017\ne: 1:20\n0: zero\n")).toEqual([{ a: "2020-01-01", b: true, c: NaN, d: 15, e: 80, 0: "zero" }]);
  });

  it("resolves scalars as PyYAML does, not as the YAML 1.1 spec", () => {
    const [doc] = parseOdcYaml("y: -10\nn: 1\nexp: 1e-4\nexp2: 1.0e-4\nlead: 09\nhex: 0x1F\ninf: -.inf\nsix: 1:30.5\non: off\nk:\n  true: a\n  ~: b\n") as Record<string, unknown>[];
    expect(doc).toEqual({ y: -10, n: 1, exp: "1e-4", exp2: 0.0001, lead: "09", hex: 31, inf: -Infinity, six: 90.5, True: false, k: { True: "a", None: "b" } });
  });

  it("returns one entry per document", () => {
    expect(parseOdcYaml("name: a\n---\nname: b\n")).toEqual([{ name: "a" }, { name: "b" }]);
  });

  it("names the broken document", () => {
    expect(() => parseOdcYaml("a: 1\n---\nb: [\n")).toThrow(/YAML document 2/);
  });
});

describe("jsonifyDocument", () => {
  it("writes non-finite numbers as datacube's jsonify_document does", () => {
    const doc = { nodata: NaN, hi: Infinity, lo: -Infinity, n: [1.5, 0], at: new Date("2020-01-01T00:00:00Z") };
    const expected = '{"nodata":"NaN","hi":"Infinity","lo":"-Infinity","n":[1.5,0],"at":"2020-01-01T00:00:00.000Z"}';
    expect(JSON.stringify(jsonifyDocument(doc))).toBe(expected);
    expect(odcJson(doc)).toBe(expected);
  });
});

describe("the standard definitions", () => {
  const { metadataTypes, products } = standardDefinitions();

  it("parse and validate", () => {
    expect(parseMetadataTypeDefinition(metadataTypes[0]).name).toBe("eo3");
    const [s2, gm] = products.map(parseProductDefinition);
    expect(s2?.name).toBe("s2_l2a");
    expect(gm?.name).toBe("gm_s2_annual");
  });

  it("give s2_l2a the Earth Search v1 asset keys as measurements", () => {
    const s2 = parseProductDefinition(products[0]);
    expect(productMetadataTypeName(s2)).toBe("eo3");
    expect(productMeasurementNames(s2)).toEqual(["coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "nir09", "swir16", "swir22", "scl", "aot", "wvp"]);
  });

  it("let the geomedian product use the eo3 metadata type too, with NaN nodata for the MADs", () => {
    const gm = parseProductDefinition(products[1]);
    expect(productMetadataTypeName(gm)).toBe("eo3");
    expect(gm.measurements?.find((m) => m.name === "SMAD")?.nodata).toBeNaN();
  });
});

describe("definition validation follows datacube's JSON schemas", () => {
  const product = () => parseOdcYaml("name: p\ndescription: d\nmetadata_type: eo3\nmetadata: {product: {name: p}}\nmeasurements:\n  - {name: b1, dtype: uint16, nodata: 0, units: '1'}\n")[0] as Record<string, unknown>;

  it("accepts a minimal product", () => {
    expect(parseProductDefinition(product()).name).toBe("p");
  });

  it("refuses a name with a hyphen, an unknown key, a bad dtype", () => {
    expect(() => parseProductDefinition({ ...product(), name: "s2-l2a" })).toThrow(DefinitionError);
    expect(() => parseProductDefinition({ ...product(), colour: "red" })).toThrow(/colour: unknown key/);
    expect(() => parseProductDefinition({ ...product(), measurements: [{ name: "b1", dtype: "uint12", nodata: 0, units: "1" }] })).toThrow(/measurements.0.dtype/);
  });

  it("allows default_* objects kept for YAML anchors", () => {
    expect(parseProductDefinition({ ...product(), default_band: { units: "1" } }).name).toBe("p");
  });

  it("refuses a metadata type without search fields", () => {
    expect(() => parseMetadataTypeDefinition({ name: "m", description: "d", dataset: { id: ["id"], creation_dt: ["c"], label: ["l"], sources: ["s"] } })).toThrow(/search_fields/);
  });
});
