-- CreateEnum
CREATE TYPE "PromotionState" AS ENUM ('pending', 'approved', 'committed', 'reconciling', 'deployed', 'failed', 'rejected');

-- CreateEnum
CREATE TYPE "PromotionKind" AS ENUM ('promote', 'rollback');

-- CreateTable
CREATE TABLE "promotion" (
    "id" TEXT NOT NULL,
    "kind" "PromotionKind" NOT NULL,
    "environment" TEXT NOT NULL,
    "sourceEnvironment" TEXT,
    "imageName" TEXT NOT NULL,
    "tag" TEXT NOT NULL,
    "digest" TEXT NOT NULL,
    "fromTag" TEXT,
    "fromDigest" TEXT,
    "sourceCommit" TEXT,
    "state" "PromotionState" NOT NULL DEFAULT 'pending',
    "requestedById" TEXT NOT NULL,
    "requestedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "note" TEXT,
    "freezeOverride" BOOLEAN NOT NULL DEFAULT false,
    "approvalsRequired" INTEGER NOT NULL,
    "gitCommit" TEXT,
    "committedAt" TIMESTAMP(3),
    "deployedAt" TIMESTAMP(3),
    "failedAt" TIMESTAMP(3),
    "failureReason" TEXT,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "promotion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "approval" (
    "id" TEXT NOT NULL,
    "promotionId" TEXT NOT NULL,
    "approverId" TEXT NOT NULL,
    "approved" BOOLEAN NOT NULL,
    "note" TEXT,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "approval_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "validation" (
    "id" TEXT NOT NULL,
    "environment" TEXT NOT NULL,
    "digest" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "passed" BOOLEAN NOT NULL,
    "source" TEXT NOT NULL,
    "note" TEXT,
    "recordedBy" TEXT,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "detail" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "validation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "deployment" (
    "id" TEXT NOT NULL,
    "environment" TEXT NOT NULL,
    "imageName" TEXT NOT NULL,
    "tag" TEXT,
    "digest" TEXT NOT NULL,
    "gitCommit" TEXT NOT NULL,
    "firstSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "deployment_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "promotion_environment_requestedAt_idx" ON "promotion"("environment", "requestedAt");

-- CreateIndex
CREATE INDEX "promotion_state_idx" ON "promotion"("state");

-- CreateIndex
CREATE INDEX "promotion_digest_idx" ON "promotion"("digest");

-- CreateIndex
CREATE UNIQUE INDEX "approval_promotionId_approverId_key" ON "approval"("promotionId", "approverId");

-- CreateIndex
CREATE INDEX "validation_environment_digest_idx" ON "validation"("environment", "digest");

-- CreateIndex
CREATE INDEX "deployment_environment_imageName_lastSeenAt_idx" ON "deployment"("environment", "imageName", "lastSeenAt");

-- CreateIndex
CREATE UNIQUE INDEX "deployment_environment_imageName_digest_key" ON "deployment"("environment", "imageName", "digest");

-- AddForeignKey
ALTER TABLE "promotion" ADD CONSTRAINT "promotion_requestedById_fkey" FOREIGN KEY ("requestedById") REFERENCES "user"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "approval" ADD CONSTRAINT "approval_promotionId_fkey" FOREIGN KEY ("promotionId") REFERENCES "promotion"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "approval" ADD CONSTRAINT "approval_approverId_fkey" FOREIGN KEY ("approverId") REFERENCES "user"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- One promotion in flight per target environment, enforced by the database so that concurrent
-- requests (several console replicas, double clicks) cannot both pass: the loser gets CONFLICT.
CREATE UNIQUE INDEX "promotion_one_in_flight_per_environment" ON "promotion" ("environment")
  WHERE "state" IN ('pending', 'approved', 'committed', 'reconciling');
