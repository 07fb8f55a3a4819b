/** Lon/lat bounds of a tile or a dataset, inclusive. */
export interface Box {
  west: number;
  south: number;
  east: number;
  north: number;
}

/** The sorted distinct values and, for a query range, the first and last index that overlap it. */
function axis(values: number[][]) {
  const keys = [...new Map(values.map(([lo, hi]) => [`${lo}:${hi}`, [lo!, hi!] as const])).values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return {
    keys,
    /** Indexes of the intervals [lo, hi] meeting [from, to] (inclusive), assuming they do not nest. */
    meeting(from: number, to: number): [number, number] {
      // First interval whose end reaches `from`: grid rows and columns are sorted by both ends.
      let lo = 0;
      let hi = keys.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (keys[mid]![1] < from) lo = mid + 1;
        else hi = mid;
      }
      let last = lo - 1;
      while (last + 1 < keys.length && keys[last + 1]![0] <= to) last++;
      return [lo, last];
    },
  };
}

/**
 * How many of `datasets` meet each tile, with the overlap ODC's search uses (inclusive ranges), in one
 * pass: the grid's tiles share their columns' lon ranges and their rows' lat ranges (an equal-area
 * cylindrical grid), so each dataset finds its columns and rows by binary search. Cost: the number of
 * datasets times log(columns), plus the sum of the counts. Tiles of a non-cylindrical grid would still
 * be counted right, only slower.
 */
export function countPerTile(tiles: readonly Box[], datasets: readonly Box[]): number[] {
  const cols = axis(tiles.map((t) => [t.west, t.east]));
  const rows = axis(tiles.map((t) => [t.south, t.north]));
  const colOf = new Map(cols.keys.map(([lo, hi], i) => [`${lo}:${hi}`, i]));
  const rowOf = new Map(rows.keys.map(([lo, hi], i) => [`${lo}:${hi}`, i]));
  const tileAt = new Map<number, number>();
  tiles.forEach((t, i) => tileAt.set(colOf.get(`${t.west}:${t.east}`)! * rows.keys.length + rowOf.get(`${t.south}:${t.north}`)!, i));
  const counts = new Array<number>(tiles.length).fill(0);
  for (const d of datasets) {
    const [c0, c1] = cols.meeting(d.west, d.east);
    if (c1 < c0) continue;
    const [r0, r1] = rows.meeting(d.south, d.north);
    for (let c = c0; c <= c1; c++) {
      for (let r = r0; r <= r1; r++) {
        const i = tileAt.get(c * rows.keys.length + r);
        if (i !== undefined) counts[i]!++;
      }
    }
  }
  return counts;
}
