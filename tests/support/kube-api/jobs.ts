import { randomBytes } from "node:crypto";
import type { KubeObject, StoredEvent } from "./store";

/**
 * A Job controller and a kubelet for the test API server, so that Indexed Jobs run as they do on a
 * cluster: the controller creates the pods of each index and keeps the Job's status, the kubelet
 * runs each pod the way a test scripted it (exit code, log lines, held until released, disrupted).
 *
 * The controller follows pkg/controller/job (job_controller.go syncJob, indexed_job_utils.go,
 * pod_failure_policy.go) for Indexed Jobs, the mode product requests use:
 * - pods `<job>-<index>-<random>` with the completion index as annotation and label, the per-index
 *   failure counts as annotations (`job-index-failure-count`, `job-index-ignored-failure-count`),
 *   JOB_COMPLETION_INDEX injected unless the container declares it, hostname `<job>-<index>`;
 * - lowest pending indexes first, at most `parallelism` active, a replacement only once its
 *   predecessor has terminated (podReplacementPolicy Failed);
 * - the pod failure policy (FailJob, FailIndex, Ignore, Count; exit codes of terminated containers,
 *   non-zero only; pod conditions), backoffLimitPerIndex, maxFailedIndexes, backoffLimit for
 *   non-per-index Jobs, activeDeadlineSeconds;
 * - status: active, ready, failed, succeeded, completedIndexes, failedIndexes (set when
 *   backoffLimitPerIndex is), startTime, completionTime; conditions as since Kubernetes 1.31:
 *   FailureTarget then, once no pod is active, Failed (reasons BackoffLimitExceeded,
 *   DeadlineExceeded, PodFailurePolicy, MaxFailedIndexesExceeded, FailedIndexes), or
 *   SuccessCriteriaMet then Complete (reason CompletionsReached).
 * Not modelled: the exponential backoff before a replacement (10 s doubling; here none, or
 * `replacementDelayMs`), tracking finalizers and uncountedTerminatedPods, suspend, NonIndexed
 * Jobs, success policies, the TTL controller.
 */

export interface PodScript {
  /** Exit code of the worker container; default 0. */
  exitCode?: number;
  /** Written to the container's log while it runs. */
  lines?: string[];
  /** Keep running until kubelet.finish() (or the pod is deleted). */
  hold?: boolean;
  /** End as a disruption: DisruptionTarget=True (reason TerminationByKubelet), exit code 137. */
  disruption?: boolean;
}

export interface Kubelet {
  /** How the attempts of one index end, in order (the last one repeats). Set it before the pods start. */
  script(namespace: string, job: string, index: number, attempts: PodScript[]): void;
  /** What pods without a script do; default: log "task <index> done" and exit 0. */
  setDefault(script: PodScript): void;
  /** Ends a pod held running (hold: true). */
  finish(namespace: string, pod: string, outcome: Omit<PodScript, "hold">): void;
}

export interface JobControllerHost {
  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  list(kind: string, namespace?: string): KubeObject[];
  create(obj: KubeObject): KubeObject;
  replace(obj: KubeObject): KubeObject;
  remove(kind: string, namespace: string, name: string): void;
  subscribe(listener: (event: StoredEvent) => void): () => void;
  appendLog(namespace: string, pod: string, container: string, text: string): void;
}

export interface JobControllerOptions {
  /** Time between a pod's steps (Pending -> Running -> terminated); default 5 ms. */
  stepMs?: number;
  /** Delay before a failed index's replacement pod; default 0 (Kubernetes: 10 s doubling, capped). */
  replacementDelayMs?: number;
}

const keys = {
  index: "batch.kubernetes.io/job-completion-index",
  failures: "batch.kubernetes.io/job-index-failure-count",
  ignored: "batch.kubernetes.io/job-index-ignored-failure-count",
  jobName: "batch.kubernetes.io/job-name",
  uid: "batch.kubernetes.io/controller-uid",
};

