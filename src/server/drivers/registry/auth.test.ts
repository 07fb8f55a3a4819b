import { describe, expect, it } from "vitest";
import { parseChallenges } from "./auth";

describe("parseChallenges", () => {
  it("reads a token challenge as Docker Hub sends it", () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"')).toEqual([
      { scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/nginx:pull" } },
    ]);
  });

  it("keeps commas inside quoted values (a scope with several actions)", () => {
    expect(parseChallenges('Bearer realm="https://r/token",scope="repository:a/b:pull,push",error="insufficient_scope"')[0]!.params).toEqual({
      realm: "https://r/token",
      scope: "repository:a/b:pull,push",
      error: "insufficient_scope",
    });
  });

  it("separates several challenges joined into one header by fetch", () => {
    expect(parseChallenges('Basic realm="Registry Realm", Bearer realm="https://r/token",service="reg"').map((c) => [c.scheme, c.params])).toEqual([
      ["basic", { realm: "Registry Realm" }],
      ["bearer", { realm: "https://r/token", service: "reg" }],
    ]);
  });

  it("accepts unquoted values, spaces around '=', any case and escaped quotes", () => {
    expect(parseChallenges('bearer Realm = https://r/token, service=reg, note="a \\"quoted\\" word"')).toEqual([
      { scheme: "bearer", params: { realm: "https://r/token", service: "reg", note: 'a "quoted" word' } },
    ]);
  });

  it("steps over a token68 credential and reads the next challenge", () => {
    expect(parseChallenges('Negotiate abc123==, Bearer realm="r"').map((c) => c.scheme)).toEqual(["negotiate", "bearer"]);
  });

  it("gives nothing for an empty header", () => {
    expect(parseChallenges("")).toEqual([]);
  });
});
