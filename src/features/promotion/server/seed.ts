import "server-only";
import { randomUUID } from "node:crypto";
import type { PikselConfig } from "~/server/config";
import type { Db } from "~/server/db";
import type { RegistryPort } from "~/server/drivers/registry";

/**
 * The embedded default's workflow history, matching the seeded GitOps rollouts: prod ran v1.5.0
 * before v1.6.0 (a rollback candidate), and CI's smoke test passed for v1.7.0 in staging (the
 * validation staging's policy requires before prod). Idempotent; a factory that tests reuse.
 */
export async function seedPromotionHistory(db: Db, config: PikselConfig, registry: RegistryPort, imageName: string): Promise<void> {
  const digest = (tag: string) => registry.resolve(tag).catch(() => undefined);
  const prod = config.environments[config.environments.length - 1]!.name;
  const staging = config.environments[config.environments.length - 2]?.name;
  const v150 = await digest("v1.5.0");
  if (v150) {
    await db.deployment.upsert({
      where: { environment_imageName_digest: { environment: prod, imageName, digest: v150 } },
      create: { id: randomUUID(), environment: prod, imageName, tag: "v1.5.0", digest: v150, gitCommit: "seed", firstSeenAt: new Date("2026-02-12T10:00:00Z"), lastSeenAt: new Date("2026-03-11T15:30:00Z") },
      update: {},
    });
  }
  const v170 = await digest("v1.7.0");
  if (staging && v170 && !(await db.validation.findFirst({ where: { environment: staging, digest: v170, name: "smoke" } }))) {
    await db.validation.create({ data: { id: randomUUID(), environment: staging, digest: v170, name: "smoke", passed: true, source: "check", note: "CI smoke suite: 42 checks passed against staging", recordedBy: "ci@piksel.local" } });
  }
}
