import { describe, expect, it } from "vitest";
import { WorkerError } from "~/worker/errors";
import { exitCodeOf } from "./action";

describe("the CLI's exit code for an error", () => {
  it("is the error's own exit code when it has one, else 1", () => {
    expect(exitCodeOf(new WorkerError("NO_DATASETS", "none"))).toBe(2);
    expect(exitCodeOf(new WorkerError("WRITE_FAILED", "disk full"))).toBe(1);
    expect(exitCodeOf(new Error("boom"))).toBe(1);
    expect(exitCodeOf("a string")).toBe(1);
    expect(exitCodeOf(null)).toBe(1);
    // Not a usable process exit code: 0 would report success, 256 wraps around.
    expect(exitCodeOf(Object.assign(new Error("x"), { exitCode: 0 }))).toBe(1);
    expect(exitCodeOf(Object.assign(new Error("x"), { exitCode: 256 }))).toBe(1);
  });
});
