import "server-only";
import type { Db } from "./db";
import { portNames, type EnvironmentPorts, type PortName } from "./ports";
import { withTimeout } from "./drivers/port";

export interface Probe {
  ok: boolean;
  /** What was found, or why it is not reachable. */
  detail: string;
  driver?: string;
  endpoint?: string;
}

export interface Readiness {
  ready: boolean;
  database: Probe;
  environments: Record<string, Record<PortName, Probe>>;
}

const probe = async (fn: () => Promise<string>): Promise<Probe> => {
  try {
    return { ok: true, detail: await fn() };
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
};

/** Checks the app database and every port of every environment, all at once. */
export async function checkReadiness(db: Db, ports: Map<string, EnvironmentPorts>): Promise<Readiness> {
  const database = probe(async () => {
    await withTimeout(db.$queryRaw`select 1`, 5000, "app database");
    return "app database reachable";
  });
  const environments = Object.fromEntries(
    await Promise.all(
      [...ports].map(async ([env, p]) => {
        const results = await Promise.all(
          portNames.map(async (name) => [name, { ...(await probe(() => p[name].check())), driver: p[name].driver, endpoint: p[name].endpoint }] as const),
        );
        return [env, Object.fromEntries(results) as Record<PortName, Probe>] as const;
      }),
    ),
  );
  const db1 = await database;
  const ready = db1.ok && Object.values(environments).every((e) => Object.values(e).every((p) => p.ok));
  return { ready, database: db1, environments };
}
