import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { scopeOverrideInput, parseBboxText, type ScopeOverrideInput } from "~/features/indexing/indexing.schema";
import { coverageTablesExist, CoverageTablesMissing, refreshCoverage } from "~/features/coverage/server/summaries";
import { progressLine } from "~/features/indexing/progress-line";
import { runIndexing, type RunProgress, type RunResult } from "~/features/indexing/server/indexer.service";
import { runScope } from "~/features/indexing/server/indexing.service";
import { applyPendingMigrations, migrationDryRun } from "~/features/indexing/server/migrations.service";
import { failureSummaries } from "~/features/indexing/server/run-store";
import { appDatabaseUrl, indexDatabaseUrl, type EnvironmentConfig, type PikselConfig } from "~/server/config";
import { createDb } from "~/server/db";
import { createStacCatalog } from "~/server/drivers/catalog/stac";
import { createPostgresIndex } from "~/server/drivers/index/postgres";
import type { Logger } from "~/server/logger";
import { closeIndexDatabasePools, indexDatabasePool } from "~/server/odc/migrations/database";
import { appRoot } from "./paths";
import { assertDatabaseReachable } from "./platform";

/**
 * `piksel index`: STAC indexing of one environment (the CronJob in deploy/cronjob-index.yaml runs
 * it), and `piksel index migrate`: its index schema migrations. On a terminal a progress line shows
 * items/s, pages and the ETA; otherwise progress goes out as JSON log lines. Ctrl-C stops after the
 * current batch with a consistent index; the next run continues from there.
 */

export interface IndexCommandDeps {
  /** Runs a command body; an error becomes one line on stderr and exit code 1. */
  action: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>;
  /** Loads the configuration or exits with its one-line message. */
  config: () => PikselConfig;
  /** Runs fn with the embedded PostgreSQL up when the configuration needs it. */
  withDatabases: (config: PikselConfig, fn: () => Promise<void>) => Promise<void>;
  log: Logger;
  /** Where the progress line and reports go; default process.stdout. */
  stdout?: NodeJS.WriteStream;
  /** Where SIGINT and SIGTERM come from; default the process (tests pass their own emitter). */
  signals?: Pick<NodeJS.EventEmitter, "on" | "off">;
}

interface IndexOptions {
  env?: string;
  bbox?: string;
  datetime?: string;
  collections?: string;
  limitPages?: string;
  restart?: boolean;
}

/** Whoever runs the command, for run records and the audit log. */
const cliActor = () => `cli:${os.userInfo().username}@${os.hostname()}`;

function environmentOf(config: PikselConfig, name: string | undefined): EnvironmentConfig {
  const names = config.environments.map((e) => e.name).join(", ");
  if (!name) throw new Error(`--env <env> is required: one of ${names}`);
  const env = config.environments.find((e) => e.name === name);
  if (!env) throw new Error(`--env ${name}: no such environment; configured: ${names}`);
  return env;
}

/** The command line's scope overrides, judged by the same schema as the console's form. */
function overrides(o: IndexOptions): ScopeOverrideInput {
  const parsed = scopeOverrideInput.safeParse({
    bbox: o.bbox === undefined ? undefined : parseBboxText(o.bbox),
    datetime: o.datetime,
    collections: o.collections === undefined ? undefined : o.collections.split(",").map((c) => c.trim()).filter(Boolean),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`--${String(issue.path[0] ?? "scope")} ${o[issue.path[0] as keyof IndexOptions] ?? ""}: ${issue.message}`);
  }
  return parsed.data;
}

function pageLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new Error(`--limit-pages ${text}: expected a whole number of pages, at least 1`);
  return Number(text);
}

