import "server-only";
import { createHash } from "node:crypto";
import type { V1ConfigMap, V1EnvFromSource, V1EnvVar, V1Job, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import { z } from "zod";
import { AppError } from "../../errors";
import type { GeomedianJobSpec } from "./index";

/**
 * The Kubernetes objects of one product request (pure, shared by both cluster drivers; the local
 * runner executes the same Job spec): an Indexed Job with one completion index per task, and a
 * ConfigMap holding the task list that the Job owns. docs/adr/0013-geomedian-jobs.md says why.
 *
 * The worker reads its task from the list: `piksel worker geomedian --env <env> --task-list
 * /etc/piksel/tasks/tasks --task-index $(JOB_COMPLETION_INDEX)`, line N of the file being the task of
 * completion index N. A Job template cannot differ per index, and an env var per index would put the
 * whole plan into every pod and into the Job object (etcd's 1.5 MiB request limit); a ConfigMap holds
 * up to 1 MiB, about 50 000 task ids, and is mounted read-only.
 */

// --- names and keys everyone reading the cluster relies on ---------------------------------------

export const labels = {
  name: "app.kubernetes.io/name",
  component: "app.kubernetes.io/component",
  partOf: "app.kubernetes.io/part-of",
  managedBy: "app.kubernetes.io/managed-by",
  request: "piksel.dev/request",
  environment: "piksel.dev/environment",
  retry: "piksel.dev/retry",
} as const;

export const annotations = {
  requestedBy: "piksel.dev/requested-by",
  tasksSha256: "piksel.dev/tasks-sha256",
  taskCount: "piksel.dev/task-count",
  requestTaskCount: "piksel.dev/request-task-count",
  retryOf: "piksel.dev/retry-of",
} as const;

/** Set by the Job controller on Indexed Jobs' pods (k8s.io/api/batch/v1 types.go). */
export const batchKeys = {
  completionIndex: "batch.kubernetes.io/job-completion-index",
  indexFailureCount: "batch.kubernetes.io/job-index-failure-count",
  indexIgnoredFailureCount: "batch.kubernetes.io/job-index-ignored-failure-count",
  jobName: "batch.kubernetes.io/job-name",
  controllerUid: "batch.kubernetes.io/controller-uid",
} as const;

export const appName = "piksel-geomedian";
export const managedBy = "piksel-console";
export const workerContainer = "worker";
/** Keys of the task-list ConfigMap: one task id per line; for a follow-up Job, the request's index of each line. */
export const taskListKey = "tasks";
export const taskIndexesKey = "indexes";
export const taskListMount = "/etc/piksel/tasks";
export const configMount = "/etc/piksel/config";
/** The image's user (Dockerfile: useradd --uid 10001). */
const workerUid = 10001;

// --- configuration --------------------------------------------------------------------------------

const quantity = z.string().regex(/^[0-9.]+([eE][-+]?[0-9]+|[numkMGTPE]i?|[KMGTPE]i)?$/, "a Kubernetes quantity such as 500m, 2, 8Gi");
const envName = z.string().regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, "an environment variable name");
const dnsName = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, "a lowercase RFC 1123 name");

/**
 * How geomedian Jobs run in an environment (config: `environments[].cluster.jobs`). The defaults
 * suit an EKS node group of 4-8 vCPU / 16-32 GiB nodes running 96 km tiles.
 */
