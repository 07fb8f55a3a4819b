import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { latestProgress, parseProgressLine, PROGRESS_MESSAGE, type Progress, type TaskOutputs } from "./progress";

/** Lines exactly as the CLI logs them: pino JSON, the worker's child logger, message "progress". */
function logLines(events: (Progress | { info: string })[]): string[] {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      done();
    },
  });
  const log = pino({ base: { service: "piksel" } }, sink).child({ component: "worker", task: "2024--P1Y/304/68", env: "dev" });
  for (const e of events) {
    if ("info" in e) log.info({ datasets: 3 }, e.info);
    else log.info(e, PROGRESS_MESSAGE);
  }
  return lines;
}

const outputs: TaskOutputs = {
  status: "done",
  id: "5b4a1c0e-6f0e-5d3c-9a51-0d2a7e7c1f00",
  uri: "s3://piksel-dev-data/derived/gm_s2_annual/1-0-0/x304/y068/2024--P1Y/gm_s2_annual_x304y068_2024--P1Y_final.odc-metadata.yaml",
  stac: "s3://piksel-dev-data/derived/gm_s2_annual/1-0-0/x304/y068/2024--P1Y/gm_s2_annual_x304y068_2024--P1Y_final.stac-item.json",
  bands: { B02: "s3://piksel-dev-data/derived/gm_s2_annual/1-0-0/x304/y068/2024--P1Y/gm_s2_annual_x304y068_2024--P1Y_final_B02.tif" },
  indexed: true,
};

describe("parseProgressLine: the worker's progress lines as the console reads them", () => {
  it("reads stage, step, percent, task and time from a line the worker's logger wrote", () => {
    const [line] = logLines([{ stage: "reduce", chunk: 3, of: 16, percent: 52.3 }]);
    const parsed = parseProgressLine(line!);
    expect(parsed).toMatchObject({ stage: "reduce", chunk: 3, of: 16, percent: 52.3, task: "2024--P1Y/304/68" });
    expect(parsed!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(parsed).not.toHaveProperty("outputs");
  });

  it("reads the outputs from the final line of a finished task", () => {
    const lines = logLines([
      { stage: "write", chunk: 16, of: 16, percent: 98 },
      { stage: "done", chunk: 1, of: 1, percent: 100, outputs },
    ]);
    expect(parseProgressLine(lines[1]!)).toMatchObject({ stage: "done", percent: 100, outputs });
  });

  it("returns null for lines that are not progress: notes, the CLI's one-line failure, garbage, truncated JSON", () => {
    const [note] = logLines([{ info: "planned" }]);
    expect(parseProgressLine(note!)).toBeNull();
    expect(parseProgressLine("piksel: no s2_l2a datasets in the index of environment dev for task 2024--P1Y/304/68")).toBeNull();
    expect(parseProgressLine("")).toBeNull();
    expect(parseProgressLine('{"msg":"progress","stage":"reduce","chunk":3,"of":16,"perc')).toBeNull();
  });

  it("returns null for a progress line whose fields are not the format (an unknown stage, a percent beyond 100)", () => {
    expect(parseProgressLine('{"msg":"progress","stage":"upload","chunk":1,"of":1,"percent":5}')).toBeNull();
    expect(parseProgressLine('{"msg":"progress","stage":"read","chunk":1,"of":1,"percent":101}')).toBeNull();
    expect(parseProgressLine('{"msg":"progress","stage":"read","chunk":-1,"of":1,"percent":1}')).toBeNull();
    expect(parseProgressLine('{"msg":"progress","stage":"read","chunk":1,"of":4,"percent":12.5}')).toEqual({ stage: "read", chunk: 1, of: 4, percent: 12.5 });
  });

  it("latestProgress picks the last progress line among a task's log lines", () => {
    const lines = logLines([{ stage: "plan", chunk: 0, of: 1, percent: 0 }, { info: "planned" }, { stage: "read", chunk: 1, of: 4, percent: 12.1 }, { info: "source dataset left out" }]);
    expect(latestProgress(lines)).toMatchObject({ stage: "read", chunk: 1, of: 4, percent: 12.1 });
    expect(latestProgress(["piksel: cannot read"])).toBeNull();
  });
});
