import { describe, expect, it } from "vitest";
import { cancelledBy, EXIT_CODES, WorkerError, type WorkerErrorCode } from "./errors";

describe("worker exit codes (the pod failure policy fails an index at once on 2)", () => {
  it("gives 2 to bad input that no retry fixes and 1 to everything worth retrying", () => {
    const codes: [WorkerErrorCode, number][] = [
      ["BAD_TASK", 2],
      ["NO_DATASETS", 2],
      ["UNREADABLE_SOURCE", 1],
      ["OUTPUT_NOT_WRITABLE", 1],
      ["WRITE_FAILED", 1],
      ["INDEX_FAILED", 1],
    ];
    expect(codes.map(([code]) => [code, new WorkerError(code, "x").exitCode])).toEqual(codes);
    expect(EXIT_CODES.badInput).toBe(2);
  });

  it("exits with 128 + the signal's number when a signal stopped the task", () => {
    expect(cancelledBy("SIGTERM")).toMatchObject({ code: "CANCELLED", exitCode: 143 });
    expect(cancelledBy("SIGINT")).toMatchObject({ code: "CANCELLED", exitCode: 130 });
    expect(cancelledBy("SIGTERM").message).toBe("stopped by SIGTERM before the task finished; scratch files removed, no partial output left");
  });
});
