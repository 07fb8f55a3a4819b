import "server-only";
import type pg from "pg";
import type { Logger } from "~/server/logger";
import { coverageTablesExist, refreshCoverage, type RefreshResult } from "./summaries";

/**
 * What the indexer calls after each run, whatever its outcome (a cancelled or failed run has
 * committed batches too): brings the coverage summaries up to date with what the run wrote. Never
 * fails the run: the index is right whatever happens here, and the next run or
 * `piksel index coverage` catches the summaries up. Null when not refreshed.
 */
export async function refreshCoverageAfterRun(db: pg.Pool, environment: string, log: Logger): Promise<RefreshResult | null> {
  try {
    if (!(await coverageTablesExist(db))) {
      log.info({ environment }, "coverage summaries not refreshed: index migration 0002_coverage_summaries is not applied here");
      return null;
    }
    const result = await refreshCoverage(db);
    log.info({ environment, ...result }, "coverage summaries refreshed");
    return result;
  } catch (err) {
    log.warn({ err, environment }, `coverage summaries not refreshed; \`piksel index coverage --env ${environment}\` catches them up`);
    return null;
  }
}
