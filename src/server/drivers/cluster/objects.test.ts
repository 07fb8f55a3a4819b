import { describe, expect, it } from "vitest";
import { digestFromImageID, fluxStatusFromObject, revisionCommit, runningImagesFromPods } from "./objects";

const sha = "a".repeat(40);
const digest = `sha256:${"0123456789abcdef".repeat(4)}`;

describe("digestFromImageID", () => {
  it("reads the digest of a dockershim / cri-dockerd imageID", () => {
    expect(digestFromImageID(`docker-pullable://registry.example/piksel-core@${digest}`)).toBe(digest);
  });
  it("reads the digest of a containerd / CRI-O imageID", () => {
    expect(digestFromImageID(`registry.example:5000/team/piksel-core@${digest}`)).toBe(digest);
  });
  it("returns null for a local image ID, which is not a registry digest", () => {
    expect(digestFromImageID(digest)).toBeNull();
    expect(digestFromImageID(`docker://${digest}`)).toBeNull();
  });
  it("returns null for an empty or malformed imageID", () => {
    expect(digestFromImageID("")).toBeNull();
    expect(digestFromImageID(undefined)).toBeNull();
    expect(digestFromImageID("repo@sha256:short")).toBeNull();
  });
});

describe("runningImagesFromPods", () => {
  it("lists every container with the image of its spec and the digest it runs", () => {
    const images = runningImagesFromPods([
      {
        metadata: { name: "core-1" },
        spec: { containers: [{ name: "core", image: "piksel-core:v1@" + digest }, { name: "sidecar", image: "envoy:1" }] },
        status: {
          phase: "Running",
          containerStatuses: [
            { name: "sidecar", image: "docker.io/library/envoy:1", imageID: "docker.io/library/envoy@" + digest, ready: false },
            { name: "core", image: "piksel-core:v1", imageID: `docker-pullable://piksel-core@${digest}`, ready: true },
          ],
        },
      },
    ]);
    expect(images).toEqual([
      { pod: "core-1", container: "core", image: `piksel-core:v1@${digest}`, imageID: `docker-pullable://piksel-core@${digest}`, digest, ready: true, phase: "Running" },
      { pod: "core-1", container: "sidecar", image: "envoy:1", imageID: `docker.io/library/envoy@${digest}`, digest, ready: false, phase: "Running" },
    ]);
  });
  it("shows a container the kubelet has not reported yet as not running anything", () => {
    const [image] = runningImagesFromPods([{ metadata: { name: "p" }, spec: { containers: [{ name: "c", image: "x:1" }] }, status: { phase: "Pending" } }]);
    expect(image).toMatchObject({ imageID: "", digest: null, ready: false, phase: "Pending" });
  });
});

describe("fluxStatusFromObject", () => {
  it("maps generation, suspend, revisions and conditions", () => {
    const status = fluxStatusFromObject({
      metadata: { name: "apps", namespace: "flux-system", generation: 3 },
      spec: { suspend: true },
      status: {
        observedGeneration: 2,
        lastAppliedRevision: `main@sha1:${sha}`,
        lastAttemptedRevision: `main/${sha}`,
        conditions: [{ type: "Ready", status: "True", reason: "ReconciliationSucceeded", message: "Applied", lastTransitionTime: new Date("2025-01-01T00:00:00Z") }],
      },
    });
    expect(status).toEqual({
      name: "apps",
      namespace: "flux-system",
      generation: 3,
      observedGeneration: 2,
      suspended: true,
      lastAppliedRevision: `main@sha1:${sha}`,
      lastAttemptedRevision: `main/${sha}`,
      conditions: [{ type: "Ready", status: "True", reason: "ReconciliationSucceeded", message: "Applied", lastTransitionTime: "2025-01-01T00:00:00.000Z" }],
    });
  });
  it("treats fields Flux omitted (omitempty) as not yet reconciled", () => {
    expect(fluxStatusFromObject({ metadata: { name: "a", namespace: "b", generation: 1 } })).toMatchObject({
      observedGeneration: 0,
      suspended: false,
      lastAppliedRevision: null,
      lastAttemptedRevision: null,
      conditions: [],
    });
  });
});

describe("revisionCommit", () => {
  it("reads RFC-0005 revisions", () => {
    expect(revisionCommit(`main@sha1:${sha}`)).toBe(sha);
    expect(revisionCommit(`refs/heads/release/v1@sha1:${sha}`)).toBe(sha);
    expect(revisionCommit(`sha1:${sha}`)).toBe(sha);
  });
  it("reads the pre-2.0 `<branch>/<sha>` revisions", () => {
    expect(revisionCommit(`main/${sha}`)).toBe(sha);
    expect(revisionCommit(`release/v1/${sha}`)).toBe(sha);
  });
  it("returns null for revisions that name no git commit", () => {
    expect(revisionCommit(`latest@${digest}`)).toBeNull();
    expect(revisionCommit("main")).toBeNull();
    expect(revisionCommit(null)).toBeNull();
  });
});
