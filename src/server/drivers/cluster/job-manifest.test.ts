import { ConfigMap } from "kubernetes-models/v1";
import { Job } from "kubernetes-models/batch/v1";
import { describe, expect, it } from "vitest";
import { AppError } from "../../errors";
import { formatIndexes, parseIndexes } from "./indexes";
import { buildGeomedianJob, expandVariables, jobNameFor, maxTaskListBytes, resolveJobSettings, workerArgs } from "./job-manifest";

/**
 * The Job manifest of a product request. Validation uses kubernetes-models, generated from the
 * OpenAPI schema of Kubernetes v1.36.0 (its validate() runs ajv against that schema).
 */

const digest = `sha256:${"4b7e".repeat(16)}`;
const image = `123456789012.dkr.ecr.ap-southeast-3.amazonaws.com/piksel-core@${digest}`;
const tasks = (n: number) => Array.from({ length: n }, (_, i) => `2024--P1Y/${100 + (i % 40)}/${-20 + Math.floor(i / 40)}`);
const spec = (n = 3) => ({ requestId: "cm9req0001", environment: "staging", image, tasks: tasks(n), requestedBy: "ana@piksel.dev" });
const settings = resolveJobSettings(undefined);

/** Throws with the schema's messages when the object is not valid against the v1.36 OpenAPI schema. */
function validateAgainstOpenApi(built: ReturnType<typeof buildGeomedianJob>) {
  new Job(built.job as ConstructorParameters<typeof Job>[0]).validate();
  new ConfigMap(built.configMap as ConstructorParameters<typeof ConfigMap>[0]).validate();
}