export const jobSettingsSchema = z.object({
  /** Pods running at once per request (spec.parallelism; capped by the number of tasks). */
  parallelism: z.number().int().min(1).max(1000).default(4),
  /** Retries of one task before it is failed (spec.backoffLimitPerIndex): 2 = three attempts. */
  backoffLimitPerIndex: z.number().int().min(0).max(20).default(2),
  /** Failed tasks after which the whole request stops (spec.maxFailedIndexes); absent = maxFailedFraction of the tasks. */
  maxFailedIndexes: z.number().int().min(0).optional(),
  /** Fraction of failed tasks after which the request stops, when maxFailedIndexes is not set: many failures mean a systemic fault. */
  maxFailedFraction: z.number().min(0).max(1).default(0.5),
  /** Worker exit codes that fail a task at once, without retries (podFailurePolicy FailIndex): 2 = bad input. */
  badInputExitCodes: z.array(z.number().int().min(1).max(255)).min(1).default([2]),
  /** The request fails when it runs longer (spec.activeDeadlineSeconds). */
  activeDeadlineSeconds: z.number().int().min(60).default(3 * 24 * 3600),
  /** Finished Jobs (with their pods and logs) are removed after this (spec.ttlSecondsAfterFinished). */
  ttlSecondsAfterFinished: z.number().int().min(0).default(7 * 24 * 3600),
  /** SIGTERM to SIGKILL on cancel or eviction. */
  terminationGracePeriodSeconds: z.number().int().min(0).default(30),
  /** The worker's service account: on EKS, the one annotated with the IAM role (IRSA) that reads and writes the buckets. */
  serviceAccountName: dnsName.default("piksel-worker"),
  resources: z
    .object({
      requests: z.record(z.string(), quantity).default({ cpu: "2", memory: "8Gi" }),
      // No CPU limit: CFS throttling slows the reduction for nothing when the node has spare cycles.
      limits: z.record(z.string(), quantity).default({ memory: "12Gi" }),
    })
    .default({ requests: { cpu: "2", memory: "8Gi" }, limits: { memory: "12Gi" } }),
  /** The ConfigMap holding the platform configuration file, mounted and named by PIKSEL_CONFIG; null = none (the local runner). */
  configMap: z.object({ name: dnsName, key: z.string().min(1).default("config.yaml") }).nullable().default({ name: "piksel-config", key: "config.yaml" }),
  /** Environment variables from Secret keys (database passwords, ...). */
  secretEnv: z.array(z.object({ name: envName, secret: dnsName, key: z.string().min(1) })).default([]),
  /** Secrets whose every key becomes an environment variable. */
  envFromSecrets: z.array(dnsName).default([]),
  /** Plain environment variables (AWS_REGION, GDAL_* tuning, ...). */
  env: z.record(envName, z.string()).default({}),
  /** Size limit of the writable /tmp (the root filesystem is read-only). */
  tmpSizeLimit: quantity.default("20Gi"),
  nodeSelector: z.record(z.string(), z.string()).default({}),
  priorityClassName: dnsName.optional(),
});

export type JobSettings = z.infer<typeof jobSettingsSchema>;
export type JobSettingsInput = z.input<typeof jobSettingsSchema>;

/** Settings with defaults; a bad value names the key (the config loader validates the same schema at start-up). */
export function resolveJobSettings(input: JobSettingsInput | undefined): JobSettings {
  const parsed = jobSettingsSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`Invalid job settings: ${["jobs", ...issue.path.map(String)].join(".")}: ${issue.message}`);
  }
  return parsed.data;
}

// --- checks ---------------------------------------------------------------------------------------

/** Label values: 63 characters, alphanumerics, `-`, `_`, `.`, alphanumeric at both ends (apimachinery validation IsValidLabelValue). */
const labelValueRe = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
/** `repo[:tag]@sha256:<64 hex>`: pinned by the digest of its manifest (OCI image-spec descriptor.md). */
const pinnedImageRe = /^[a-z0-9][a-z0-9._\-/:]*@sha256:[a-f0-9]{64}$/;
/** An odc-stats task id has no whitespace: one per line in the list. */
const taskIdRe = /^\S{1,200}$/;
/** Kubernetes limits a ConfigMap's data to 1 MiB (apimachinery validation MaxSecretSize / core validation ValidateConfigMap); keep room for metadata. */
export const maxTaskListBytes = 1_000_000;
/** backoffLimitPerIndex Jobs with more completions need maxFailedIndexes <= 10^4 (batch validation); the list size binds far earlier. */
const maxCompletions = 100_000;

export function checkRequestId(requestId: string): void {
  if (!requestId || !labelValueRe.test(requestId)) {
    throw new AppError("BAD_REQUEST", `request id "${requestId}" cannot label a Job: use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`);
  }
}

export function checkPinnedImage(image: string, environment: string): void {
  if (!pinnedImageRe.test(image)) {
    throw new AppError(
      "PRECONDITION_FAILED",
      `image "${image}" is not pinned by digest: a geomedian Job runs the digest deployed in ${environment} (<repository>@sha256:<64 hex>), never a tag that can move`,
    );
  }
}

/** The digest of an image reference pinned by digest. */
export const imageDigest = (image: string) => image.slice(image.lastIndexOf("@") + 1);

// --- names ----------------------------------------------------------------------------------------

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * The request's Job name: `gm-<request id>` when the id is already a DNS label of at most 40
 * characters, else a readable prefix plus a hash of the id, so distinct ids never share a name.
 * At most 52 characters: a follow-up adds `-r<n>` and the controller's pod hostname
 * `<job>-<index>` must stay within 63.
 */
