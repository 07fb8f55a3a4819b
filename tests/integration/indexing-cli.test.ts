import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import { Command } from "commander";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { registerIndexCommands } from "~/cli/index-command";
import type { PikselConfig } from "~/server/config";
import { createAppDatabase } from "../support/databases";
import { createEnvironments } from "../support/stac/environments";
import { generateItems } from "../support/stac/items";
import { startStacTestServer, type StacTestServer } from "../support/stac/server";

/** A stdout stand-in: what was written, and whether it claims to be a terminal. */
class Capture extends Writable {
  text = "";
  isTTY: boolean;
  columns = 120;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  _write(chunk: Buffer, _enc: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

let server: StacTestServer;
let envs: Awaited<ReturnType<typeof createEnvironments>>;
let app: Awaited<ReturnType<typeof createAppDatabase>>;
let config: PikselConfig;

beforeAll(async () => {
  server = await startStacTestServer({ items: generateItems(150, { tiles: 5 }), maxLimit: 100 });
  app = await createAppDatabase("indexing_cli");
  envs = await createEnvironments("cli", server.url);
  config = { ...envs.config, database: { url: app.url } };
});
afterAll(async () => {
  await envs?.drop();
  await app?.drop();
  await server?.close();
});
afterEach(() => {
  process.exitCode = undefined;
});

/** Runs `piksel <args>` in this process with the index commands registered as main.ts does. */
async function piksel(args: string[], opts: { tty?: boolean; signals?: EventEmitter } = {}) {
  const out = new Capture(opts.tty ?? false);
  const lines: Record<string, unknown>[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const program = new Command("piksel").exitOverride();
  registerIndexCommands(program, {
    action: (fn) => fn,
    config: () => config,
    withDatabases: (_c, fn) => fn(),
    log: pino({ level: "info" }, logStream),
    stdout: out as unknown as NodeJS.WriteStream,
    signals: opts.signals ?? new EventEmitter(),
  });
  let error: Error | undefined;
  try {
    await program.parseAsync(["node", "piksel", ...args]);
  } catch (err) {
    error = err as Error;
  }
  return { out: out.text, lines, error };
}

describe("piksel index migrate", () => {
  it("prints the SQL of a dry run and applies nothing", async () => {
    const r = await piksel(["index", "migrate", "--env", "dev", "--dry-run"]);
    expect(r.error).toBeUndefined();
    expect(r.out).toMatch(/^-- 0001_index_runs \(sha256 [0-9a-f]{64}\)\n-- The console's record/);
    expect(r.out).toContain("CREATE TABLE piksel.index_run (");
    const staging = await piksel(["index", "migrate", "--env", "staging", "--dry-run"]);
    expect(staging.out).toMatch(/^-- Would be refused now: 0001_index_runs cannot be applied to staging yet: apply it to dev first/);
  });

  it("applies in promotion order only", async () => {
    expect((await piksel(["index", "migrate", "--env", "staging"])).error?.message).toMatch(/^0001_index_runs cannot be applied to staging yet: apply it to dev first/);
    expect((await piksel(["index", "migrate", "--env", "dev"])).out).toBe("Applied 0001_index_runs to dev (audited).\nApplied 0002_coverage_summaries to dev (audited).\n");
    expect((await piksel(["index", "migrate", "--env", "dev"])).out).toBe("dev: no pending index migrations.\n");
    const audit = await app.db.auditEvent.findMany({ where: { action: "index.migration" }, orderBy: { id: "asc" } });
    expect(audit.map((a) => [a.environment, (a.detail as { outcome: string }).outcome])).toEqual([["staging", "refused"], ["dev", "applied"], ["dev", "applied"]]);
    expect(audit[1]!.actorEmail).toMatch(/^cli:.+@.+/);
  });
});

describe("piksel index coverage", () => {
  it("refreshes the summaries where migration 0002 is applied, and says what to do where it is not", async () => {
    // dev has both migrations from the test above; staging none.
    expect((await piksel(["index", "coverage", "--env", "dev"])).out).toMatch(/^dev: coverage rebuilt in \d+\.\d s: 0 datasets summarised, 0 day\/month\/year rows written\.\n$/);
    expect((await piksel(["index", "coverage", "--env", "dev"])).out).toMatch(/^dev: coverage refreshed in \d+\.\d s: 0 datasets changed since the last refresh/);
    expect((await piksel(["index", "coverage", "--env", "dev", "--rebuild"])).out).toMatch(/^dev: coverage rebuilt/);
    expect((await piksel(["index", "coverage", "--env", "staging"])).error?.message).toBe(
      "Index migration 0002_coverage_summaries is not applied to this index database: apply it first (Indexing page, or `piksel index migrate --env staging`).",
    );
  });
});

describe("piksel index", () => {
  it("refuses bad options with the option's name", async () => {
    expect((await piksel(["index"])).error?.message).toBe("--env <env> is required: one of dev, staging, prod");
    expect((await piksel(["index", "--env", "qa"])).error?.message).toBe("--env qa: no such environment; configured: dev, staging, prod");
    expect((await piksel(["index", "--env", "dev", "--bbox", "10,20,5,30"])).error?.message).toBe("--bbox 10,20,5,30: west < east and south < north");
    expect((await piksel(["index", "--env", "dev", "--datetime", "2024-13-45/2024-01-01"])).error?.message).toMatch(/^--datetime 2024-13-45\/2024-01-01: both ends must be dates/);
    expect((await piksel(["index", "--env", "dev", "--limit-pages", "0"])).error?.message).toMatch(/^--limit-pages 0:/);
  });

  it("writes JSON progress lines when not on a terminal", async () => {
    const r = await piksel(["index", "--env", "dev", "--limit-pages", "1"]);
    expect(r.error).toBeUndefined();
    const finished = r.lines.find((l) => l.msg === "indexing run finished");
    expect(finished).toMatchObject({ environment: "dev", status: "completed", items: 100, added: 100, resumable: true });
    expect(r.lines.some((l) => l.msg === "indexing progress")).toBe(true);
    expect(r.out).toBe("");
  });

  it("draws a progress line on a terminal with items/s, pages and ETA, and continues the unfinished search", async () => {
    const r = await piksel(["index", "--env", "dev"], { tty: true });
    expect(r.error).toBeUndefined();
    // The search had 150 items; the run before went through 100 of them.
    expect(r.out).toMatch(/\r\x1b\[2Kdev \[#{20}\] 100% \| 150\/150 items \| [\d,]+\/s \| 1 page \| ETA 0:00 \| 50 added, 0 updated, 0 skipped/);
    expect(r.out).toMatch(/\nRun \d+ completed in [\d.]+ s: 50 items \([\d,]+\/s\), 50 added, 0 updated, 0 skipped, 0 archived, 0 failed\.\n$/);
  });

  it("stops after the current batch on Ctrl-C, exits with 130, and the next run continues", async () => {
    const signals = new EventEmitter();
    // Ctrl-C while the second page is on its way.
    server.setFault(({ pageNo }) => {
      if (pageNo === 2) signals.emit("SIGINT");
      return undefined;
    });
    const r = await piksel(["index", "--env", "dev", "--datetime", "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z"], { tty: true, signals });
    server.setFault(undefined);
    expect(r.error).toBeUndefined();
    expect(process.exitCode).toBe(130);
    expect(r.out).toContain("Stopping after the current batch (Ctrl-C again to quit at once)…");
    expect(r.out).toMatch(/Run \d+ cancelled in [\d.]+ s: 100 items/);
    expect(r.out).toContain("The search is not finished: `piksel index --env dev` with the same scope continues it.");
    process.exitCode = undefined;
    const next = await piksel(["index", "--env", "dev", "--datetime", "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z"], { tty: true });
    expect(next.out).toMatch(/Run \d+ completed in [\d.]+ s: 50 items/);
  });
});
