import "server-only";
import YAML from "yaml";
import { explorerPathRange, type DayRange } from "~/lib/periods";
import { getConfig } from "~/server/config";
import { AppError, type AppErrorCode } from "~/server/errors";
import { getLogger } from "~/server/logger";
import { environmentName, productName } from "../coverage.schema";
import { datasetDocument, explorerFootprint, explorerRegions, explorerTimeline, type CoverageDeps } from "./coverage.service";

/**
 * datacube-explorer's GeoJSON API, one copy per environment under `/explorer/<environment>`: an
 * explorer base URL such as `https://console.example/explorer/prod` serves `/api/regions/<product>`,
 * `/api/footprint/<product>` and `/api/dataset-timeline/<product>` (each with `/<year>[/<month>[/<day>]]`)
 * and `/dataset/<id>.odc-metadata.yaml` in explorer's shapes, so existing scripts work by changing
 * their base URL (docs/adr/0014-coverage-summaries.md). Read-only and open like explorer: counts and
 * footprints of the index, nothing of the console's own state.
 */

const status: Record<AppErrorCode, number> = { BAD_REQUEST: 400, UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409, PRECONDITION_FAILED: 412 };

/** The route of a dataset's stored EO3 document, as explorer names it. */
export function explorerDatasetPath(environment: string, id: string): string {
  return `/explorer/${encodeURIComponent(environment)}/dataset/${id}.odc-metadata.yaml`;
}

const deps = (): CoverageDeps => ({ config: getConfig(), log: getLogger() });

const json = (body: unknown, init: { status?: number; type?: string } = {}) =>
  new Response(JSON.stringify(body), { status: init.status ?? 200, headers: { "content-type": init.type ?? "application/json", "cache-control": "no-store" } });

const problem = (code: number, message: string) => json({ error: message }, { status: code });

interface Parsed {
  environment: string;
  product: string;
  period: DayRange | null;
  timeSpec: (number | null)[];
}

function parse(params: { environment: string; product: string; time?: string[] }): Parsed {
  const env = environmentName.safeParse(params.environment);
  if (!env.success) throw new AppError("BAD_REQUEST", `"${params.environment}" is not an environment name: expected one such as dev, as in /explorer/dev/api/...`);
  const product = productName.safeParse(params.product);
  if (!product.success) throw new AppError("BAD_REQUEST", `"${params.product}" is not a product name: expected one such as s2_l2a.`);
  const time = params.time ?? [];
  let period: DayRange | null;
  try {
    period = explorerPathRange(time);
  } catch (err) {
    throw new AppError("BAD_REQUEST", `Bad time in the path: ${(err as Error).message}. Use /<year>, /<year>/<month> or /<year>/<month>/<day>.`);
  }
  const timeSpec = [0, 1, 2].map((i) => (time[i] === undefined ? null : Number(time[i])));
  return { environment: env.data, product: product.data, period, timeSpec };
}

async function handle(fn: () => Promise<Response>): Promise<Response> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError) return problem(status[err.code], err.message);
    getLogger().error({ err }, "explorer route failed");
    return problem(500, "Internal error; the console's log has the details.");
  }
}

type Params = Promise<{ environment: string; product: string; time?: string[] }>;

export const regionsRoute = async (_req: Request, { params }: { params: Params }) =>
  handle(async () => {
    const p = parse(await params);
    return json(await explorerRegions(deps(), p.environment, p.product, p.period), { type: "application/geo+json" });
  });

export const footprintRoute = async (_req: Request, { params }: { params: Params }) =>
  handle(async () => {
    const p = parse(await params);
    const feature = await explorerFootprint(deps(), p.environment, p.product, p.period, p.timeSpec);
    return feature ? json(feature, { type: "application/geo+json" }) : problem(404, `No datasets of ${p.product} in ${p.environment} for this time.`);
  });

export const timelineRoute = async (_req: Request, { params }: { params: Params }) =>
  handle(async () => {
    const p = parse(await params);
    return json(await explorerTimeline(deps(), p.environment, p.product, p.period));
  });

const DOCUMENT_FILE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.odc-metadata\.yaml$/i;

export const datasetDocumentRoute = async (_req: Request, { params }: { params: Promise<{ environment: string; file: string }> }) =>
  handle(async () => {
    const { environment, file } = await params;
    const m = DOCUMENT_FILE.exec(file);
    if (!m) throw new AppError("BAD_REQUEST", `"${file}" is not a dataset document name: expected <dataset uuid>.odc-metadata.yaml.`);
    const found = await datasetDocument(deps(), environment, m[1]!.toLowerCase());
    if (!found) return problem(404, `No dataset ${m[1]} in the ODC index of ${environment}.`);
    return new Response(YAML.stringify(found.document, { lineWidth: 0 }), { headers: { "content-type": "text/yaml; charset=utf-8", "cache-control": "no-store" } });
  });
