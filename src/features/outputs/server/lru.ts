/**
 * A least-recently-used map bounded by the bytes of its values (rendered tiles differ tenfold in
 * size: an empty one is ~100 B, a detailed one ~150 KB, so a count bound would be meaningless).
 */
export class ByteLru {
  private readonly entries = new Map<string, Buffer>();
  private total = 0;

  constructor(readonly capacity: number) {
    if (!(capacity > 0)) throw new RangeError(`ByteLru capacity must be > 0 bytes, got ${capacity}`);
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value, made most recently used; undefined when absent. */
  get(key: string): Buffer | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** Stores a value, evicting least recently used ones beyond the capacity. A value larger than the capacity is not kept. */
  set(key: string, value: Buffer): void {
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.total -= old.byteLength;
    }
    if (value.byteLength > this.capacity) return;
    this.entries.set(key, value);
    this.total += value.byteLength;
    // Map iteration order is insertion order: the first key is the least recently used.
    for (const [k, v] of this.entries) {
      if (this.total <= this.capacity) break;
      this.entries.delete(k);
      this.total -= v.byteLength;
    }
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }
}
