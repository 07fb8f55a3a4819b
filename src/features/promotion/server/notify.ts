import "server-only";
import type { PikselConfig } from "~/server/config";
import type { Logger } from "~/server/logger";

/** A Slack-compatible webhook poster for promotion events, or undefined when none is configured. */
export function notifier(config: PikselConfig, log: Logger): ((text: string) => Promise<void>) | undefined {
  const url = config.notifications.webhookUrl;
  if (!url) return undefined;
  return async (text) => {
    try {
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text }), signal: AbortSignal.timeout(5000) });
      if (!res.ok) log.warn({ status: res.status }, "promotion webhook refused the event");
    } catch (err) {
      log.warn({ err }, "promotion webhook unreachable");
    }
  };
}
