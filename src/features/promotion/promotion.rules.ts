/**
 * The promotion rules as pure functions (the service feeds them what it read). Kargo's semantics on
 * Flux (REFERENCE.md F): the identity of an image is its digest; a digest enters an environment only
 * when verified upstream; "deployed" means Flux applied a revision containing the change AND the pods
 * run the digest.
 */

export interface FluxLike {
  generation: number;
  observedGeneration: number;
  suspended: boolean;
  lastAppliedRevision: string | null;
  lastAttemptedRevision: string | null;
  conditions: { type: string; status: string; reason: string; message: string }[];
}

export type FluxState = "ready" | "reconciling" | "failed" | "suspended" | "unknown";

const condition = (flux: FluxLike, type: string) => flux.conditions.find((c) => c.type === type);

/** Flux's state in one word, with its message (what the environments matrix shows). */
export function fluxState(flux: FluxLike | null): { state: FluxState; message: string } {
  if (!flux) return { state: "unknown", message: "No Flux Kustomization found for this environment." };
  if (flux.suspended) return { state: "suspended", message: "Reconciliation is suspended (spec.suspend)." };
  const ready = condition(flux, "Ready");
  const stalled = condition(flux, "Stalled");
  if (stalled?.status === "True") return { state: "failed", message: stalled.message || stalled.reason };
  if (ready?.status === "False") return { state: "failed", message: ready.message || ready.reason };
  if (condition(flux, "Reconciling")?.status === "True" || ready?.status === "Unknown" || flux.observedGeneration !== flux.generation) {
    return { state: "reconciling", message: ready?.message || "Reconciliation in progress." };
  }
  if (ready?.status === "True") return { state: "ready", message: ready.message };
  return { state: "unknown", message: "Flux has not reported a Ready condition yet." };
}

/**
 * Whether a change is deployed, per REFERENCE.md F: Ready=True, observedGeneration == generation, not
 * reconciling, Healthy=True (when present: spec.wait), the applied revision contains the change's
 * commit, and every pod of the image runs the digest. Returns the unmet conditions.
 */
export function deployedUnmet(input: {
  flux: FluxLike | null;
  /** Whether lastAppliedRevision contains the commit that set the digest (the caller asks git). */
  appliedContainsCommit: boolean;
  digest: string;
  /** Digests the image's pods run (one per container instance). */
  runningDigests: (string | null)[];
}): string[] {
  const unmet: string[] = [];
  const { flux } = input;
  if (!flux) return ["Flux Kustomization not found"];
  if (flux.suspended) unmet.push("Flux reconciliation is suspended");
  const ready = condition(flux, "Ready");
  if (ready?.status !== "True") unmet.push(`Flux is not Ready${ready ? ` (${ready.reason}: ${ready.message})` : ""}`);
  if (flux.observedGeneration !== flux.generation) unmet.push("Flux has not observed the latest generation");
  if (condition(flux, "Reconciling")?.status === "True") unmet.push("Flux is still reconciling");
  const healthy = condition(flux, "Healthy");
  if (healthy && healthy.status !== "True") unmet.push(`Flux health checks have not passed (${healthy.reason})`);
  if (!input.appliedContainsCommit) unmet.push("the applied revision does not contain the commit yet");
  if (input.runningDigests.length === 0) unmet.push("no pod runs the image");
  else if (input.runningDigests.some((d) => d !== input.digest)) unmet.push(`not every pod runs ${input.digest.slice(0, 19)}`);
  return unmet;
}

export interface EnvironmentPolicy {
  approvals: number;
  soakMinutes: number;
  requiredValidations: string[];
  freezes: { from: string; to: string; reason: string }[];
}

export interface PromotionChecks {
  kind: "promote" | "rollback";
  digest: string;
  now: Date;
  /** Promote: the source environment's overlay holds this digest at its head. */
  sourceOverlayHasDigest?: boolean;
  /** Promote: unmet "deployed" conditions of the digest in the source environment (deployedUnmet). */
  sourceDeployedUnmet?: string[];
  /** Promote: when the digest was first seen deployed in the source environment. */
  sourceDeployedSince?: Date | null;
  sourcePolicy?: EnvironmentPolicy;
  sourceName?: string;
  /** Validations recorded for the digest in the source environment, latest per name. */
  sourceValidations?: { name: string; passed: boolean }[];
  /** Rollback: the digest ran in the target environment before. */
  ranInTargetBefore?: boolean;
  targetCurrentDigest: string | null;
}

/** Every unmet condition of a promotion request (empty = it may be requested). */
export function promotionUnmet(c: PromotionChecks): string[] {
  const unmet: string[] = [];
  if (c.targetCurrentDigest === c.digest) unmet.push("the target environment already runs this digest");
  if (c.kind === "rollback") {
    if (!c.ranInTargetBefore) unmet.push("a rollback must name a digest that was deployed in this environment before");
    return unmet;
  }
  const src = c.sourceName ?? "the source environment";
  if (!c.sourceOverlayHasDigest) unmet.push(`${src}'s overlay does not hold this digest at its head`);
  for (const u of c.sourceDeployedUnmet ?? []) unmet.push(`not deployed in ${src}: ${u}`);
  const soak = c.sourcePolicy?.soakMinutes ?? 0;
  if (soak > 0) {
    const since = c.sourceDeployedSince;
    const minutes = since ? (c.now.getTime() - since.getTime()) / 60_000 : 0;
    if (!since || minutes < soak) unmet.push(`soak time in ${src}: ${Math.floor(minutes)} of ${soak} minutes`);
  }
  for (const name of c.sourcePolicy?.requiredValidations ?? []) {
    const v = c.sourceValidations?.find((x) => x.name === name);
    if (!v) unmet.push(`validation "${name}" has not been recorded in ${src}`);
    else if (!v.passed) unmet.push(`validation "${name}" failed in ${src}`);
  }
  return unmet;
}

/** The freeze window of an environment in force at `now`, if any. */
export function activeFreeze(policy: Pick<EnvironmentPolicy, "freezes">, now: Date) {
  return policy.freezes.find((f) => new Date(f.from) <= now && now < new Date(f.to));
}
