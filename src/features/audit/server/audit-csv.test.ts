import { describe, expect, it } from "vitest";
import { auditToCsv } from "./audit.service";

const event = {
  id: "7",
  at: new Date("2026-11-25T10:00:00Z"),
  actorEmail: "approver@piksel.local",
  action: "promotion.approve",
  environment: "prod",
  subjectType: "promotion",
  subjectId: "prm_1",
  fromDigest: null,
  toDigest: `sha256:${"a".repeat(64)}`,
  gitCommit: null,
  detail: { note: 'looks "good", ship it' },
};

describe("auditToCsv", () => {
  it("writes a header and one RFC 4180 row per event, quoting what needs it", () => {
    const csv = auditToCsv([event]);
    const [header, row] = csv.split("\r\n");
    expect(header).toBe("id,at,actorEmail,action,environment,subjectType,subjectId,fromDigest,toDigest,gitCommit,detail");
    expect(row).toBe(`7,2026-11-25T10:00:00.000Z,approver@piksel.local,promotion.approve,prod,promotion,prm_1,,sha256:${"a".repeat(64)},,"{""note"":""looks \\""good\\"", ship it""}"`);
  });
  it("neutralises values a spreadsheet would run as formulas", () => {
    const csv = auditToCsv([{ ...event, subjectId: "=HYPERLINK(\"x\")" }]);
    expect(csv).toContain(`"'=HYPERLINK(""x"")"`);
  });
});