export function jobNameFor(requestId: string, retry = 0): string {
  const base = /^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/.test(requestId)
    ? `gm-${requestId}`
    : `gm-${requestId.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 28).replace(/-+$/, "") || "request"}-${sha256(requestId).slice(0, 10)}`;
  return retry > 0 ? `${base}-r${retry}` : base;
}

export const taskListName = (jobName: string) => `${jobName}-tasks`;

// --- the objects ----------------------------------------------------------------------------------

export interface BuiltJob {
  name: string;
  job: V1Job & { metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> } };
  configMap: V1ConfigMap & { metadata: { name: string }; data: Record<string, string> };
  /** sha256 of the task-list data: what tells a retried submit of the same plan from a clash. */
  tasksSha256: string;
}

export interface FollowUp {
  /** 1-based number of the retry. */
  retry: number;
  /** The request's Job it re-runs tasks of. */
  of: string;
  /** The request's task index of each of the follow-up's completion indexes. */
  indexes: number[];
  /** Tasks of the whole request. */
  requestTasks: number;
}

/**
 * The Job and its task list for a request (or for a follow-up re-running some of its tasks). Throws
 * AppError for a spec that must not run: an image not pinned by digest, no tasks, a task list too
 * large for a ConfigMap, a request id that cannot be a label.
 */
