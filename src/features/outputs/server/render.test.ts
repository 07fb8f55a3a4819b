import { describe, expect, it } from "vitest";
import { composeRgba, stretchByte } from "./render";

describe("stretchByte", () => {
  it("maps min to black, max to white, linearly, clipped", () => {
    expect(stretchByte(0, 0, 3000)).toBe(0);
    expect(stretchByte(1500, 0, 3000)).toBe(128);
    expect(stretchByte(3000, 0, 3000)).toBe(255);
    expect(stretchByte(9000, 0, 3000)).toBe(255);
    expect(stretchByte(50, 100, 3000)).toBe(0);
  });
});

describe("composeRgba", () => {
  it("is opaque where the three bands have data and transparent where any is nodata", () => {
    const r = Uint16Array.from([3000, 0, 1500, 600]);
    const g = Uint16Array.from([3000, 10, 0, 300]);
    const b = Uint16Array.from([3000, 10, 10, 1]);
    const [R, G, B, A] = composeRgba([r, g, b], [0, 3000]);
    expect(Array.from(A!)).toEqual([255, 0, 0, 255]);
    expect([R![3], G![3], B![3]]).toEqual([51, 26, 0]);
    expect([R![0], G![0], B![0]]).toEqual([255, 255, 255]);
  });
});
