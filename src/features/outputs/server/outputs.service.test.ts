import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parseTaskId } from "~/lib/grid";
import { pythonSnippet, recomputeCommand } from "./outputs.service";

const parses = (code: string) => execFileSync("/usr/bin/python3", ["-c", "import ast, sys; ast.parse(sys.argv[1])", code]);

describe("pythonSnippet", () => {
  it("reads s3:// items with boto3 and loads them with odc-stac", () => {
    const code = pythonSnippet({ stacItemUris: ["s3://piksel-prod-data/derived/a.stac-item.json", "s3://piksel-prod-data/derived/b.stac-item.json"] });
    expect(code).toContain('"s3://piksel-prod-data/derived/a.stac-item.json",');
    expect(code).toContain("boto3.client(\"s3\")");
    expect(code).toContain("item.make_asset_hrefs_absolute()");
    expect(code).toContain('odc.stac.load(items, bands=["B04", "B03", "B02"], chunks={})');
    parses(code);
  });

  it("reads file:// items from their paths, with the bands asked for", () => {
    const code = pythonSnippet({ stacItemUris: ["file:///data/piksel-dev-data/derived/it%20em.stac-item.json"], bands: ["B08"] });
    expect(code).toContain('"/data/piksel-dev-data/derived/it em.stac-item.json",');
    expect(code).not.toContain("boto3");
    expect(code).toContain('bands=["B08"]');
    parses(code);
  });

  it("refuses no items, and a mix of stores", () => {
    expect(() => pythonSnippet({ stacItemUris: [] })).toThrow(/at least one/);
    expect(() => pythonSnippet({ stacItemUris: ["s3://a/b.json", "file:///c.json"] })).toThrow(/must all be s3:\/\/ or all file:\/\//);
  });
});

describe("recomputeCommand", () => {
  it("is the worker command with --overwrite", () => {
    expect(recomputeCommand({ environment: "staging", task: parseTaskId("2024--P1Y/304/68") })).toBe("piksel worker geomedian --env staging --task 2024--P1Y/304/68 --overwrite");
  });
});