export function registerIndexCommands(program: Command, deps: IndexCommandDeps): Command {
  const out = deps.stdout ?? process.stdout;
  const signals = deps.signals ?? process;
  const index = program
    .command("index")
    .description("index STAC items into an environment's ODC index, within its configured scope")
    .option("--env <env>", "the environment (required)")
    .option("--bbox <w,s,e,n>", "instead of the configured bbox, in degrees")
    .option("--datetime <a/b>", "instead of the configured time range (RFC 3339 interval, .. for open)")
    .option("--collections <c1,c2>", "instead of the configured collections")
    .option("--limit-pages <n>", "stop after n pages (the next run of the same scope continues)")
    .option("--restart", "start the search over instead of continuing an unfinished run", false)
    .action(
      deps.action(async (o: IndexOptions) => {
        const c = deps.config();
        const env = environmentOf(c, o.env);
        const scope = runScope(env.scope, overrides(o));
        const limitPages = pageLimit(o.limitPages);
        // Progress line on a terminal; JSON log lines otherwise (a CronJob's log, a pipe).
        const tty = Boolean(out.isTTY) && !process.env.PIKSEL_LOG_JSON;
        // Only errors from the run's own log on a terminal: anything else would tear the progress line.
        const log = tty ? deps.log.child({}, { level: "error" }) : deps.log;
        const trigger = process.env.PIKSEL_RUN_TRIGGER === "schedule" ? "schedule" : "cli";
        let result: RunResult | undefined;
        await deps.withDatabases(c, async () => {
          const url = indexDatabaseUrl(c, env);
          // The two ports this command needs, built as src/server/ports.ts builds them.
          const indexPort = createPostgresIndex(url);
          const catalog = createStacCatalog(env.catalog);
          const db = indexDatabasePool(url);
          const controller = new AbortController();
          let interrupts = 0;
          const onSigint = () => {
            interrupts++;
            if (interrupts > 1) {
              // The batch in flight is one transaction: the server rolls it back when we go.
              out.write("\n");
              process.exit(130);
            }
            controller.abort(new Error("interrupted"));
            out.write(tty ? "\nStopping after the current batch (Ctrl-C again to quit at once)…\n" : "");
            if (!tty) deps.log.warn({ environment: env.name }, "interrupted: stopping after the current batch");
          };
          signals.on("SIGINT", onSigint);
          signals.on("SIGTERM", onSigint);
          let lastDraw = 0;
          const draw = (p: RunProgress, force = false) => {
            const now = performance.now();
            if (!force && now - lastDraw < (tty ? 100 : 2000)) return;
            lastDraw = now;
            if (tty) out.write(`\r\x1b[2K${progressLine({ ...p, environment: env.name }, out.columns ?? 100)}`);
            else deps.log.info({ environment: env.name, runId: p.runId, pages: p.pages, items: p.items, itemsBefore: p.itemsBefore, numberMatched: p.numberMatched, added: p.added, updated: p.updated, skipped: p.skipped, archived: p.archived, failed: p.failed, retries: p.retries, itemsPerSecond: Math.round(p.itemsPerSecond), etaSeconds: p.etaSeconds === null ? null : Math.round(p.etaSeconds) }, "indexing progress");
          };
          try {
            result = await runIndexing(
              { index: indexPort, catalog, db, log },
              { environment: env.name, scope, trigger, startedBy: cliActor(), limitPages, restart: o.restart },
              { signal: controller.signal, onProgress: (p) => draw(p) },
            );
            draw(result, true);
            if (tty) out.write("\n");
            await report(result, db, env.name, tty);
          } finally {
            signals.off("SIGINT", onSigint);
            signals.off("SIGTERM", onSigint);
            await indexPort.close();
            await closeIndexDatabasePools();
          }
        });
        if (result?.status === "failed") throw new Error(`indexing ${env.name} failed: ${result.error}. The next run continues from the last committed page.`);
        if (result?.status === "cancelled") process.exitCode = 130;
      }),
    );

  /** What the run did, in words on a terminal; on a log, the failures by problem. */
  async function report(r: RunResult, db: ReturnType<typeof indexDatabasePool>, environment: string, tty: boolean) {
    const failures = (await failureSummaries(db, [r.runId])).get(r.runId) ?? [];
    if (!tty) {
      // The run has logged its counters; what it could not index is added here.
      if (failures.length > 0) deps.log.warn({ environment, runId: r.runId, failures }, "items that could not be indexed, by problem");
      return;
    }
    const lines = [
      `Run ${r.runId} ${r.status} in ${(r.elapsedMs / 1000).toFixed(1)} s: ${r.items.toLocaleString("en-US")} items (${Math.round(r.itemsPerSecond).toLocaleString("en-US")}/s), ${r.added} added, ${r.updated} updated, ${r.skipped} skipped, ${r.archived} archived, ${r.failed} failed.`,
      ...failures.slice(0, 5).map((f) => `  ${f.count} × ${f.problem}: ${f.example}`),
    ];
    if (r.resumable && r.status !== "failed") lines.push(`The search is not finished: \`piksel index --env ${environment}\` with the same scope continues it.`);
    out.write(`${lines.join("\n")}\n`);
  }

  index
    .command("migrate")
    .description("apply the pending index schema migrations to the environment given by `piksel index --env` (promotion order: each must be applied to the environment before it first)")
    .usage("--env <env> [--dry-run]")
    .option("--dry-run", "print the SQL that would run, without running it", false)
    .action(
      deps.action(async (o: { dryRun: boolean }, cmd: Command) => {
        const c = deps.config();
        const env = environmentOf(c, (cmd.optsWithGlobals() as IndexOptions).env);
        const migrationsDir = path.join(appRoot(), "index-migrations");
        await deps.withDatabases(c, async () => {
          try {
            if (o.dryRun) {
              const dry = await migrationDryRun({ config: c, log: deps.log, migrationsDir }, { environment: env.name });
              if (dry.migrations.length === 0) {
                out.write(`-- ${env.name}: no pending index migrations.\n`);
                return;
              }
              if (dry.refusal) out.write(`-- Would be refused now: ${dry.refusal}\n\n`);
              for (const m of dry.migrations) out.write(`-- ${m.name} (sha256 ${m.checksum})\n${m.sql.trimEnd()}\n\n`);
              return;
            }
            const appUrl = appDatabaseUrl(c);
            // Every apply is audited: no audit log, no apply.
            await assertDatabaseReachable(appUrl);
            const db = createDb(appUrl);
            try {
              const applied = await applyPendingMigrations({ db, config: c, log: deps.log, migrationsDir }, { email: cliActor() }, env.name);
              out.write(applied.length === 0 ? `${env.name}: no pending index migrations.\n` : applied.map((a) => `Applied ${a.name} to ${env.name} (audited).\n`).join(""));
            } finally {
              await db.$disconnect();
            }
          } finally {
            await closeIndexDatabasePools();
          }
        });
      }),
    );
  index
    .command("coverage")
    .description("bring the coverage summaries of the environment given by `piksel index --env` up to date (the indexer does after each run), or rebuild them")
    .usage("--env <env> [--rebuild]")
    .option("--rebuild", "recompute every summary from the index instead of only what changed since the last refresh", false)
    .action(
      deps.action(async (o: { rebuild: boolean }, cmd: Command) => {
        const c = deps.config();
        const env = environmentOf(c, (cmd.optsWithGlobals() as IndexOptions).env);
        await deps.withDatabases(c, async () => {
          try {
            const db = indexDatabasePool(indexDatabaseUrl(c, env));
            if (!(await coverageTablesExist(db))) throw new Error(new CoverageTablesMissing().message.replace("<env>", env.name));
            const r = await refreshCoverage(db, { rebuild: o.rebuild });
            out.write(
              `${env.name}: coverage ${r.mode === "rebuild" ? "rebuilt" : "refreshed"} in ${(r.ms / 1000).toFixed(1)} s: ${r.changed.toLocaleString("en-US")} datasets ${r.mode === "rebuild" ? "summarised" : "changed since the last refresh"}, ${r.periods.toLocaleString("en-US")} day/month/year rows written.\n`,
            );
          } finally {
            await closeIndexDatabasePools();
          }
        });
      }),
    );
  return index;
}
