import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backgroundRun } from "~/features/indexing/server/indexing.service";
import { applyPendingMigrations } from "~/features/indexing/server/migrations.service";
import type { Role } from "~/lib/roles";
import { createLogger } from "~/server/logger";
import { createEnvironmentPorts, type EnvironmentPorts } from "~/server/ports";
import type { Context } from "~/server/trpc/init";
import { createCaller } from "~/server/trpc/root";
import { createAppDatabase } from "../support/databases";
import { createEnvironments } from "../support/stac/environments";
import { broken, generateItems } from "../support/stac/items";
import { startStacTestServer, type StacTestServer } from "../support/stac/server";

const log = createLogger({ level: "silent" });
const items = generateItems(120, { tiles: 6 });

let app: Awaited<ReturnType<typeof createAppDatabase>>;
let envs: Awaited<ReturnType<typeof createEnvironments>>;
let server: StacTestServer;
let ports: Map<string, EnvironmentPorts>;

function caller(role: Role) {
  const ctx: Context = { db: app.db, config: envs.config, ports, log, user: { id: `u-${role}`, email: `${role}@test.local`, name: role, role }, headers: new Headers() };
  return createCaller(ctx);
}
const code = (p: Promise<unknown>) => p.then(() => "OK", (e: unknown) => (e instanceof TRPCError ? e.code : Promise.reject(e)));

beforeAll(async () => {
  server = await startStacTestServer({ items: [...items, broken.withoutGeometry(items[0]!)].slice(1), maxLimit: 100 });
  app = await createAppDatabase("indexing_console");
  envs = await createEnvironments("console", server.url);
  ports = new Map(envs.config.environments.map((e) => [e.name, createEnvironmentPorts(envs.config, e)]));
});
afterAll(async () => {
  for (const p of ports?.values() ?? []) await p.index.close();
  await envs?.drop();
  await app?.drop();
  await server?.close();
});

describe("the Indexing page's procedures", () => {
  it("shows each environment's scope and an empty index before anything is indexed", async () => {
    const overview = await caller("viewer").indexing.overview();
    expect(overview.map((e) => e.environment)).toEqual(["dev", "staging", "prod"]);
    expect(overview[0]).toMatchObject({ reachable: true, runTables: false, products: [], catalog: server.url, scope: { bbox: [-20, 15, 10, 25], collections: ["sentinel-2-l2a"] } });
    const runs = await caller("viewer").indexing.runs();
    expect(runs[0]).toMatchObject({ environment: "dev", unavailable: expect.stringContaining("0001_index_runs"), runs: [] });
  });

  it("refuses a run until index migration 0001 is applied (PRECONDITION_FAILED), and runs for viewers not at all", async () => {
    expect(await code(caller("admin").indexing.startRun({ environment: "dev" }))).toBe("PRECONDITION_FAILED");
    expect(await code(caller("approver").indexing.startRun({ environment: "dev" }))).toBe("FORBIDDEN");
    expect(await code(caller("admin").indexing.startRun({ environment: "nowhere" }))).toBe("NOT_FOUND");
  });

  it("runs indexing in the background, one run per environment, and audits the start", async () => {
    await applyPendingMigrations({ db: app.db, config: envs.config, log }, { email: "admin@test.local" }, "dev");
    // Hold the second page back so that the run is still going when the second start arrives.
    server.setFault(({ pageNo, attempt }) => (pageNo === 2 && attempt === 1 ? { status: 503, retryAfter: "1" } : undefined));
    const { runId, resumedFrom } = await caller("admin").indexing.startRun({ environment: "dev", datetime: "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z" });
    expect(resumedFrom).toBeNull();
    expect(await code(caller("admin").indexing.startRun({ environment: "dev" }))).toBe("CONFLICT");
    const live = await caller("viewer").indexing.runs();
    expect(live[0]!.runs[0]).toMatchObject({ id: runId, status: "running", alive: true, trigger: "console", startedBy: "admin@test.local" });

    await backgroundRun("dev")!.finished;
    server.setFault(undefined);
    const done = (await caller("viewer").indexing.runs())[0]!.runs[0]!;
    expect(done).toMatchObject({ id: runId, status: "completed", alive: false, items: 120, added: 119, failed: 1, retries: 1, failures: [{ problem: "missing-geometry", count: 1, example: expect.stringContaining("has no geometry") }] });
    const failures = await caller("viewer").indexing.failures({ environment: "dev", runId });
    expect(failures).toMatchObject([{ itemId: items[0]!.id, problem: "missing-geometry" }]);
    const audit = await app.db.auditEvent.findMany({ where: { action: "index.run" } });
    expect(audit).toMatchObject([{ actorEmail: "admin@test.local", environment: "dev", subjectType: "index-run", subjectId: String(runId), detail: { event: "start", scope: { datetime: "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z" } } }]);
  });

  it("shows products with dataset count, time range and the latest dataset", async () => {
    const dev = (await caller("viewer").indexing.overview())[0]!;
    expect(dev.runTables).toBe(true);
    const s2 = dev.products.find((p) => p.product === "s2_l2a")!;
    const times = items.slice(1).map((i) => i.properties.datetime as string).sort();
    expect(s2).toMatchObject({ datasets: 119, from: new Date(times[0]!), to: new Date(times.at(-1)!) });
    expect(s2.latest).toMatchObject({ time: new Date(times.at(-1)!), regionCode: expect.stringMatching(/^(31|28)Q/) });
  });

  it("cancels a running run; it can be continued later", async () => {
    server.setFault(({ pageNo, attempt }) => (pageNo === 2 && attempt === 1 ? { status: 503, retryAfter: "30" } : undefined));
    const { runId } = await caller("admin").indexing.startRun({ environment: "dev", restart: true, limitPages: 5 });
    await expect.poll(() => server.requests.length, { timeout: 10_000 }).toBeGreaterThan(1);
    expect(await code(caller("viewer").indexing.cancelRun({ environment: "dev", runId }))).toBe("FORBIDDEN");
    expect(await caller("admin").indexing.cancelRun({ environment: "dev", runId })).toEqual({ runId, state: "cancelling" });
    await backgroundRun("dev")?.finished;
    server.setFault(undefined);
    const run = (await caller("viewer").indexing.runs())[0]!.runs[0]!;
    expect(run).toMatchObject({ id: runId, status: "cancelled", resumable: true });
    expect(await code(caller("admin").indexing.cancelRun({ environment: "dev", runId }))).toBe("CONFLICT");
    const audit = await app.db.auditEvent.findMany({ where: { action: "index.run", subjectId: String(runId) }, orderBy: { id: "asc" } });
    expect(audit.map((a) => (a.detail as { event: string }).event)).toEqual(["start", "cancel"]);
  });
});
