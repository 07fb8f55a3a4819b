import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseTaskIndex, readTaskFromList, taskFromList } from "./task-list";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-task-list-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("the task of a Job's completion index (--task-list, --task-index)", () => {
  it("takes line N for index N of the list the Job's ConfigMap mounts (one id per line, newline at the end)", () => {
    const list = "2024--P1Y/10/-4\n2024--P1Y/11/-4\n2024--P1Y/12/-4\n";
    expect([0, 1, 2].map((i) => taskFromList(list, i, "tasks"))).toEqual(["2024--P1Y/10/-4", "2024--P1Y/11/-4", "2024--P1Y/12/-4"]);
    // Written elsewhere: no final newline, CRLF line ends.
    expect(taskFromList("2024--P1Y/1/2\r\n2024--P1Y/3/4", 1, "tasks")).toBe("2024--P1Y/3/4");
  });

  it("refuses an index beyond the list, naming how many tasks it has", () => {
    expect(() => taskFromList("2024--P1Y/10/-4\n2024--P1Y/11/-4\n", 2, "/etc/piksel/tasks/tasks")).toThrow(
      expect.objectContaining({ code: "BAD_TASK", exitCode: 2, message: "--task-index 2: /etc/piksel/tasks/tasks lists 2 tasks (indexes 0 to 1); the Job's completions and its task list disagree" }),
    );
  });

  it("refuses an empty or malformed line with its line number", () => {
    expect(() => taskFromList("2024--P1Y/10/-4\n\n2024--P1Y/12/-4\n", 1, "tasks")).toThrow("line 2 of tasks (task index 1) is empty: expected one task id such as 2024--P1Y/304/68");
    expect(() => taskFromList("2024--P1Y/10 /-4\n", 0, "tasks")).toThrow('line 1 of tasks (task index 0) is "2024--P1Y/10 /-4": expected one task id');
  });

  it("parses the index as the Job controller writes it and says when $(JOB_COMPLETION_INDEX) was not expanded", () => {
    expect(parseTaskIndex("0")).toBe(0);
    expect(parseTaskIndex("41")).toBe(41);
    expect(() => parseTaskIndex("-1")).toThrow("--task-index -1: expected a whole number from 0, the Job's completion index");
    expect(() => parseTaskIndex("1.5")).toThrow(expect.objectContaining({ code: "BAD_TASK" }));
    expect(() => parseTaskIndex("$(JOB_COMPLETION_INDEX)")).toThrow(/did not expand: is JOB_COMPLETION_INDEX set on the container\?/);
  });

  it("reads the file, and says what is wrong with a missing one or a directory", async () => {
    const file = path.join(dir, "tasks");
    fs.writeFileSync(file, "2024--P1Y/10/-4\n2024--P1Y/11/-4\n");
    await expect(readTaskFromList(file, 1)).resolves.toBe("2024--P1Y/11/-4");
    await expect(readTaskFromList(path.join(dir, "missing"), 0)).rejects.toMatchObject({
      code: "BAD_TASK",
      message: `--task-list ${path.join(dir, "missing")}: no such file; it should be the task list the Job mounts (one task id per line)`,
    });
    await expect(readTaskFromList(dir, 0)).rejects.toThrow(`--task-list ${dir}: it is a directory`);
  });
});
