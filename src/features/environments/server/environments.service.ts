import "server-only";
import type { PikselConfig } from "~/server/config";
import type { Db } from "~/server/db";
import { checkReadiness, type Readiness } from "~/server/health";
import { portNames, type EnvironmentPorts } from "~/server/ports";
import type { EnvironmentObserver } from "./observer";

/** An environment as the console shows it: position on the promotion path, scope, policy, drivers. */
export interface EnvironmentView {
  name: string;
  label: string;
  /** Index on the promotion path dev -> staging -> prod (configuration order). */
  position: number;
  scope: PikselConfig["environments"][number]["scope"];
  policy: { approvals: number; soakMinutes: number; requiredValidations: string[]; maxAoiKm2: Partial<Record<string, number>> };
  drivers: Record<string, { driver: string; endpoint: string }>;
}

/** The configured environments in promotion order. */
export function listEnvironments(config: PikselConfig, ports: Map<string, EnvironmentPorts>): EnvironmentView[] {
  return config.environments.map((e, position) => {
    const p = ports.get(e.name)!;
    return {
      name: e.name,
      label: e.label ?? e.name,
      position,
      scope: e.scope,
      policy: { approvals: e.policy.approvals, soakMinutes: e.policy.soakMinutes, requiredValidations: e.policy.requiredValidations, maxAoiKm2: e.policy.maxAoiKm2 },
      drivers: Object.fromEntries(portNames.map((n) => [n, { driver: p[n].driver, endpoint: p[n].endpoint }])),
    };
  });
}

/** Reachability of the app database and of each port of each environment. */
export function environmentsReadiness(db: Db, ports: Map<string, EnvironmentPorts>): Promise<Readiness> {
  return checkReadiness(db, ports);
}

/** The environments matrix: one row per image (component), one cell per environment, from the observer's snapshots. */
export async function environmentsMatrix(config: PikselConfig, observer: EnvironmentObserver) {
  // The first request after start-up waits for one read; afterwards the background refresh keeps it current.
  if (observer.all().length < config.environments.length) await observer.refreshAll();
  const snapshots = observer.all();
  const names = [...new Set(snapshots.flatMap((s) => s.images.map((i) => i.imageName)))].sort();
  const byEnv = new Map(snapshots.map((s) => [s.environment, new Map(s.images.map((i) => [i.imageName, i]))]));
  return {
    environments: config.environments.map((e, position) => {
      const s = observer.get(e.name);
      return { name: e.name, label: e.label ?? e.name, position, flux: s?.flux ?? null, head: s?.head ?? null, observedAt: s?.observedAt ?? null, problems: s?.problems ?? [] };
    }),
    rows: names.map((imageName) => ({ imageName, cells: Object.fromEntries(config.environments.map((e) => [e.name, byEnv.get(e.name)?.get(imageName) ?? null])) })),
  };
}
