-- CreateEnum
CREATE TYPE "RequestState" AS ENUM ('submitting', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled');

-- CreateEnum
CREATE TYPE "TaskState" AS ENUM ('pending', 'running', 'retrying', 'succeeded', 'failed', 'cancelled');

-- CreateTable
CREATE TABLE "request" (
    "id" TEXT NOT NULL,
    "environment" TEXT NOT NULL,
    "product" TEXT NOT NULL,
    "period" TEXT NOT NULL,
    "grid" TEXT NOT NULL,
    "aoi" JSONB NOT NULL,
    "areaKm2" DOUBLE PRECISION NOT NULL,
    "title" TEXT,
    "submissionKey" TEXT,
    "state" "RequestState" NOT NULL DEFAULT 'submitting',
    "image" TEXT NOT NULL,
    "digest" TEXT NOT NULL,
    "tag" TEXT,
    "job" JSONB,
    "submitAttempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3),
    "lastError" TEXT,
    "retries" INTEGER NOT NULL DEFAULT 0,
    "message" TEXT,
    "requestedById" TEXT NOT NULL,
    "requestedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "submittedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "cancelledBy" TEXT,
    "syncedAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "request_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "request_task" (
    "requestId" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "taskId" TEXT NOT NULL,
    "x" INTEGER NOT NULL,
    "y" INTEGER NOT NULL,
    "bounds" JSONB NOT NULL,
    "scenes" INTEGER NOT NULL,
    "state" "TaskState" NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "exitCode" INTEGER,
    "reason" TEXT,
    "pod" TEXT,
    "progress" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "stage" TEXT,
    "lastLog" TEXT,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "request_task_pkey" PRIMARY KEY ("requestId","index")
);

-- CreateIndex
CREATE UNIQUE INDEX "request_submissionKey_key" ON "request"("submissionKey");

-- CreateIndex
CREATE INDEX "request_environment_requestedAt_idx" ON "request"("environment", "requestedAt");

-- CreateIndex
CREATE INDEX "request_requestedById_requestedAt_idx" ON "request"("requestedById", "requestedAt");

-- CreateIndex
CREATE INDEX "request_state_idx" ON "request"("state");

-- CreateIndex
CREATE INDEX "request_task_requestId_state_idx" ON "request_task"("requestId", "state");

-- AddForeignKey
ALTER TABLE "request" ADD CONSTRAINT "request_requestedById_fkey" FOREIGN KEY ("requestedById") REFERENCES "user"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "request_task" ADD CONSTRAINT "request_task_requestId_fkey" FOREIGN KEY ("requestId") REFERENCES "request"("id") ON DELETE CASCADE ON UPDATE CASCADE;
