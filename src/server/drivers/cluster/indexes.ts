import "server-only";

/**
 * The text format of a set of completion indexes that the Job controller writes into
 * `status.completedIndexes` and `status.failedIndexes` (pkg/controller/job/indexed_job_utils.go
 * orderedIntervals.String / parseIndexesFromString): increasing decimal numbers separated by commas,
 * three or more consecutive numbers written `first-last`, two written `a,b`. Example: "1,3-5,7".
 */

/** Parses the format; entries at or past `limit` (the Job's completions) are dropped, as the controller does. */
export function parseIndexes(text: string | null | undefined, limit = Number.MAX_SAFE_INTEGER): number[] {
  if (!text) return [];
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const [a, b] = part.trim().split("-");
    const first = Number(a);
    if (!a || !Number.isInteger(first) || first < 0) continue;
    const last = b === undefined ? first : Number(b);
    if (!Number.isInteger(last)) continue;
    for (let i = first; i <= Math.min(last, limit - 1); i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** Writes the format from any list of indexes (sorted and deduplicated here). */
export function formatIndexes(indexes: Iterable<number>): string {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    const first = sorted[i]!;
    const last = sorted[j]!;
    if (last === first) parts.push(String(first));
    else if (last === first + 1) parts.push(`${first},${last}`);
    else parts.push(`${first}-${last}`);
    i = j + 1;
  }
  return parts.join(",");
}
