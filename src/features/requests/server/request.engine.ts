import "server-only";
import type { Request } from "~/generated/prisma/client";
import { getObserver } from "~/features/environments/server/observer";
import { getConfig } from "~/server/config";
import { getDb } from "~/server/db";
import { getLogger } from "~/server/logger";
import { getPorts } from "~/server/ports";
import { submitJob, syncRequest, type RequestDeps } from "./request.service";

const holder = globalThis as unknown as { pikselRequestEngine?: RequestEngine };

/**
 * Drives product requests in the console server: submits those still `submitting` when their next
 * attempt is due (a cluster outage at submit time only delays them), and brings running ones up to
 * date on every Job or pod event of their environment, and every few seconds as a safety net. All
 * state is in the app database, so a restarted console picks up where it stopped.
 */
export class RequestEngine {
  private running = false;
  private again = false;
  private stops: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: RequestDeps) {}

  start(intervalMs = 2000): void {
    this.timer = setInterval(() => void this.pass(), intervalMs);
    this.timer.unref();
    for (const [environment, ports] of this.deps.ports) {
      this.stops.push(
        ports.cluster.watchJobs(
          {},
          () => void this.pass(),
          (err) => this.deps.log.debug({ environment, err: err.message }, "Job watch interrupted; retrying"),
        ),
      );
    }
    void this.pass();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.stops.forEach((s) => s());
    this.stops = [];
  }

  /** One pass over due submits and active requests; concurrent calls coalesce into one more pass. */
  async pass(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        const now = this.deps.now?.() ?? new Date();
        const due = await this.deps.db.request.findMany({ where: { state: "submitting", nextAttemptAt: { lte: now } }, orderBy: { requestedAt: "asc" }, take: 50 });
        for (const r of due) await this.guard(r, () => submitJob(this.deps, r));
        const active = await this.deps.db.request.findMany({ where: { state: { in: ["running", "cancelling"] } }, orderBy: { requestedAt: "asc" } });
        for (const r of active) await this.guard(r, () => syncRequest(this.deps, r));
      } while (this.again);
    } catch (err) {
      this.deps.log.error({ err }, "request engine pass failed");
    } finally {
      this.running = false;
    }
  }

  /** One request's failure (e.g. its cluster unreachable) never stops the others. */
  private async guard(request: Request, fn: () => Promise<void>) {
    try {
      await fn();
    } catch (err) {
      this.deps.log.warn({ request: request.id, environment: request.environment, err: err instanceof Error ? err.message : String(err) }, "request not updated this pass");
    }
  }
}

/** Starts the process-wide engine of the console server (once). */
export function startRequestEngine(): RequestEngine {
  if (!holder.pikselRequestEngine) {
    const deps: RequestDeps = { db: getDb(), config: getConfig(), ports: getPorts(), observer: getObserver(), log: getLogger().child({ component: "request-engine" }) };
    holder.pikselRequestEngine = new RequestEngine(deps);
    holder.pikselRequestEngine.start();
  }
  return holder.pikselRequestEngine;
}

/** Asks the running engine for a pass now (after a submit, cancel or retry), if there is one. */
export function nudgeRequestEngine(): void {
  void holder.pikselRequestEngine?.pass();
}
