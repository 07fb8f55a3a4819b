import "server-only";

/**
 * Expected failures and their fixed meaning (STYLE.md 6). Services throw these; the tRPC layer maps
 * each code once to the tRPC code of the same name. Anything else is a bug and surfaces as a 500.
 */
export const appErrorCodes = ["BAD_REQUEST", "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "PRECONDITION_FAILED"] as const;
export type AppErrorCode = (typeof appErrorCodes)[number];

export class AppError extends Error {
  constructor(
    readonly code: AppErrorCode,
    message: string,
    /** Machine-readable detail the UI may show (e.g. the unmet conditions of a refused promotion). */
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "AppError";
  }
}
