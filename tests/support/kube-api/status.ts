import { qualifiedName, type ResourceType } from "./resources";

/**
 * `Status` objects as kube-apiserver returns them for failures (k8s.io/apimachinery/pkg/api/errors
 * errors.go: NewNotFound, NewAlreadyExists, NewConflict, NewInvalid, NewResourceExpired, ...).
 * Clients key off `code` and `reason`, people read `message`.
 */
export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: { reason: string; message: string; field: string }[] };
  code: number;
}

export class StatusError extends Error {
  constructor(readonly status: Status) {
    super(status.message);
  }
}

function failure(code: number, reason: string, message: string, details?: Status["details"]): StatusError {
  return new StatusError({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code });
}

const detailsOf = (r: ResourceType, name: string) => ({ name, ...(r.group ? { group: r.group } : {}), kind: r.name });

export const notFound = (r: ResourceType, name: string) => failure(404, "NotFound", `${qualifiedName(r)} "${name}" not found`, detailsOf(r, name));

/** An unknown path or resource type: details are empty, which is how a client tells it from a missing object. */
export const unknownResource = () => failure(404, "NotFound", "the server could not find the requested resource", {});

export const alreadyExists = (r: ResourceType, name: string) =>
  failure(409, "AlreadyExists", `${qualifiedName(r)} "${name}" already exists`, detailsOf(r, name));

export const conflict = (r: ResourceType, name: string) =>
  failure(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedName(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    detailsOf(r, name),
  );

export const invalid = (r: ResourceType, name: string, causes: { field: string; message: string }[]) =>
  failure(
    422,
    "Invalid",
    `${r.kind}${r.group ? `.${r.group}` : ""} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(", ")}`,
    { ...detailsOf(r, name), kind: r.kind, causes: causes.map((c) => ({ reason: "FieldValueInvalid", message: c.message, field: c.field })) },
  );

export const badRequest = (message: string) => failure(400, "BadRequest", message);

export const methodNotAllowed = () => failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");

export const unsupportedMediaType = (type: string) => failure(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${type})`);

export const unauthorized = () => failure(401, "Unauthorized", "Unauthorized");

/** What a watch from a compacted resourceVersion gets (cacher/watch_cache.go getAllEventsSinceLocked). */
export const expired = (requested: number, oldest: number) => failure(410, "Expired", `too old resource version: ${requested} (${oldest})`);

export const tooLargeResourceVersion = (requested: number, current: number) =>
  failure(504, "Timeout", `Too large resource version: ${requested}, current: ${current}`);

/** An injected outage: 503 ServiceUnavailable or 500 InternalError, as the server says them. */
export function outage(code: number): Status {
  if (code === 503) return failure(503, "ServiceUnavailable", "the server is currently unable to handle the request").status;
  if (code === 429) return failure(429, "TooManyRequests", "the server has received too many requests and has asked us to try again later").status;
  return failure(code, "InternalError", "Internal error occurred: injected failure of the test API server").status;
}

export function success(r: ResourceType, name: string, uid: string): Status {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { ...detailsOf(r, name), uid }, code: 200 };
}
