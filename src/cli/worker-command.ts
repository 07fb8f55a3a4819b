import path from "node:path";
import type { Command } from "commander";
import { formatTaskId, GridError, parseGridSpec, parseTaskId } from "~/lib/grid";
import type { EnvironmentConfig, PikselConfig } from "~/server/config";
import { indexDatabaseUrl } from "~/server/config";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import type { ObjectsPort } from "~/server/drivers/objects";
import { createLocalObjects } from "~/server/drivers/objects/local";
import { createS3Objects } from "~/server/drivers/objects/s3";
import type { Logger } from "~/server/logger";
import { WorkerError } from "~/worker/errors";
import { DEFAULT_READ_SETTINGS } from "~/worker/gdal";
import { OUTPUT_PREFIX } from "~/worker/layout";
import { runGeomedianTask } from "~/worker/run";

/** What `piksel worker` needs from the CLI entry (src/cli/main.ts). */
export interface WorkerCommandDeps {
  /** Runs a command body; an error becomes one line on stderr and exit code 1. */
  action: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>;
  /** The validated configuration (exits with its one-line message when invalid). */
  config: () => PikselConfig;
  /** Runs fn with the embedded PostgreSQL up when the configuration needs it. */
  withDatabases: (config: PikselConfig, fn: () => Promise<void>) => Promise<void>;
  log: Logger;
}

interface GeomedianFlags {
  env: string;
  task: string;
  grid?: string;
  output?: string;
  overwrite: boolean;
  index: boolean;
  chunk: string;
  threads?: string;
  scratch?: string;
  httpRetries: string;
  httpRetryDelay: string;
  httpCache: string;
}

/** Where the output goes: the environment's bucket under `derived/`, an s3:// URL or a directory. */
export function outputLocation(env: EnvironmentConfig, output: string | undefined): { objects: ObjectsPort; prefix: string } {
  const envObjects = () => (env.objects.driver === "s3" ? createS3Objects(env.objects) : createLocalObjects(env.objects));
  if (output === undefined || output === "") return { objects: envObjects(), prefix: OUTPUT_PREFIX };
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(output);
  if (s3) {
    const [, bucket, prefix] = s3 as unknown as [string, string, string];
    // The environment's S3 settings (region, endpoint) apply to other buckets of the same store.
    const settings = env.objects.driver === "s3" ? { region: env.objects.region, endpoint: env.objects.endpoint, forcePathStyle: env.objects.forcePathStyle } : { region: "us-west-2", forcePathStyle: false };
    return { objects: createS3Objects({ bucket, ...settings }), prefix: prefix.replace(/\/+$/, "") };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(output) && !/^file:\/\//i.test(output)) {
    throw new WorkerError("BAD_TASK", `--output ${output}: expected s3://bucket/prefix, file:///dir or a directory`);
  }
  const dir = path.resolve(/^file:\/\//i.test(output) ? decodeURIComponent(new URL(output).pathname) : output);
  return { objects: createLocalObjects({ root: path.dirname(dir), bucket: path.basename(dir) }), prefix: "" };
}

function positiveInt(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new WorkerError("BAD_TASK", `${flag} ${value}: expected a whole number from ${min} to ${max}`);
  return n;
}

/** Registers `piksel worker geomedian` (the command Kubernetes Jobs run, DESIGN.md 5 and 6). */
export function registerWorkerCommands(program: Command, deps: WorkerCommandDeps): void {
  const worker = program.command("worker").description("compute products (what the platform's Jobs run)");
  worker
    .command("geomedian")
    .description("compute one tile of the annual Sentinel-2 geomedian (gm_s2_annual): COGs, STAC item, EO3 document, indexed")
    .requiredOption("--env <env>", "environment whose ODC index and bucket to use")
    .requiredOption("--task <task>", "task id <period>/<x>/<y> as odc-stats writes it, e.g. 2024--P1Y/288/68")
    .option("--grid <grid>", "tile grid: global_10 (odc-stats' 96 km EPSG:6933 grid), global_10:<tile pixels>, or <epsg>;<res>;<pixels> (default: geomedian.grid of the configuration)")
    .option("--output <location>", "s3://bucket/prefix or a directory (default: the environment's bucket, under derived/)")
    .option("--overwrite", "recompute and replace a task that already finished", false)
    .option("--no-index", "write the outputs but do not index them")
    .option("--chunk <pixels>", "chunk side in pixels; memory per thread is about 40 B x chunk^2 x solar days", "256")
    .option("--threads <n>", "threads of the reduction (default: every CPU)")
    .option("--scratch <dir>", "directory for the tile's scratch rasters (default: the OS temp directory)")
    .option("--http-retries <n>", "retries of a source read on a transient HTTP error (429, 5xx, connection reset)", String(DEFAULT_READ_SETTINGS.httpRetries))
    .option("--http-retry-delay <seconds>", "delay before the first retry; GDAL doubles it (with jitter) after each", String(DEFAULT_READ_SETTINGS.httpRetryDelay))
    .option("--http-cache <MiB>", "cache of fetched source bytes; larger fetches blocks shared by neighbouring chunks fewer times", String(DEFAULT_READ_SETTINGS.httpCacheMiB))
    .action(
      deps.action(async (flags: GeomedianFlags) => {
        const config = deps.config();
        const env = config.environments.find((e) => e.name === flags.env);
        if (!env) throw new WorkerError("BAD_TASK", `--env ${flags.env}: no such environment (configured: ${config.environments.map((e) => e.name).join(", ")})`);
        let task;
        let grid;
        try {
          task = parseTaskId(flags.task);
          grid = parseGridSpec(flags.grid ?? config.geomedian.grid);
        } catch (err) {
          if (err instanceof GridError) throw new WorkerError("BAD_TASK", err.message);
          throw err;
        }
        const chunk = positiveInt("--chunk", flags.chunk, 16, 4096);
        const threads = flags.threads === undefined ? undefined : positiveInt("--threads", flags.threads, 1, 1024);
        const httpRetries = positiveInt("--http-retries", flags.httpRetries, 0, 20);
        const httpCacheMiB = positiveInt("--http-cache", flags.httpCache, 16, 65_536);
        const httpRetryDelay = Number(flags.httpRetryDelay);
        if (!/^\d+(\.\d+)?$/.test(flags.httpRetryDelay) || httpRetryDelay > 60) throw new WorkerError("BAD_TASK", `--http-retry-delay ${flags.httpRetryDelay}: expected seconds from 0 to 60`);
        const { objects, prefix } = outputLocation(env, flags.output);
        const log = deps.log.child({ component: "worker", task: formatTaskId(task), env: env.name });
        await deps.withDatabases(config, async () => {
          const index = createPostgresIndex(indexDatabaseUrl(config, env));
          try {
            const result = await runGeomedianTask({
              env: env.name,
              index,
              objects,
              prefix,
              grid,
              task,
              chunk,
              threads,
              overwrite: flags.overwrite,
              indexOutput: flags.index,
              scratchDir: flags.scratch,
              read: { httpRetries, httpRetryDelay, httpCacheMiB },
              // One JSON line per step: {stage, chunk, of, percent}, what the console parses.
              onProgress: (p) => log.info(p, "progress"),
              onInfo: (message, fields) => log.info(fields, message),
            });
            log.info({ status: result.status, id: result.id, uri: result.uri, sources: result.sources, days: result.days, indexed: result.indexed }, result.status === "done" ? "geomedian written" : "geomedian already there");
          } finally {
            await index.close();
          }
        });
      }),
    );
}
