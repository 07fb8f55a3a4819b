import "server-only";

/**
 * A failed call to the Kubernetes API, with a message that says which server, what was attempted and
 * what the server (or the network) answered. `status` is the HTTP status when there was one.
 */
export class KubernetesApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    /** The `reason` of the API server's Status object (NotFound, Expired, ServiceUnavailable, ...). */
    readonly reason?: string,
    /** Status.details, which tells a missing object (details.name) from a missing resource type. */
    readonly details?: { name?: string; kind?: string; group?: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "KubernetesApiError";
  }
}

interface StatusBody {
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; group?: string };
}

/** client-node's ApiException carries the body as the raw text of the response. */
function parseStatus(body: unknown): StatusBody | undefined {
  if (typeof body === "object" && body !== null) return body as StatusBody;
  if (typeof body !== "string") return undefined;
  try {
    const parsed = JSON.parse(body) as unknown;
    return typeof parsed === "object" && parsed !== null ? (parsed as StatusBody) : undefined;
  } catch {
    return body.trim() ? { message: body.trim().slice(0, 300) } : undefined;
  }
}

/** The innermost cause of a failed fetch: undici wraps ECONNREFUSED & co. in "fetch failed". */
function networkCause(err: Error): string {
  let cause: unknown = err;
  let text = err.message;
  while (cause instanceof Error && cause.cause) {
    cause = cause.cause;
    if (cause instanceof Error) text = (cause as NodeJS.ErrnoException).code ? `${(cause as NodeJS.ErrnoException).code}: ${cause.message}` : cause.message;
  }
  return text;
}

/**
 * Turns what client-node throws into a KubernetesApiError: ApiException (`code` + `body`, from the
 * generated API classes), the plain Error with `statusCode` that `Watch` passes to its done callback
 * (src/watch.ts: non-200 answers), and undici's network errors.
 */
export function toKubernetesApiError(err: unknown, server: string, action: string): KubernetesApiError {
  if (err instanceof KubernetesApiError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const withCode = e as Error & { code?: unknown; body?: unknown; statusCode?: unknown };
  const status = typeof withCode.code === "number" ? withCode.code : typeof withCode.statusCode === "number" ? withCode.statusCode : undefined;
  if (status !== undefined) {
    const body = parseStatus(withCode.body);
    const reason = body?.reason;
    const what = body?.message ?? (typeof withCode.statusCode === "number" ? e.message : undefined) ?? "no message";
    return new KubernetesApiError(`Kubernetes API ${server}: ${action}: HTTP ${status}${reason ? ` ${reason}` : ""}: ${what}`, status, reason, body?.details, { cause: err });
  }
  if (e.name === "TimeoutError" || e.name === "AbortError") {
    return new KubernetesApiError(`Kubernetes API ${server}: ${action}: ${e.message}`, undefined, undefined, undefined, { cause: err });
  }
  return new KubernetesApiError(`Kubernetes API ${server}: ${action}: unreachable (${networkCause(e)})`, undefined, undefined, undefined, { cause: err });
}