type Json = Record<string, unknown>;
interface Rule {
  action: string;
  onExitCodes?: { containerName?: string; operator: string; values: number[] };
  onPodConditions?: { type: string; status?: string }[];
}
interface ContainerStatus {
  name: string;
  state?: { running?: Json; terminated?: { exitCode: number } };
}
interface PodStatus {
  phase?: string;
  conditions?: { type: string; status: string }[];
  containerStatuses?: ContainerStatus[];
}
interface JobSpec {
  completions?: number;
  parallelism?: number;
  completionMode?: string;
  backoffLimit?: number;
  backoffLimitPerIndex?: number;
  maxFailedIndexes?: number;
  activeDeadlineSeconds?: number;
  suspend?: boolean;
  podFailurePolicy?: { rules: Rule[] };
  template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: { containers: { name: string; image: string; env?: { name: string }[] }[] } & Json };
}
interface JobStatus {
  conditions?: { type: string; status: string; reason?: string; message?: string; lastProbeTime?: string; lastTransitionTime?: string }[];
  startTime?: string;
  completionTime?: string;
  [key: string]: unknown;
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");
const podStatus = (p: KubeObject) => (p.status ?? {}) as PodStatus;
const indexOf = (p: KubeObject) => Number(p.metadata.annotations?.[keys.index] ?? -1);
const count = (p: KubeObject, key: string) => Number(p.metadata.annotations?.[key] ?? 0) || 0;
const active = (p: KubeObject) => !["Succeeded", "Failed"].includes(podStatus(p).phase ?? "");

function parseIndexes(text: string | undefined): Set<number> {
  const out = new Set<number>();
  for (const part of (text ?? "").split(",").filter(Boolean)) {
    const [a, b] = part.split("-").map(Number);
    for (let i = a!; i <= (b ?? a!); i++) out.add(i);
  }
  return out;
}

function formatIndexes(set: Set<number>): string {
  const sorted = [...set].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j === i ? `${sorted[i]}` : j === i + 1 ? `${sorted[i]},${sorted[j]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** pod_failure_policy.go matchPodFailurePolicy: the first matching rule, or none. */
function matchRule(rules: Rule[] | undefined, pod: KubeObject): Rule | undefined {
  const status = podStatus(pod);
  for (const rule of rules ?? []) {
    if (rule.onExitCodes) {
      const req = rule.onExitCodes;
      const hit = (status.containerStatuses ?? []).some((c) => {
        const code = c.state?.terminated?.exitCode;
        if (code === undefined || code === 0 || (req.containerName && req.containerName !== c.name)) return false;
        return req.operator === "In" ? req.values.includes(code) : !req.values.includes(code);
      });
      if (hit) return rule;
    } else if (rule.onPodConditions?.some((p) => (status.conditions ?? []).some((c) => c.type === p.type && c.status === (p.status ?? "True")))) {
      return rule;
    }
  }
  return undefined;
}

export function startJobController(host: JobControllerHost, opts: JobControllerOptions = {}): { kubelet: Kubelet; stop(): void } {
  const stepMs = opts.stepMs ?? 5;
  const scripts = new Map<string, PodScript[]>();
  let defaultScript: PodScript = {};
  const timers = new Set<NodeJS.Timeout>();
  const pendingSyncs = new Set<string>();
  let stopped = false;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    t.unref();
    timers.add(t);
    return t;
  };

  /** One sync per Job at a time, like the controller's work queue; `delayMs` is its AddAfter (one per Job). */
  const delayed = new Map<string, NodeJS.Timeout>();
  function scheduleSync(namespace: string, name: string, delayMs = 0) {
    const key = `${namespace}/${name}`;
    if (delayMs > 0) {
      clearTimeout(delayed.get(key));
      delayed.set(key, later(delayMs, () => scheduleSync(namespace, name)));
      return;
    }
    if (pendingSyncs.has(key)) return;
    pendingSyncs.add(key);
    later(0, () => {
      pendingSyncs.delete(key);
      sync(namespace, name);
    });
  }

  const ownedBy = (job: KubeObject) => host.list("Pod", job.metadata.namespace).filter((p) => p.metadata.ownerReferences?.some((o) => o.uid === job.metadata.uid));

  function setCondition(status: JobStatus, type: string, reason: string, message: string) {
    status.conditions = [...(status.conditions ?? []).filter((c) => c.type !== type), { type, status: "True", reason, message, lastProbeTime: now(), lastTransitionTime: now() }];
  }
  const hasCondition = (status: JobStatus, type: string) => status.conditions?.some((c) => c.type === type && c.status === "True");

  function createPod(job: KubeObject, spec: JobSpec, index: number, previous: KubeObject | undefined) {
    let failures = 0;
    let ignored = 0;
    if (previous) {
      // indexed_job_utils.go getNewIndexFailureCounts: the replaced pod's counts plus its own failure.
      failures = count(previous, keys.failures);
      ignored = count(previous, keys.ignored);
      if (matchRule(spec.podFailurePolicy?.rules, previous)?.action === "Ignore") ignored++;
      else failures++;
    }
    const template = structuredClone(spec.template);
    const name = job.metadata.name;
    const containers = template.spec.containers.map((c) => ({
      ...c,
      env: c.env?.some((e) => e.name === "JOB_COMPLETION_INDEX") ? c.env : [...(c.env ?? []), { name: "JOB_COMPLETION_INDEX", valueFrom: { fieldRef: { fieldPath: `metadata.labels['${keys.index}']` } } }],
    }));
    host.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: `${name}-${index}-${randomBytes(3).toString("hex").slice(0, 5)}`,
        generateName: `${name}-${index}-`,
        namespace: job.metadata.namespace,
        labels: { ...template.metadata?.labels, [keys.index]: String(index), [keys.jobName]: name, [keys.uid]: job.metadata.uid! },
        annotations: { ...template.metadata?.annotations, [keys.index]: String(index), [keys.failures]: String(failures), ...(ignored ? { [keys.ignored]: String(ignored) } : {}) },
        ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name, uid: job.metadata.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec: { ...template.spec, containers, hostname: `${name}-${index}` },
      status: { phase: "Pending", qosClass: "Burstable" },
    });
  }

  function sync(namespace: string, name: string) {
    const job = host.get("Job", namespace, name);
    if (!job || job.metadata.deletionTimestamp) return;
    const spec = job.spec as JobSpec;
    if (spec.completionMode !== "Indexed" || spec.suspend) return;
    const status: JobStatus = structuredClone((job.status ?? {}) as JobStatus);
    if (hasCondition(status, "Complete") || hasCondition(status, "Failed")) return;
    const before = JSON.stringify(status);
    status.startTime ??= now();
    const completions = spec.completions ?? 0;
    const perIndex = spec.backoffLimitPerIndex !== undefined;
    const pods = ownedBy(job);
    const completed = parseIndexes(status.completedIndexes as string | undefined);
    const failedIndexes = parseIndexes(status.failedIndexes as string | undefined);
    let counted = 0;
    let failure: { reason: string; message: string } | undefined;
    for (const pod of pods) {
      const ix = indexOf(pod);
      if (ix < 0 || ix >= completions) continue;
      const phase = podStatus(pod).phase;
      if (phase === "Succeeded") completed.add(ix);
      if (phase !== "Failed") continue;
      const rule = matchRule(spec.podFailurePolicy?.rules, pod);
      if (rule?.action !== "Ignore") counted++;
      if (rule?.action === "FailJob") failure ??= { reason: "PodFailurePolicy", message: `Container ${podStatus(pod).containerStatuses?.[0]?.name} for pod ${namespace}/${pod.metadata.name} failed with exit code matching FailJob rule` };
      if (perIndex && (rule?.action === "FailIndex" || (rule?.action !== "Ignore" && count(pod, keys.failures) >= spec.backoffLimitPerIndex!))) failedIndexes.add(ix);
    }
    for (const ix of completed) failedIndexes.delete(ix);
    const start = Date.parse(status.startTime);
    if (!failure && !perIndex && counted > (spec.backoffLimit ?? 6)) failure = { reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" };
    if (!failure && spec.activeDeadlineSeconds !== undefined && Date.now() - start >= spec.activeDeadlineSeconds * 1000) failure = { reason: "DeadlineExceeded", message: "Job was active longer than specified deadline" };
    if (!failure && perIndex) {
      if (spec.maxFailedIndexes !== undefined && failedIndexes.size > spec.maxFailedIndexes) failure = { reason: "MaxFailedIndexesExceeded", message: "Job has exceeded the specified maximal number of failed indexes" };
      else if (failedIndexes.size > 0 && failedIndexes.size + completed.size >= completions) failure = { reason: "FailedIndexes", message: "Job has failed indexes" };
    }
    const existingFailure = status.conditions?.find((c) => c.type === "FailureTarget" && c.status === "True");
    if (existingFailure) failure = { reason: existingFailure.reason ?? "", message: existingFailure.message ?? "" };
    let running = pods.filter(active);

    if (failure) {
      if (!existingFailure) setCondition(status, "FailureTarget", failure.reason, failure.message);
      // The controller deletes the active pods, then declares the Job failed.
      for (const pod of running) host.remove("Pod", namespace, pod.metadata.name);
      running = [];
      setCondition(status, "Failed", failure.reason, failure.message);
    } else if (completed.size >= completions && running.length === 0) {
      setCondition(status, "SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods");
      setCondition(status, "Complete", "CompletionsReached", "Reached expected number of succeeded pods");
      status.completionTime = now();
    } else {
      const activeIndexes = new Set(running.map(indexOf));
      const room = (spec.parallelism ?? 1) - running.length;
      let created = 0;
      for (let ix = 0; ix < completions && created < room; ix++) {
        if (completed.has(ix) || failedIndexes.has(ix) || activeIndexes.has(ix)) continue;
        const previous = pods.filter((p) => indexOf(p) === ix).sort((a, b) => count(a, keys.failures) + count(a, keys.ignored) - (count(b, keys.failures) + count(b, keys.ignored))).pop();
        if (previous && opts.replacementDelayMs) {
          const finishedAt = Date.parse(String((podStatus(previous).containerStatuses?.[0]?.state?.terminated as { finishedAt?: string } | undefined)?.finishedAt ?? ""));
          const wait = finishedAt + opts.replacementDelayMs - Date.now();
          if (wait > 0) {
            scheduleSync(namespace, name, wait);
            continue;
          }
        }
        createPod(job, spec, ix, previous);
        created++;
      }
      running = ownedBy(job).filter(active);
      if (spec.activeDeadlineSeconds !== undefined) scheduleSync(namespace, name, Math.max(0, start + spec.activeDeadlineSeconds * 1000 - Date.now()) + 1);
    }
    Object.assign(status, {
      active: running.length,
      ready: running.filter((p) => podStatus(p).phase === "Running").length,
      failed: counted,
      succeeded: completed.size,
      terminating: 0,
      completedIndexes: formatIndexes(completed),
      ...(perIndex ? { failedIndexes: formatIndexes(failedIndexes) } : {}),
      uncountedTerminatedPods: {},
    });
    if (JSON.stringify(status) === before) return;
    const fresh = host.get("Job", namespace, name);
    if (fresh && !fresh.metadata.deletionTimestamp) host.replace({ ...fresh, status });
  }

  // --- the kubelet ------------------------------------------------------------------------------

  const scriptFor = (pod: KubeObject): PodScript => {
    const job = pod.metadata.labels?.[keys.jobName] ?? "";
    const list = scripts.get(`${pod.metadata.namespace}/${job}/${indexOf(pod)}`);
    if (!list?.length) return defaultScript.lines ? defaultScript : { ...defaultScript, lines: [`task ${indexOf(pod)} done`] };
    const attempt = count(pod, keys.failures) + count(pod, keys.ignored);
    return list[Math.min(attempt, list.length - 1)]!;
  };

  const containerOf = (pod: KubeObject) => (pod.spec as { containers: { name: string; image: string }[] }).containers[0]!;
  const imageID = (image: string) => (image.includes("@") ? `${image.split("@")[0]!.replace(/:[^/:]+$/, "")}@${image.split("@")[1]}` : `${image}@sha256:${"0".repeat(64)}`);

  function run(namespace: string, name: string) {
    const pod = host.get("Pod", namespace, name);
    if (!pod || podStatus(pod).phase !== "Pending" || pod.metadata.deletionTimestamp) return;
    const c = containerOf(pod);
    const started = now();
    host.replace({
      ...pod,
      status: {
        phase: "Running",
        qosClass: "Burstable",
        startTime: started,
        conditions: [{ type: "Ready", status: "True", lastTransitionTime: started }],
        containerStatuses: [{ name: c.name, image: c.image, imageID: imageID(c.image), ready: true, started: true, restartCount: 0, state: { running: { startedAt: started } } }],
      },
    });
    const script = scriptFor(pod);
    if (script.lines?.length) host.appendLog(namespace, name, c.name, script.lines.join("\n"));
    if (!script.hold) later(stepMs, () => terminate(namespace, name, script));
  }

  function terminate(namespace: string, name: string, outcome: PodScript) {
    const pod = host.get("Pod", namespace, name);
    if (!pod || podStatus(pod).phase !== "Running") return;
    const exitCode = outcome.disruption ? 137 : (outcome.exitCode ?? 0);
    const status = pod.status as Json & { conditions?: Json[]; containerStatuses: Json[] };
    const finished = now();
    host.replace({
      ...pod,
      status: {
        ...status,
        phase: exitCode === 0 ? "Succeeded" : "Failed",
        conditions: [
          { type: "Ready", status: "False", reason: "PodCompleted", lastTransitionTime: finished },
          ...(outcome.disruption ? [{ type: "DisruptionTarget", status: "True", reason: "TerminationByKubelet", message: "Pod was terminated in response to imminent node shutdown.", lastTransitionTime: finished }] : []),
        ],
        containerStatuses: [
          {
            ...status.containerStatuses[0],
            ready: false,
            started: false,
            state: { terminated: { exitCode, reason: exitCode === 0 ? "Completed" : "Error", startedAt: (status.startTime as string | undefined) ?? finished, finishedAt: finished } },
          },
        ],
      },
    });
  }

  const unsubscribe = host.subscribe((e) => {
    if (stopped) return;
    if (e.resource.kind === "Job" && e.type !== "DELETED") scheduleSync(e.object.metadata.namespace!, e.object.metadata.name);
    if (e.resource.kind !== "Pod") return;
    const owner = e.object.metadata.ownerReferences?.find((o) => o.kind === "Job" && o.controller);
    if (!owner) return;
    scheduleSync(e.object.metadata.namespace!, owner.name);
    if (e.type === "ADDED" && podStatus(e.object).phase === "Pending") later(stepMs, () => run(e.object.metadata.namespace!, e.object.metadata.name));
  });

  return {
    kubelet: {
      script(namespace, job, index, attempts) {
        scripts.set(`${namespace}/${job}/${index}`, attempts);
      },
      setDefault(script) {
        defaultScript = script;
      },
      finish(namespace, pod, outcome) {
        const p = host.get("Pod", namespace, pod);
        if (!p) throw new Error(`pod ${namespace}/${pod} does not exist`);
        if (outcome.lines?.length) host.appendLog(namespace, pod, containerOf(p).name, outcome.lines.join("\n"));
        terminate(namespace, pod, outcome);
      },
    },
    stop() {
      stopped = true;
      unsubscribe();
      for (const t of timers) clearTimeout(t);
    },
  };
}

/**
 * The rules of pkg/apis/batch/validation/validation.go that product requests' Jobs meet, beyond
 * the structural checks of the server: per-index backoff, the pod failure policy, the Job name (it
 * becomes the `batch.kubernetes.io/job-name` label, so at most 63 characters).
 */
export function jobSpecCauses(job: KubeObject): { field: string; message: string }[] {
  const spec = (job.spec ?? {}) as Partial<JobSpec> & { podReplacementPolicy?: string };
  const causes: { field: string; message: string }[] = [];
  const name = job.metadata.name;
  if (name.length > 63) causes.push({ field: "metadata.name", message: `Invalid value: "${name}": must be no more than 63 characters` });
  const indexed = spec.completionMode === "Indexed";
  if (spec.backoffLimitPerIndex !== undefined) {
    if (!indexed) causes.push({ field: "spec.backoffLimitPerIndex", message: "Forbidden: requires indexed completion mode" });
    if (spec.backoffLimitPerIndex < 0) causes.push({ field: "spec.backoffLimitPerIndex", message: `Invalid value: ${spec.backoffLimitPerIndex}: must be greater than or equal to 0` });
  }
  if (spec.maxFailedIndexes !== undefined) {
    if (spec.backoffLimitPerIndex === undefined) causes.push({ field: "spec.maxFailedIndexes", message: "Forbidden: cannot set maxFailedIndexes when backoffLimitPerIndex is not set" });
    if (spec.completions !== undefined && spec.maxFailedIndexes > spec.completions) causes.push({ field: "spec.maxFailedIndexes", message: `Invalid value: ${spec.maxFailedIndexes}: must be less than or equal to completions` });
  }
  if (spec.backoffLimitPerIndex !== undefined && (spec.completions ?? 0) > 100_000 && (spec.maxFailedIndexes === undefined || spec.maxFailedIndexes > 10_000)) {
    causes.push({ field: "spec.maxFailedIndexes", message: "Required value: must be specified and less than or equal to 10000 when completions is greater than 100000 and backoffLimitPerIndex is set" });
  }
  const rules = spec.podFailurePolicy?.rules;
  if (rules) {
    const restart = (spec.template?.spec as { restartPolicy?: string } | undefined)?.restartPolicy;
    if (restart !== "Never") causes.push({ field: "spec.template.spec.restartPolicy", message: `Invalid value: "${restart}": only "Never" is supported when podFailurePolicy is specified` });
    if (spec.podReplacementPolicy !== undefined && spec.podReplacementPolicy !== "Failed") causes.push({ field: "spec.podReplacementPolicy", message: `Not supported: "${spec.podReplacementPolicy}": supported values: "Failed"` });
    rules.forEach((rule, i) => {
      const at = `spec.podFailurePolicy.rules[${i}]`;
      if (!["FailJob", "FailIndex", "Ignore", "Count"].includes(rule.action)) causes.push({ field: `${at}.action`, message: `Unsupported value: "${rule.action}": supported values: "Count", "FailIndex", "FailJob", "Ignore"` });
      if (rule.action === "FailIndex" && spec.backoffLimitPerIndex === undefined) causes.push({ field: `${at}.action`, message: 'Forbidden: when spec.backoffLimitPerIndex is not specified, "FailIndex" is not supported' });
      if (!!rule.onExitCodes === !!rule.onPodConditions) causes.push({ field: at, message: "Invalid value: specifying exactly one of onExitCodes and onPodConditions is required" });
      rule.onExitCodes?.values.forEach((v, j) => {
        if (v === 0 && rule.onExitCodes!.operator === "In") causes.push({ field: `${at}.onExitCodes.values[${j}]`, message: "Invalid value: 0: must not be 0 for the In operator" });
      });
    });
  }
  return causes;
}
