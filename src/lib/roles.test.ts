import { describe, expect, it } from "vitest";
import { hasRole, roleFromGroups } from "./roles";

describe("hasRole", () => {
  it("grants a role the rights of the weaker roles", () => {
    expect(hasRole("admin", "viewer")).toBe(true);
    expect(hasRole("approver", "requester")).toBe(true);
  });
  it("refuses a weaker role and a missing one", () => {
    expect(hasRole("viewer", "requester")).toBe(false);
    expect(hasRole(undefined, "viewer")).toBe(false);
  });
});

describe("roleFromGroups", () => {
  const map = { "piksel-admins": "admin", "piksel-approvers": "approver", analysts: "requester" } as const;
  it("takes the highest mapped role among a user's groups", () => {
    expect(roleFromGroups(["analysts", "piksel-approvers", "other"], map)).toBe("approver");
  });
  it("reads a comma- or space-separated claim", () => {
    expect(roleFromGroups("other,piksel-admins", map)).toBe("admin");
  });
  it("falls back to viewer when no group is mapped or the claim is missing", () => {
    expect(roleFromGroups(["other"], map)).toBe("viewer");
    expect(roleFromGroups(undefined, map)).toBe("viewer");
  });
});
