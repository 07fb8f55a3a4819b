import { describe, expect, it } from "vitest";
import { AppError } from "../../errors";
import { checkReference, digestOf, parseManifest, pickManifest, verifyContent, type Descriptor } from "./image";
import { layoutTag } from "./layout";
import { nextLink } from "./oci";

const d = (digestChar: string, platform?: Descriptor["platform"], annotations?: Record<string, string>): Descriptor => ({
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  digest: `sha256:${digestChar.repeat(64)}`,
  size: 100,
  ...(platform && { platform }),
  ...(annotations && { annotations }),
});
const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

describe("checkReference", () => {
  it("tells tags from digests and refuses anything else as BAD_REQUEST", () => {
    expect(checkReference("v1.8.0")).toBe("tag");
    expect(checkReference(`sha256:${"a".repeat(64)}`)).toBe("digest");
    for (const bad of ["v1 8", "../x", `sha256:${"A".repeat(64)}`, "-leading-dash", "x".repeat(129)]) {
      expect(() => checkReference(bad)).toThrow(AppError);
    }
  });
});

describe("verifyContent", () => {
  const body = Buffer.from("manifest bytes");
  it("accepts bytes that hash to the digest (sha256 and sha512)", () => {
    expect(() => verifyContent(body, digestOf(body), "m")).not.toThrow();
    expect(() => verifyContent(body, digestOf(body, "sha512"), "m", body.length)).not.toThrow();
  });
  it("refuses other bytes, or a size the descriptor does not give", () => {
    expect(() => verifyContent(Buffer.from("other"), digestOf(body), "m")).toThrow(/content does not match its digest/);
    expect(() => verifyContent(body, digestOf(body), "m", 3)).toThrow(/14 bytes where the descriptor says 3/);
  });
});

describe("parseManifest", () => {
  it("recognises an OCI manifest and an index by shape when mediaType is absent", () => {
    expect(parseManifest(bytes({ schemaVersion: 2, config: d("a"), layers: [] }), null, "m").kind).toBe("image");
    expect(parseManifest(bytes({ schemaVersion: 2, manifests: [d("b")] }), null, "m").kind).toBe("index");
  });
  it("lets the body's mediaType win over the Content-Type header", () => {
    const m = parseManifest(bytes({ schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.list.v2+json", manifests: [] }), "application/json", "m");
    expect(m).toMatchObject({ kind: "index", mediaType: "application/vnd.docker.distribution.manifest.list.v2+json" });
  });
  it("refuses Docker schema 1, non-manifests and unknown media types", () => {
    expect(() => parseManifest(bytes({ schemaVersion: 1, name: "x" }), null, "m")).toThrow(/schema 1/);
    expect(() => parseManifest(bytes({ architecture: "amd64" }), null, "m")).toThrow(/not an image manifest or index/);
    expect(() => parseManifest(bytes({ schemaVersion: 2, mediaType: "application/vnd.cncf.helm.chart" }), null, "m")).toThrow(/unsupported manifest media type/);
  });
});

describe("pickManifest", () => {
  const amd = d("1", { os: "linux", architecture: "amd64" });
  const arm = d("2", { os: "linux", architecture: "arm64", variant: "v8" });
  const attestation = d("3", { os: "unknown", architecture: "unknown" }, { "vnd.docker.reference.type": "attestation-manifest" });
  it("takes the wanted platform", () => {
    expect(pickManifest([arm, attestation, amd], { os: "linux", architecture: "amd64" })).toBe(amd);
    expect(pickManifest([amd, arm], { os: "linux", architecture: "arm64" })).toBe(arm);
  });
  it("falls back to the first runnable entry, never to an attestation", () => {
    expect(pickManifest([attestation, arm], { os: "linux", architecture: "amd64" })).toBe(arm);
    expect(pickManifest([attestation], { os: "linux", architecture: "amd64" })).toBeUndefined();
  });
});

describe("nextLink", () => {
  const at = new URL("https://registry.example/v2/a/tags/list?n=2");
  it("resolves a relative rel=next against the request URL", () => {
    expect(nextLink('</v2/a/tags/list?last=b&n=2>; rel="next"', at)?.href).toBe("https://registry.example/v2/a/tags/list?last=b&n=2");
  });
  it("finds next among several links, quoted or not", () => {
    expect(nextLink('<https://x/prev>; rel="prev", <https://x/next>; rel=next', at)?.href).toBe("https://x/next");
  });
  it("gives null without a next link", () => {
    expect(nextLink(null, at)).toBeNull();
    expect(nextLink('<https://x/prev>; rel="prev"', at)).toBeNull();
  });
});

describe("layoutTag", () => {
  const ref = (v: string) => ({ "org.opencontainers.image.ref.name": v });
  it("reads <repository>:<tag>, which this project writes", () => {
    expect(layoutTag(ref("piksel-core:v1.8.0"), "piksel-core")).toBe("v1.8.0");
    expect(layoutTag(ref("piksel-worker:v1.8.0"), "piksel-core")).toBeNull();
  });
  it("reads a bare tag as a tag of the layout's one repository (skopeo, oras, crane)", () => {
    expect(layoutTag(ref("v1.8.0"), "piksel-core")).toBe("v1.8.0");
  });
  it("reads containerd's full name, with or without a registry host", () => {
    expect(layoutTag({ "io.containerd.image.name": "ghcr.io/piksel-core:v2", ...ref("v2") }, "piksel-core")).toBe("v2");
    expect(layoutTag({ "io.containerd.image.name": "piksel-core:v2" }, "piksel-core")).toBe("v2");
    expect(layoutTag({ "io.containerd.image.name": "other/piksel-core:v2", ...ref("v2") }, "piksel-core")).toBeNull();
    expect(layoutTag({ "io.containerd.image.name": "localhost:5000/piksel-core" }, "piksel-core")).toBeNull();
  });
});
