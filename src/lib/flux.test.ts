import { describe, expect, it } from "vitest";
import { revisionCommit } from "./flux";

const sha = "8993ca1b5f6e2c3d4a5b6c7d8e9f00112233aabb";
describe("revisionCommit", () => {
  it("reads the RFC-0005 form", () => expect(revisionCommit(`main@sha1:${sha}`)).toBe(sha));
  it("reads the old branch/sha form", () => expect(revisionCommit(`main/${sha}`)).toBe(sha));
  it("reads a branch name with slashes in the RFC-0005 form", () => expect(revisionCommit(`release/2026@sha1:${sha}`)).toBe(sha));
  it("gives null for nothing applied yet or a non-git revision", () => {
    expect(revisionCommit(null)).toBeNull();
    expect(revisionCommit("")).toBeNull();
    expect(revisionCommit("latest@sha256:not-hex")).toBeNull();
  });
});
