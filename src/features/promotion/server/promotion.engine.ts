import "server-only";
import { getObserver } from "~/features/environments/server/observer";
import { getConfig } from "~/server/config";
import { getDb } from "~/server/db";
import { getLogger } from "~/server/logger";
import { getPorts } from "~/server/ports";
import { notifier } from "./notify";
import { advancePromotions } from "./promotion.service";

const holder = globalThis as unknown as { pikselEngine?: { stop(): void } };

/**
 * Runs in the console server: refreshes every environment's snapshot (on cluster watch events and
 * every few seconds as a safety net) and advances open promotions after each pass. Its first pass is
 * also the start-up reconciliation: approved promotions whose commit already reached git are found by
 * their Promotion-Id and recorded, never pushed twice.
 */
export function startPromotionEngine(intervalMs = 3000): void {
  if (holder.pikselEngine) return;
  const config = getConfig();
  const log = getLogger().child({ component: "promotion-engine" });
  const deps = { db: getDb(), config, ports: getPorts(), observer: getObserver(), log, notify: notifier(config, log) };
  let running = false;
  let again = false;
  const pass = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await deps.observer.refreshAll();
        await advancePromotions(deps);
      } while (again);
    } catch (err) {
      log.error({ err }, "engine pass failed");
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void pass(), intervalMs);
  timer.unref();
  const stops = [...deps.ports.values()].map((p) => p.cluster.watch(() => void pass()));
  void pass();
  holder.pikselEngine = { stop: () => (clearInterval(timer), stops.forEach((s) => s())) };
}