describe("the geomedian Job manifest", () => {
  it("is an Indexed Job valid against the Kubernetes OpenAPI schema, running the deployed digest", () => {
    const built = buildGeomedianJob(spec(), settings, "piksel");
    expect(() => validateAgainstOpenApi(built)).not.toThrow();
    // The validator is live: a wrong type or a missing required field is refused.
    const broken = structuredClone(built);
    (broken.job.spec as unknown as Record<string, unknown>).completions = "3";
    delete (broken.job.spec!.template.spec!.containers[0] as Partial<{ name: string }>).name;
    expect(() => validateAgainstOpenApi(broken)).toThrow("data/spec/completions must be integer, data/spec/template/spec/containers/0 must have required property name");
    const { job, configMap } = built;
    expect(job.metadata).toMatchObject({ name: "gm-cm9req0001", namespace: "piksel" });
    expect(job.spec).toMatchObject({
      completionMode: "Indexed",
      completions: 3,
      parallelism: 3,
      backoffLimitPerIndex: 2,
      maxFailedIndexes: 2,
      podReplacementPolicy: "Failed",
      activeDeadlineSeconds: 259200,
      ttlSecondsAfterFinished: 604800,
    });
    expect(job.spec!.podFailurePolicy!.rules).toEqual([
      { action: "FailIndex", onExitCodes: { containerName: "worker", operator: "In", values: [2] } },
      { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
    ]);
    const pod = job.spec!.template.spec!;
    const container = pod.containers[0]!;
    expect(container.image).toBe(image);
    expect(container.args).toEqual(["worker", "geomedian", "--env", "staging", "--task-list", "/etc/piksel/tasks/tasks", "--task-index", "$(JOB_COMPLETION_INDEX)"]);
    expect(pod).toMatchObject({ restartPolicy: "Never", serviceAccountName: "piksel-worker", securityContext: { runAsNonRoot: true, runAsUser: 10001 } });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    expect(container.resources).toEqual({ requests: { cpu: "2", memory: "8Gi" }, limits: { memory: "12Gi" } });
    expect(container.env).toEqual(
      expect.arrayContaining([
        { name: "JOB_COMPLETION_INDEX", valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } },
        { name: "PIKSEL_CONFIG", value: "/etc/piksel/config/config.yaml" },
      ]),
    );
    expect(pod.volumes).toEqual(
      expect.arrayContaining([
        { name: "tasks", configMap: { name: "gm-cm9req0001-tasks" } },
        { name: "config", configMap: { name: "piksel-config", items: [{ key: "config.yaml", path: "config.yaml" }] } },
      ]),
    );
    for (const labels of [job.metadata.labels, pod === undefined ? {} : job.spec!.template.metadata!.labels!, configMap.metadata.labels!]) {
      expect(labels).toMatchObject({ "piksel.dev/request": "cm9req0001", "piksel.dev/environment": "staging", "app.kubernetes.io/name": "piksel-geomedian", "app.kubernetes.io/managed-by": "piksel-console" });
    }
    expect(job.metadata.annotations).toMatchObject({ "piksel.dev/requested-by": "ana@piksel.dev", "piksel.dev/task-count": "3", "piksel.dev/tasks-sha256": built.tasksSha256 });
    expect(configMap).toMatchObject({ metadata: { name: "gm-cm9req0001-tasks" }, immutable: true, data: { tasks: "2024--P1Y/100/-20\n2024--P1Y/101/-20\n2024--P1Y/102/-20\n" } });
  });

  it("hands a 1 000-task plan over in a ConfigMap far below the 1 MiB limit, the Job staying small", () => {
    const built = buildGeomedianJob(spec(1000), resolveJobSettings({ parallelism: 16, maxFailedIndexes: 50 }), "piksel");
    expect(() => validateAgainstOpenApi(built)).not.toThrow();
    expect(built.job.spec).toMatchObject({ completions: 1000, parallelism: 16, maxFailedIndexes: 50 });
    const list = built.configMap.data.tasks!;
    const lines = list.split("\n");
    expect(lines.slice(0, 1000)).toEqual(tasks(1000));
    expect(lines[999]).toBe(tasks(1000)[999]);
    expect(Buffer.byteLength(list)).toBeLessThan(25_000);
    expect(JSON.stringify(built.job).length).toBeLessThan(5_000);
  });

  it("refuses a tag-only image, an empty or oversized plan and ids that cannot be labels", () => {
    const refused = (s: Parameters<typeof buildGeomedianJob>[0], code: string, text: RegExp) => {
      let error: unknown;
      try {
        buildGeomedianJob(s, settings, "piksel");
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code, message: expect.stringMatching(text) });
    };
    refused({ ...spec(), image: "registry.local/piksel-core:v1.3.0" }, "PRECONDITION_FAILED", /not pinned by digest: a geomedian Job runs the digest deployed in staging/);
    refused({ ...spec(), image: `piksel-core@sha256:${"a".repeat(63)}` }, "PRECONDITION_FAILED", /not pinned by digest/);
    refused({ ...spec(), tasks: [] }, "BAD_REQUEST", /at least one task/);
    refused({ ...spec(), tasks: ["2024--P1Y/1/2", "2024--P1Y/1 3"] }, "BAD_REQUEST", /not valid/);
    refused({ ...spec(), requestId: "Request #7" }, "BAD_REQUEST", /cannot label a Job/);
    const huge = Array.from({ length: 60_000 }, (_, i) => `2024--P1Y/${i}/${i}`);
    refused({ ...spec(), tasks: huge }, "BAD_REQUEST", new RegExp(`more than a ConfigMap holds \\(${maxTaskListBytes}\\)`));
    // A tag with the digest is what kustomize renders (name:tag@digest): still pinned.
    expect(() => buildGeomedianJob({ ...spec(), image: `registry.local/piksel-core:v1.3.0@${digest}` }, settings, "piksel")).not.toThrow();
  });

  it("names Jobs deterministically from the request id, within the hostname limit", () => {
    expect(jobNameFor("cm9req0001")).toBe("gm-cm9req0001");
    expect(jobNameFor("cm9req0001", 2)).toBe("gm-cm9req0001-r2");
    const uuid = "0F8FAD5B-D9CB-469F-A165-70867728950E";
    expect(jobNameFor(uuid)).toMatch(/^gm-0f8fad5b-d9cb-469f-a165-7086-[0-9a-f]{10}$/);
    expect(jobNameFor(uuid)).toBe(jobNameFor(uuid));
    expect(jobNameFor(uuid)).not.toBe(jobNameFor(uuid.toLowerCase()));
    const long = `r${"x".repeat(62)}`;
    expect(`${jobNameFor(long, 99)}-100000`.length).toBeLessThanOrEqual(63);
  });

  it("a follow-up lists the request's index of each of its tasks and stays valid", () => {
    const built = buildGeomedianJob({ ...spec(2), tasks: ["2024--P1Y/3/4", "2024--P1Y/9/9"] }, settings, "piksel", { retry: 1, of: "gm-cm9req0001", indexes: [4, 17], requestTasks: 20 });
    expect(() => validateAgainstOpenApi(built)).not.toThrow();
    expect(built.name).toBe("gm-cm9req0001-r1");
    expect(built.configMap.data).toEqual({ tasks: "2024--P1Y/3/4\n2024--P1Y/9/9\n", indexes: "4\n17\n" });
    expect(built.job.metadata.labels["piksel.dev/retry"]).toBe("1");
    expect(built.job.metadata.annotations).toMatchObject({ "piksel.dev/retry-of": "gm-cm9req0001", "piksel.dev/request-task-count": "20", "piksel.dev/task-count": "2" });
  });

  it("settings: secrets by env, no config volume for the local runner, bad values named", () => {
    const local = resolveJobSettings({ configMap: null, secretEnv: [{ name: "ODC_DB_PASSWORD", secret: "piksel-odc", key: "password" }], envFromSecrets: ["piksel-worker-env"], env: { AWS_REGION: "ap-southeast-3" } });
    const built = buildGeomedianJob(spec(), local, "piksel");
    expect(() => validateAgainstOpenApi(built)).not.toThrow();
    const container = built.job.spec!.template.spec!.containers[0]!;
    expect(container.env).toEqual(expect.arrayContaining([{ name: "ODC_DB_PASSWORD", valueFrom: { secretKeyRef: { name: "piksel-odc", key: "password" } } }, { name: "AWS_REGION", value: "ap-southeast-3" }]));
    expect(container.env!.some((e) => e.name === "PIKSEL_CONFIG")).toBe(false);
    expect(container.envFrom).toEqual([{ secretRef: { name: "piksel-worker-env" } }]);
    expect(built.job.spec!.template.spec!.volumes!.map((v) => v.name)).toEqual(["tasks", "tmp"]);
    expect(() => resolveJobSettings({ parallelism: 0 })).toThrow("Invalid job settings: jobs.parallelism:");
    expect(() => resolveJobSettings({ resources: { requests: { memory: "lots" } } })).toThrow("jobs.resources.requests.memory: a Kubernetes quantity");
  });

  it("expands $(VAR) in args the way the kubelet does", () => {
    expect(workerArgs("dev").map((a) => expandVariables(a, { JOB_COMPLETION_INDEX: "7" }))).toContain("7");
    expect(expandVariables("$(MISSING)-$$(X)-$(A)", { A: "a", X: "x" })).toBe("$(MISSING)-$(X)-a");
  });
});

describe("completion index sets (status.completedIndexes / failedIndexes)", () => {
  it("formats and parses the controller's interval text", () => {
    expect(formatIndexes([7, 1, 3, 4, 5])).toBe("1,3-5,7");
    expect(formatIndexes([0, 1])).toBe("0,1");
    expect(formatIndexes([])).toBe("");
    expect(parseIndexes("1,3-5,7")).toEqual([1, 3, 4, 5, 7]);
    expect(parseIndexes("0-9", 4)).toEqual([0, 1, 2, 3]);
    expect(parseIndexes(undefined)).toEqual([]);
  });
});
