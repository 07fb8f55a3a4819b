import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalUser } from "~/features/auth/server/demo-users";
import type { Role } from "~/lib/roles";
import { loadConfig } from "~/server/config";
import { createLogger } from "~/server/logger";
import type { Context } from "~/server/trpc/init";
import { createCaller } from "~/server/trpc/root";
import { createAppDatabase } from "../support/databases";

let app: Awaited<ReturnType<typeof createAppDatabase>>;
const users: Record<string, { id: string; email: string; name: string; role: Role }> = {};
const config = loadConfig({ PIKSEL_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "piksel-access-")) });

function caller(role: Role | null, headers: Record<string, string> = {}) {
  const ctx: Context = { db: app.db, config, ports: new Map(), log: createLogger({ level: "silent" }), user: role ? users[role]! : null, headers: new Headers(headers) };
  return createCaller(ctx);
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "OK";
  } catch (err) {
    if (err instanceof TRPCError) return err.code;
    throw err;
  }
}

beforeAll(async () => {
  app = await createAppDatabase("access");
  for (const role of ["viewer", "requester", "approver", "admin"] as const) {
    const u = await createLocalUser(app.db, { email: `${role}@test.local`, name: role, role, password: "password-1" });
    users[role] = { id: u.id, email: u.email, name: u.name, role };
  }
});
afterAll(() => app?.drop());

describe("who may call what", () => {
  it("refuses anonymous callers with UNAUTHORIZED", async () => {
    expect(await codeOf(caller(null).audit.list({}))).toBe("UNAUTHORIZED");
    expect(await caller(null).auth.me()).toBeNull();
  });

  it("refuses the admin action to every role below admin, on the server", async () => {
    for (const role of ["viewer", "requester", "approver"] as const) {
      expect(await codeOf(caller(role).auth.setRole({ userId: users.viewer!.id, role: "admin" }))).toBe("FORBIDDEN");
      expect(await codeOf(caller(role).auth.users())).toBe("FORBIDDEN");
    }
    const viewer = await app.db.user.findUniqueOrThrow({ where: { id: users.viewer!.id } });
    expect(viewer.role).toBe("viewer");
  });

  it("refuses a product request from a viewer on the server, and stores nothing", async () => {
    const aoi = { type: "Polygon", coordinates: [[[110.3, -7.8], [110.31, -7.8], [110.31, -7.79], [110.3, -7.79], [110.3, -7.8]]] };
    const input = { environment: "staging", year: 2024, aoi, submissionKey: "00000000-0000-4000-8000-000000000001" };
    expect(await codeOf(caller("viewer").requests.submit(input))).toBe("FORBIDDEN");
    expect(await codeOf(caller("viewer").requests.plan(input))).toBe("FORBIDDEN");
    expect(await codeOf(caller(null).requests.list({}))).toBe("UNAUTHORIZED");
    expect(await app.db.request.count()).toBe(0);
  });

  it("lets an admin change a role and audits it", async () => {
    await caller("admin").auth.setRole({ userId: users.requester!.id, role: "approver" });
    expect((await app.db.user.findUniqueOrThrow({ where: { id: users.requester!.id } })).role).toBe("approver");
    const { events } = await caller("viewer").audit.list({ action: "role-change" });
    expect(events[0]).toMatchObject({ action: "role-change", actorEmail: "admin@test.local", subjectId: "requester@test.local", detail: { from: "requester", to: "approver" } });
  });

  it("does not let an admin remove their own admin role", async () => {
    expect(await codeOf(caller("admin").auth.setRole({ userId: users.admin!.id, role: "viewer" }))).toBe("BAD_REQUEST");
  });

  it("refuses a state-changing call from another site even with a valid session (CSRF)", async () => {
    expect(await codeOf(caller("admin", { origin: "https://evil.example", host: "localhost:3000" }).auth.setRole({ userId: users.viewer!.id, role: "requester" }))).toBe("FORBIDDEN");
    expect(await codeOf(caller("admin", { "sec-fetch-site": "cross-site" }).auth.setRole({ userId: users.viewer!.id, role: "requester" }))).toBe("FORBIDDEN");
    expect(await codeOf(caller("admin", { origin: "http://localhost:3000", host: "localhost:3000" }).auth.setRole({ userId: users.viewer!.id, role: "requester" }))).toBe("OK");
  });
});

describe("the audit log", () => {
  it("is append-only at the database", async () => {
    await expect(app.db.auditEvent.updateMany({ data: { action: "forged" } })).rejects.toThrow(/append-only/);
    await expect(app.db.auditEvent.deleteMany({})).rejects.toThrow(/append-only/);
    await expect(app.db.$executeRawUnsafe("truncate audit_event")).rejects.toThrow(/append-only/);
  });

  it("pages newest first with a cursor", async () => {
    for (let i = 0; i < 5; i++) await caller("admin").auth.setRole({ userId: users.viewer!.id, role: i % 2 ? "viewer" : "requester" });
    const first = await caller("viewer").audit.list({ limit: 2 });
    const second = await caller("viewer").audit.list({ limit: 2, cursor: first.nextBefore });
    expect(first.events).toHaveLength(2);
    expect(BigInt(first.events[1]!.id)).toBeGreaterThan(BigInt(second.events[0]!.id));
  });
});
