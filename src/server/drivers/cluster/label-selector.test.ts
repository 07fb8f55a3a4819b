import { describe, expect, it } from "vitest";
import { labelSelector } from "./label-selector";

const labels = { app: "piksel-core", tier: "web", "app.kubernetes.io/part-of": "piksel" };

describe("labelSelector", () => {
  it("matches everything when empty", () => {
    expect(labelSelector(undefined)(labels)).toBe(true);
    expect(labelSelector("  ")(undefined)).toBe(true);
  });
  it("supports equality and inequality", () => {
    expect(labelSelector("app=piksel-core")(labels)).toBe(true);
    expect(labelSelector("app==piksel-core,tier=web")(labels)).toBe(true);
    expect(labelSelector("app!=piksel-core")(labels)).toBe(false);
    expect(labelSelector("missing!=x")(labels)).toBe(true);
  });
  it("supports set-based requirements with commas inside parentheses", () => {
    expect(labelSelector("tier in (api, web),app.kubernetes.io/part-of=piksel")(labels)).toBe(true);
    expect(labelSelector("tier notin (web)")(labels)).toBe(false);
    expect(labelSelector("missing notin (web)")(labels)).toBe(true);
    expect(labelSelector("missing in (web)")(labels)).toBe(false);
  });
  it("supports existence", () => {
    expect(labelSelector("tier")(labels)).toBe(true);
    expect(labelSelector("!tier")(labels)).toBe(false);
    expect(labelSelector("!missing")(undefined)).toBe(true);
  });
  it("refuses a malformed selector, as the API server answers 400", () => {
    expect(() => labelSelector("app=(x")).toThrow(/invalid label selector/);
  });
});
