import "server-only";
import type { PikselConfig } from "~/server/config";
import type { Db } from "~/server/db";
import { checkReadiness, type Readiness } from "~/server/health";
import { portNames, type EnvironmentPorts } from "~/server/ports";

/** An environment as the console shows it: position on the promotion path, scope, policy, drivers. */
export interface EnvironmentView {
  name: string;
  label: string;
  /** Index on the promotion path dev -> staging -> prod (configuration order). */
  position: number;
  scope: PikselConfig["environments"][number]["scope"];
  policy: { approvals: number; soakMinutes: number; requiredValidations: string[]; maxAoiKm2: number };
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
