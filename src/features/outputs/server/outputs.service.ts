import "server-only";
import { fileURLToPath } from "node:url";
import { formatTaskId, type TaskId, type TileIndex } from "~/lib/grid";
import type { ObjectsPort } from "~/server/drivers/objects";
import { GM_S2_ANNUAL, taskLayout, type OutputProduct } from "~/worker/layout";
import { OUTPUT_PREFIX, outputFileUrl } from "../tile-params";
import { mapLimit } from "./map-limit";

/**
 * What a request page shows of its outputs: the files of each task with their download URLs, the
 * STAC items, a Python snippet that loads them, and the command that recomputes one task.
 */

/** One file of a task's output. */
export interface OutputFile {
  key: string;
  /** File name (the key's last segment). */
  name: string;
  kind: "band" | "stac-item" | "eo3" | "other";
  /** The measurement, for band COGs (B02 … B12, SMAD, EMAD, BCMAD, COUNT). */
  band?: string;
  size: number;
  /** ISO 8601. */
  modified: string;
  /** The console's download URL (`/api/outputs/<env>/files/<key>`). */
  url: string;
}

/** The outputs of one task. */
export interface TaskOutputs {
  /** odc-stats task id, `2024--P1Y/304/68`. */
  task: string;
  tile: TileIndex;
  /**
   * finished: the EO3 document, written last, is there; incomplete: files but no document (running,
   * interrupted, or being recomputed); missing: nothing yet.
   */
  status: "finished" | "incomplete" | "missing";
  files: OutputFile[];
  /** The STAC item, once finished: its key, the URI tools read it by (s3:// or file://) and the download URL. */
  stacItem?: { key: string; uri: string; url: string };
}

/** The outputs of `tasks` in the environment's bucket: one listing of each task's folder (16 at a time). */
export async function listTaskOutputs(
  objects: ObjectsPort,
  input: { environment: string; tasks: readonly TaskId[]; product?: OutputProduct },
): Promise<TaskOutputs[]> {
  const product = input.product ?? GM_S2_ANNUAL;
  return mapLimit(input.tasks, 16, async (task) => {
    const layout = taskLayout(product, task, OUTPUT_PREFIX);
    const bandOf = new Map(Object.entries(layout.bands).map(([band, key]) => [key, band]));
    const listed = await objects.list(`${layout.dir}/`);
    const files: OutputFile[] = listed.map((o) => {
      const band = bandOf.get(o.key);
      const kind = band ? "band" : o.key === layout.stac ? "stac-item" : o.key === layout.eo3 ? "eo3" : "other";
      return { key: o.key, name: o.key.slice(layout.dir.length + 1), kind, ...(band && { band }), size: o.size, modified: o.modified.toISOString(), url: outputFileUrl(input.environment, o.key) };
    });
    const finished = files.some((f) => f.kind === "eo3");
    const hasStac = files.some((f) => f.kind === "stac-item");
    return {
      task: formatTaskId(task),
      tile: task.tile,
      status: finished ? "finished" : files.length > 0 ? "incomplete" : "missing",
      files,
      ...(finished && hasStac && { stacItem: { key: layout.stac, uri: objects.uri(layout.stac), url: outputFileUrl(input.environment, layout.stac) } }),
    };
  });
}

const pyString = (s: string) => JSON.stringify(s);

/**
 * Python that loads the outputs with odc-stac from their STAC items (by URI: `s3://` through boto3
 * and the AWS credentials of the environment it runs in, `file://` from the disk of this machine).
 * Asset hrefs in the items are relative to the item, so they are made absolute before loading.
 */
export function pythonSnippet(input: { stacItemUris: readonly string[]; bands?: readonly string[] }): string {
  const uris = input.stacItemUris;
  if (uris.length === 0) throw new RangeError("pythonSnippet needs at least one STAC item URI (a finished task)");
  const bands = input.bands ?? ["B04", "B03", "B02"];
  const s3 = uris.every((u) => u.startsWith("s3://"));
  if (!s3 && !uris.every((u) => u.startsWith("file://"))) throw new RangeError("pythonSnippet: STAC item URIs must all be s3:// or all file://");
  const list = uris.map((u) => `    ${pyString(s3 ? u : fileURLToPath(u))},`).join("\n");
  const read = s3
    ? [
        "import json",
        "",
        "import boto3",
        "import odc.stac",
        "import pystac",
        "",
        's3 = boto3.client("s3")',
        "",
        "",
        "def read_item(uri: str) -> pystac.Item:",
        '    bucket, key = uri.removeprefix("s3://").split("/", 1)',
        '    return pystac.Item.from_dict(json.load(s3.get_object(Bucket=bucket, Key=key)["Body"]))',
        "",
        "",
        "items = [read_item(uri) for uri in [",
      ]
    : ["import odc.stac", "import pystac", "", "items = [pystac.Item.from_file(path) for path in ["];
  return [
    `# pip install odc-stac pystac${s3 ? " boto3" : ""}`,
    ...read,
    list,
    "]]",
    "for item in items:",
    "    item.make_asset_hrefs_absolute()  # the items name their COGs relative to themselves",
    "",
    "# One time slice per period; tiles of the same period are mosaicked.",
    `ds = odc.stac.load(items, bands=[${bands.map(pyString).join(", ")}], chunks={})`,
    "print(ds)",
    "",
  ].join("\n");
}

/** The CLI command that recomputes one task in an environment, replacing its outputs. */
export function recomputeCommand(input: { environment: string; task: TaskId | string }): string {
  const task = typeof input.task === "string" ? input.task : formatTaskId(input.task);
  return `piksel worker geomedian --env ${input.environment} --task ${task} --overwrite`;
}
