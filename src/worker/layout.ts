import { regionCode, type TaskId } from "~/lib/grid";

/**
 * The output product and where each file of a task goes: odc-stats' layout (`odc/stats/model.py`,
 * `OutputProduct`, `Task.location`, `Task._prefix`, `Task.paths`, `Task.metadata_path`; sink
 * extensions in `odc/stats/io.py` `S3COGSink`), so that tools written against odc-stats outputs find
 * ours:
 *
 *   <prefix>/gm_s2_annual/1-0-0/x304/y068/2024--P1Y/gm_s2_annual_x304y068_2024--P1Y_final_B02.tif
 *                                                  .../gm_s2_annual_x304y068_2024--P1Y_final.stac-item.json
 *                                                  .../gm_s2_annual_x304y068_2024--P1Y_final.odc-metadata.yaml
 */

/** One band of the product: its measurement name (file suffix), what it holds and how it is stored. */
export interface OutputBand {
  /** Measurement name in the product definition (`gm_s2_annual`): B02 ... B12, SMAD, EMAD, BCMAD, COUNT. */
  name: string;
  /** The Sentinel-2 L2A measurement it is the geomedian of (Earth Search asset key), for reflectance bands. */
  source?: string;
  type: "UInt16" | "Float32";
  /** `0` for integers, NaN for floats (the product definition's nodata). */
  nodata: number;
}

/** The ten reflectance bands in cube order: s2_l2a's asset key -> gm_s2_annual's measurement. */
export const REFLECTANCE_BANDS: readonly OutputBand[] = [
  ["blue", "B02"],
  ["green", "B03"],
  ["red", "B04"],
  ["rededge1", "B05"],
  ["rededge2", "B06"],
  ["rededge3", "B07"],
  ["nir", "B08"],
  ["nir08", "B8A"],
  ["swir16", "B11"],
  ["swir22", "B12"],
].map(([source, name]) => ({ name: name as string, source, type: "UInt16" as const, nodata: 0 }));

/**
 * Every output band, in the order odc-stats' gm-s2 writes them (`StatsGM.measurements`: bands, then
 * `aux_names` SMAD, EMAD, BCMAD, COUNT).
 */
export const OUTPUT_BANDS: readonly OutputBand[] = [
  ...REFLECTANCE_BANDS,
  { name: "SMAD", type: "Float32", nodata: NaN },
  { name: "EMAD", type: "Float32", nodata: NaN },
  { name: "BCMAD", type: "Float32", nodata: NaN },
  { name: "COUNT", type: "UInt16", nodata: 0 },
];

/** Where products go in an environment's bucket by default (the worker without `--output`). */
export const OUTPUT_PREFIX = "derived";

/** The product a task writes (odc-stats `OutputProduct`). */
export interface OutputProduct {
  name: string;
  /** File-name stem (odc-stats `short_name`). */
  shortName: string;
  /** Dotted version; paths use it with `-` (`version_dashed`). */
  version: string;
  /** `final`: odc-stats puts it in every file name when set. */
  maturity: string;
  /** `odc:product_family`. */
  family: string;
  /** `odc:producer`. */
  producer: string;
}

/** gm_s2_annual as Digital Earth Africa publishes it; the product definition is in `standard-definitions.ts`. */
export const GM_S2_ANNUAL: OutputProduct = {
  name: "gm_s2_annual",
  shortName: "gm_s2_annual",
  version: "1.0.0",
  maturity: "final",
  family: "geomedian",
  producer: "piksel",
};

/** Keys of a task's files (relative to the bucket) and the file names the metadata refers to. */
export interface TaskLayout {
  /** The task's folder, without a trailing `/`. */
  dir: string;
  /** `gm_s2_annual_x304y068_2024--P1Y_final`: label of the dataset and stem of every file. */
  stem: string;
  /** Band name -> key of its COG. */
  bands: Record<string, string>;
  /** Band name -> file name of its COG (measurement paths are relative to the metadata documents). */
  files: Record<string, string>;
  stac: string;
  eo3: string;
}

/**
 * The keys of a task. `prefix` is where products live in the bucket (`derived` by default, or the
 * path of `--output`). The folder splits the region code at `y` (`x304/y068`); odc-stats splits it at
 * its middle, which is the same for region codes whose x and y have the same number of digits and
 * keeps working when they do not.
 */
export function taskLayout(product: OutputProduct, task: TaskId, prefix = ""): TaskLayout {
  const rc = regionCode(task.tile);
  const at = rc.indexOf("y");
  const version = product.version.replace(/\./g, "-");
  const dir = [prefix.replace(/^\/+|\/+$/g, ""), product.name, version, rc.slice(0, at), rc.slice(at), task.period.text].filter((s) => s !== "").join("/");
  const stem = `${product.shortName}_${rc}_${task.period.text}${product.maturity ? `_${product.maturity}` : ""}`;
  const files = Object.fromEntries(OUTPUT_BANDS.map((b) => [b.name, `${stem}_${b.name}.tif`]));
  return {
    dir,
    stem,
    files,
    bands: Object.fromEntries(Object.entries(files).map(([band, file]) => [band, `${dir}/${file}`])),
    stac: `${dir}/${stem}.stac-item.json`,
    eo3: `${dir}/${stem}.odc-metadata.yaml`,
  };
}
