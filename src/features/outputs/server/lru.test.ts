import { describe, expect, it } from "vitest";
import { ByteLru } from "./lru";

const bytes = (n: number) => Buffer.alloc(n, 1);

describe("ByteLru", () => {
  it("evicts the least recently used values once the bytes exceed the capacity", () => {
    const lru = new ByteLru(100);
    lru.set("a", bytes(40));
    lru.set("b", bytes(40));
    expect(lru.get("a")?.byteLength).toBe(40); // a is now the most recent
    lru.set("c", bytes(40));
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toBeDefined();
    expect(lru.get("c")).toBeDefined();
    expect(lru.bytes).toBe(80);
  });

  it("replaces a value under the same key and counts only the new bytes", () => {
    const lru = new ByteLru(100);
    lru.set("a", bytes(60));
    lru.set("a", bytes(10));
    expect(lru.bytes).toBe(10);
    expect(lru.size).toBe(1);
  });

  it("does not keep a value larger than the whole capacity, and drops the old one of that key", () => {
    const lru = new ByteLru(100);
    lru.set("a", bytes(10));
    lru.set("a", bytes(101));
    expect(lru.get("a")).toBeUndefined();
    expect(lru.bytes).toBe(0);
  });

  it("refuses a capacity that cannot hold anything", () => {
    expect(() => new ByteLru(0)).toThrow(/capacity/);
  });
});
