import YAML from "yaml";
import { uuid5 } from "~/features/indexing/stac-to-eo3";
import { formatOdcDatetime, geoboxBounds, gridToLonLat, regionCode, tileGeobox, type GridSpec, type TaskId } from "~/lib/grid";
import { EO3_SCHEMA, type Eo3Document } from "~/server/odc/eo3";
import { OUTPUT_BANDS, type OutputProduct, type TaskLayout } from "./layout";
import { SOURCE_PRODUCT, type SourceDataset } from "./plan";

/**
 * The metadata of a task's output, as odc-stats writes it (`odc/stats/model.py`: `Task.uuid`,
 * `render_assembler_metadata` for the EO3 document through eodatasets3, `render_metadata` for the
 * STAC item through pystac).
 */

// odc-stats `ODC_NS`, the namespace of `odc_uuid` (the same as odc-tools').
const ODC_NAMESPACE = "6f34c6f4-13d6-43c0-8e4e-42b6c13203af";

/**
 * The output dataset's id, `odc_uuid(product.name, product.version, sources, time=<period>,
 * tile=<(x, y)>)`: uuid5 over the lower-cased lines algorithm, version, deployment id (""), the
 * sorted `key=value` tags (the tile as Python prints a tuple) and the sorted source ids. The same
 * sources give the same id; new sources (a rerun after more scenes were indexed) a new one.
 */
export function outputDatasetId(product: OutputProduct, task: TaskId, sources: readonly string[]): string {
  const tags = [`time=${task.period.text}`, `tile=(${task.tile.x}, ${task.tile.y})`].sort();
  const lines = [product.name, product.version, "", ...tags, ...[...sources].map((s) => s.toLowerCase()).sort()];
  return uuid5(ODC_NAMESPACE, lines.map((s) => s.toLowerCase()).join("\n"));
}

/** What the metadata documents are made from. */
export interface OutputMetadataInput {
  product: OutputProduct;
  grid: GridSpec;
  task: TaskId;
  layout: TaskLayout;
  sources: readonly SourceDataset[];
  /** When the outputs were computed. */
  processed: Date;
  /** URI of the STAC item (its `self` link). */
  stacUri: string;
}

function commonProperties(input: OutputMetadataInput): Record<string, unknown> {
  const { product, task, sources } = input;
  const platforms = [...new Set(sources.map((s) => s.platform).filter((p): p is string => p !== undefined))].sort();
  const instruments = [...new Set(sources.map((s) => s.instrument).filter((p): p is string => p !== undefined))].sort();
  return {
    datetime: formatOdcDatetime(task.period.start),
    "dtr:start_datetime": formatOdcDatetime(task.period.start),
    "dtr:end_datetime": formatOdcDatetime(task.period.end, true),
    // eodatasets3 (through odc-stats) joins the sources' platforms with "," and instruments with "_".
    ...(platforms.length > 0 && { "eo:platform": platforms.join(",") }),
    ...(instruments.length > 0 && { "eo:instrument": instruments.join("_") }),
    "odc:dataset_version": product.version,
    "odc:file_format": "GeoTIFF",
    "odc:processing_datetime": `${input.processed.toISOString().slice(0, 19)}Z`,
    "odc:producer": product.producer,
    "odc:product": product.name,
    "odc:product_family": product.family,
    "odc:region_code": regionCode(task.tile),
    "dea:dataset_maturity": product.maturity,
  };
}

/** The tile's outline in its CRS, closed (eodatasets3 writes `geobox.extent`). */
function outline(input: OutputMetadataInput): number[][] {
  const b = geoboxBounds(tileGeobox(input.grid, input.task.tile));
  return [[b.left, b.top], [b.right, b.top], [b.right, b.bottom], [b.left, b.bottom], [b.left, b.top]];
}

/**
 * The EO3 dataset document (`.odc-metadata.yaml`): measurements by relative path, the tile's grid,
 * lineage to every source dataset under the source product's name.
 */
export function eo3Document(input: OutputMetadataInput): Eo3Document {
  const { product, task, layout, sources } = input;
  const g = tileGeobox(input.grid, task.tile);
  return {
    $schema: EO3_SCHEMA,
    id: outputDatasetId(product, task, sources.map((s) => s.id)),
    label: layout.stem,
    product: { name: product.name },
    crs: input.grid.crs.toLowerCase(),
    geometry: { type: "Polygon", coordinates: [outline(input)] },
    grids: { default: { shape: [g.height, g.width], transform: [...g.transform, 0, 0, 1] } },
    properties: commonProperties(input),
    measurements: Object.fromEntries(OUTPUT_BANDS.map((b) => [b.name, { path: layout.files[b.name]! }])),
    accessories: { "metadata:stac": { path: layout.stac.slice(layout.stac.lastIndexOf("/") + 1), type: "application/json" } },
    lineage: { [SOURCE_PRODUCT]: sources.map((s) => s.id) },
  };
}

/** The EO3 document as YAML, keys in eodatasets3's order. */
export function eo3Yaml(doc: Eo3Document): string {
  return `---\n${YAML.stringify(doc, { lineWidth: 0 })}`;
}

/**
 * The STAC item (`.stac-item.json`): odc-stats' `render_metadata` (projection extension, lon/lat
 * footprint of the tile's corners, `odc:lineage.inputs`, one asset per band by relative href, `self`
 * link), with the raster extension's nodata and scale of each band.
 */
export function stacItem(input: OutputMetadataInput): Record<string, unknown> {
  const { product, task, layout, sources } = input;
  const g = tileGeobox(input.grid, task.tile);
  const ring = outline(input).map(([x, y]) => gridToLonLat(input.grid, x!, y!));
  const lons = ring.map((p) => p[0]);
  const lats = ring.map((p) => p[1]);
  const epsg = Number(/^epsg:(\d+)$/i.exec(input.grid.crs)?.[1]);
  return {
    type: "Feature",
    stac_version: "1.0.0",
    stac_extensions: ["https://stac-extensions.github.io/projection/v1.1.0/schema.json", "https://stac-extensions.github.io/raster/v1.1.0/schema.json"],
    id: outputDatasetId(product, task, sources.map((s) => s.id)),
    geometry: { type: "Polygon", coordinates: [ring] },
    bbox: [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)],
    properties: {
      ...commonProperties(input),
      "proj:epsg": epsg,
      "proj:shape": [g.height, g.width],
      "proj:transform": [...g.transform, 0, 0, 1],
      "odc:lineage": { inputs: sources.map((s) => s.id) },
    },
    assets: Object.fromEntries(
      OUTPUT_BANDS.map((b) => [
        b.name,
        {
          href: layout.files[b.name],
          type: "image/tiff; application=geotiff; profile=cloud-optimized",
          roles: ["data"],
          title: b.name,
          "raster:bands": [{ data_type: b.type === "UInt16" ? "uint16" : "float32", nodata: Number.isNaN(b.nodata) ? "nan" : b.nodata, ...(b.source !== undefined && { scale: 0.0001, offset: 0 }) }],
        },
      ]),
    ),
    links: [{ rel: "self", type: "application/json", href: input.stacUri }],
  };
}