export function buildGeomedianJob(spec: GeomedianJobSpec, settings: JobSettings, namespace: string, followUp?: FollowUp): BuiltJob {
  checkRequestId(spec.requestId);
  checkPinnedImage(spec.image, spec.environment);
  if (!labelValueRe.test(spec.environment) || !spec.environment) throw new AppError("BAD_REQUEST", `environment "${spec.environment}" cannot label a Job`);
  if (spec.tasks.length === 0) throw new AppError("BAD_REQUEST", "a geomedian Job needs at least one task");
  if (spec.tasks.length > maxCompletions) throw new AppError("BAD_REQUEST", `${spec.tasks.length} tasks are more than one Job may run (${maxCompletions}); split the area of interest`);
  const bad = spec.tasks.find((t) => !taskIdRe.test(t));
  if (bad !== undefined) throw new AppError("BAD_REQUEST", `task id "${bad.slice(0, 60)}" is not valid: one odc-stats id such as 2024--P1Y/12/-3, without spaces`);
  if (followUp && followUp.indexes.length !== spec.tasks.length) throw new Error("a follow-up Job needs the request's index of each of its tasks");

  const name = jobNameFor(spec.requestId, followUp?.retry ?? 0);
  const data: Record<string, string> = { [taskListKey]: `${spec.tasks.join("\n")}\n` };
  if (followUp) data[taskIndexesKey] = `${followUp.indexes.join("\n")}\n`;
  const bytes = Object.entries(data).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  if (bytes > maxTaskListBytes) {
    throw new AppError("BAD_REQUEST", `the task list of ${spec.tasks.length} tasks takes ${bytes} bytes, more than a ConfigMap holds (${maxTaskListBytes}); split the area of interest`);
  }
  const tasksSha256 = sha256(JSON.stringify(data));
  const completions = spec.tasks.length;
  const parallelism = Math.max(1, Math.min(spec.parallelism ?? settings.parallelism, completions));
  const maxFailedIndexes = Math.min(completions, settings.maxFailedIndexes ?? Math.ceil(completions * settings.maxFailedFraction));

  const commonLabels: Record<string, string> = {
    [labels.name]: appName,
    [labels.component]: "worker",
    [labels.partOf]: "piksel",
    [labels.managedBy]: managedBy,
    [labels.request]: spec.requestId,
    [labels.environment]: spec.environment,
    [labels.retry]: String(followUp?.retry ?? 0),
  };
  const jobAnnotations: Record<string, string> = {
    ...spec.annotations,
    [annotations.tasksSha256]: tasksSha256,
    [annotations.taskCount]: String(completions),
    [annotations.requestTaskCount]: String(followUp?.requestTasks ?? completions),
    ...(spec.requestedBy ? { [annotations.requestedBy]: spec.requestedBy } : {}),
    ...(followUp ? { [annotations.retryOf]: followUp.of } : {}),
  };

  const env: V1EnvVar[] = [
    // The Job controller injects this too (addCompletionIndexEnvVariable skips a container that
    // declares it); declared here so `$(JOB_COMPLETION_INDEX)` in args is expanded from the manifest alone.
    { name: "JOB_COMPLETION_INDEX", valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${batchKeys.completionIndex}']` } } },
    { name: "PIKSEL_REQUEST_ID", value: spec.requestId },
    // The root filesystem is read-only; GDAL and Node write temporary files here.
    { name: "TMPDIR", value: "/tmp" },
    ...(settings.configMap ? [{ name: "PIKSEL_CONFIG", value: `${configMount}/${settings.configMap.key}` }] : []),
    ...Object.entries(settings.env).map(([k, value]) => ({ name: k, value })),
    ...settings.secretEnv.map((s) => ({ name: s.name, valueFrom: { secretKeyRef: { name: s.secret, key: s.key } } })),
  ];
  const envFrom: V1EnvFromSource[] = settings.envFromSecrets.map((secret) => ({ secretRef: { name: secret } }));
  const volumes: V1Volume[] = [
    { name: "tasks", configMap: { name: taskListName(name) } },
    { name: "tmp", emptyDir: { sizeLimit: settings.tmpSizeLimit } },
    ...(settings.configMap ? [{ name: "config", configMap: { name: settings.configMap.name, items: [{ key: settings.configMap.key, path: settings.configMap.key }] } }] : []),
  ];
  const volumeMounts: V1VolumeMount[] = [
    { name: "tasks", mountPath: taskListMount, readOnly: true },
    { name: "tmp", mountPath: "/tmp" },
    ...(settings.configMap ? [{ name: "config", mountPath: configMount, readOnly: true }] : []),
  ];

  const job: BuiltJob["job"] = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace, labels: commonLabels, annotations: jobAnnotations },
    spec: {
      completionMode: "Indexed",
      completions,
      parallelism,
      // Per index, not per Job (KEP-3850): one bad tile must not use up the retries of the others.
      backoffLimitPerIndex: settings.backoffLimitPerIndex,
      maxFailedIndexes,
      podFailurePolicy: {
        rules: [
          // Bad input fails the task at once: running it again cannot help.
          { action: "FailIndex", onExitCodes: { containerName: workerContainer, operator: "In", values: [...settings.badInputExitCodes] } },
          // Evictions, preemption, node drains and deletions by the pod GC are not the task's fault:
          // retried without counting against backoffLimitPerIndex.
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
        ],
      },
      // The only value allowed with a podFailurePolicy: a replacement starts once its predecessor has
      // fully terminated, so two attempts of a tile never write at once.
      podReplacementPolicy: "Failed",
      activeDeadlineSeconds: settings.activeDeadlineSeconds,
      ttlSecondsAfterFinished: settings.ttlSecondsAfterFinished,
      template: {
        metadata: { labels: commonLabels, annotations: { "kubectl.kubernetes.io/default-container": workerContainer } },
        spec: {
          restartPolicy: "Never",
          serviceAccountName: settings.serviceAccountName,
          terminationGracePeriodSeconds: settings.terminationGracePeriodSeconds,
          // Service links would add a dozen variables per Service of the namespace to every worker.
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: workerUid, runAsGroup: workerUid, fsGroup: workerUid, seccompProfile: { type: "RuntimeDefault" } },
          ...(Object.keys(settings.nodeSelector).length ? { nodeSelector: settings.nodeSelector } : {}),
          ...(settings.priorityClassName ? { priorityClassName: settings.priorityClassName } : {}),
          containers: [
            {
              name: workerContainer,
              image: spec.image,
              imagePullPolicy: "IfNotPresent",
              // The image's ENTRYPOINT is `tini -- node dist/cli/piksel.mjs` (Dockerfile): args only.
              args: workerArgs(spec.environment),
              env,
              ...(envFrom.length ? { envFrom } : {}),
              resources: { requests: { ...settings.resources.requests }, limits: { ...settings.resources.limits } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } },
              volumeMounts,
            },
          ],
          volumes,
        },
      },
    },
  };

  const configMap: BuiltJob["configMap"] = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: taskListName(name), namespace, labels: commonLabels, annotations: { [annotations.tasksSha256]: tasksSha256 } },
    immutable: true,
    data,
  };
  return { name, job, configMap, tasksSha256 };
}

/** The worker's command line after the image's entrypoint. */
export function workerArgs(environment: string): string[] {
  return ["worker", "geomedian", "--env", environment, "--task-list", `${taskListMount}/${taskListKey}`, "--task-index", "$(JOB_COMPLETION_INDEX)"];
}

/**
 * `$(VAR)` references in a container's command and args, expanded the way the kubelet does
 * (third_party/forked/golang/expansion): `$(NAME)` becomes the variable's value when defined, stays as
 * written otherwise, and `$$` escapes a dollar.
 */
export function expandVariables(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)/g, (match, name: string | undefined) => {
    if (match === "$$") return "$";
    return name !== undefined && name in vars ? vars[name]! : match;
  });
}
