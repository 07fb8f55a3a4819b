/**
 * The commit sha of a Flux revision: `main@sha1:<sha>` (RFC-0005: the digest follows the last `@`)
 * or the older `main/<sha>`; null when there is none.
 */
export function revisionCommit(revision: string | null | undefined): string | null {
  if (!revision) return null;
  const at = revision.lastIndexOf("@");
  const tail = at >= 0 ? revision.slice(at + 1) : revision.slice(revision.lastIndexOf("/") + 1);
  const sha = tail.includes(":") ? tail.slice(tail.indexOf(":") + 1) : tail;
  return /^[0-9a-f]{7,64}$/.test(sha) ? sha : null;
}
