import "server-only";

/** What every port has: which driver serves it, where, and a reachability check. */
export interface Port {
  /** Driver name as in configuration, e.g. "s3" or "local". */
  readonly driver: string;
  /** Where it points, for people: a URL, a bucket or a path (never a secret). */
  readonly endpoint: string;
  /** Resolves with a short detail when reachable; rejects with the reason when not. */
  check(): Promise<string>;
}

/** Rejects after `ms` so that one unreachable system cannot stall a readiness probe. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

/** Hides the password of a connection URL. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}
