import { describe, expect, it } from "vitest";
import { abortReason, untilAborted } from "./abort";
import { cancelledBy } from "./errors";

describe("untilAborted: stop waiting for work that cannot be cancelled", () => {
  it("settles as the work does while the signal stays quiet", async () => {
    const controller = new AbortController();
    await expect(untilAborted(Promise.resolve(7), controller.signal)).resolves.toBe(7);
    await expect(untilAborted(Promise.reject(new Error("read failed")), controller.signal)).rejects.toThrow("read failed");
  });

  it("rejects with the signal's reason at the abort, without waiting for the work", async () => {
    const controller = new AbortController();
    let finish!: () => void;
    const work = new Promise<void>((resolve) => (finish = resolve));
    const waiting = untilAborted(work, controller.signal);
    controller.abort(cancelledBy("SIGTERM"));
    await expect(waiting).rejects.toMatchObject({ code: "CANCELLED", exitCode: 143 });
    finish();
  });

  it("leaves a failure of the abandoned work unobserved instead of an unhandled rejection", async () => {
    const controller = new AbortController();
    let fail!: (e: Error) => void;
    const work = new Promise<void>((_, reject) => (fail = reject));
    const waiting = untilAborted(work, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: "CANCELLED", message: "stopped before the task finished" });
    fail(new Error("late"));
    // An unhandled rejection would fail this test run (vitest reports them as errors).
    await new Promise((resolve) => setTimeout(resolve, 10));
  });

  it("names a plain abort as CANCELLED", () => {
    const controller = new AbortController();
    controller.abort();
    expect(abortReason(controller.signal)).toMatchObject({ code: "CANCELLED", exitCode: 143 });
  });
});
