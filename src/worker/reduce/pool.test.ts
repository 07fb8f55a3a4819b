import { afterAll, describe, expect, it } from "vitest";

import { makeSyntheticCube } from "../../../tests/reference/geomad/synthetic-cube";

import { geomedianWithMads, type GeomedianResult } from "./geomedian";
import { GeomedianPool, type GeomedianChunk } from "./pool";

function expectSameBits(actual: GeomedianResult, expected: GeomedianResult): void {
  for (const key of ["median", "smad", "emad", "bcmad"] as const) {
    expect(new Uint32Array(actual[key].buffer, actual[key].byteOffset, actual[key].length), key).toEqual(
      new Uint32Array(expected[key].buffer, expected[key].byteOffset, expected[key].length),
    );
  }
  expect(actual.count).toEqual(expected.count);
}

describe("GeomedianPool", () => {
  const pool = new GeomedianPool({ size: 2 });
  afterAll(() => pool.close());

  it("gives the same bits as the single-thread kernel, chunk by chunk", async () => {
    const chunks = [1, 2, 3, 4, 5].map((seed) => makeSyntheticCube({ seed, height: 6, width: 20, times: 25 }));
    const expected = chunks.map(({ cube, dims }) => geomedianWithMads(cube, dims));
    const results = await Promise.all(chunks.map(({ cube, dims }) => pool.run({ cube: cube.slice(), dims })));
    results.forEach((result, i) => expectSameBits(result, expected[i]!));
  });

  it("moves the cube to the worker and hands it back unchanged", async () => {
    const { cube, dims } = makeSyntheticCube({ seed: 9, height: 2, width: 8, times: 5 });
    const copy = cube.slice();
    const result = await pool.run({ cube, dims });
    expect(cube.length).toBe(0); // transferred: the caller's view is detached
    expect(result.cube).toEqual(copy);
  });

  it("shares a cube on a SharedArrayBuffer instead of moving it", async () => {
    const { cube, dims } = makeSyntheticCube({ seed: 10, height: 2, width: 8, times: 5 });
    const shared = new Float32Array(new SharedArrayBuffer(cube.byteLength));
    shared.set(cube);
    const result = await pool.run({ cube: shared, dims });
    expect(shared.length).toBe(cube.length);
    expectSameBits(result, geomedianWithMads(cube, dims));
  });

  it("copies a cube that is a view on part of a larger buffer, leaving that buffer usable", async () => {
    const { cube, dims } = makeSyntheticCube({ seed: 12, height: 2, width: 8, times: 5 });
    const big = new Float32Array(cube.length + 16);
    big.set(cube, 16);
    const result = await pool.run({ cube: big.subarray(16), dims });
    expect(big.length).toBe(cube.length + 16);
    expectSameBits(result, geomedianWithMads(cube, dims));
  });

  it("rejects a chunk whose dims do not match its cube without touching a worker", async () => {
    await expect(pool.run({ cube: new Float32Array(7), dims: { bands: 10, times: 1, pixels: 1 } })).rejects.toThrow(RangeError);
  });

  it("reduces a lazy stream of chunks with at most `size` in flight and a consumer that applies backpressure", async () => {
    let pulled = 0;
    let finished = 0;
    let maxOutstanding = 0;
    async function* chunks(): AsyncGenerator<GeomedianChunk & { index: number }> {
      for (let index = 0; index < 7; index++) {
        pulled++;
        maxOutstanding = Math.max(maxOutstanding, pulled - finished);
        const { cube, dims } = makeSyntheticCube({ seed: 100 + index, height: 3, width: 10, times: 12 });
        yield { cube, dims, index };
      }
    }
    const seen: number[] = [];
    await pool.reduce(chunks(), async (result, chunk) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const expected = makeSyntheticCube({ seed: 100 + chunk.index, height: 3, width: 10, times: 12 });
      expectSameBits(result, geomedianWithMads(expected.cube, expected.dims));
      seen.push(chunk.index);
      finished++;
    });
    expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(maxOutstanding).toBeLessThanOrEqual(pool.size);
  });

  it("stops pulling chunks after a failure and rethrows it", async () => {
    let pulled = 0;
    function* chunks(): Generator<GeomedianChunk> {
      for (let i = 0; i < 20; i++) {
        pulled++;
        yield makeSyntheticCube({ seed: i, height: 1, width: 4, times: 3 });
      }
    }
    await expect(
      pool.reduce(chunks(), () => {
        throw new Error("writer failed");
      }),
    ).rejects.toThrow("writer failed");
    expect(pulled).toBeLessThan(20);
  });

  it("fails a chunk whose buffer another queued chunk has already moved, and keeps working", async () => {
    const single = new GeomedianPool({ size: 1 });
    const busy = makeSyntheticCube({ seed: 14, height: 8, width: 8, times: 20 });
    const { cube, dims } = makeSyntheticCube({ seed: 13, height: 2, width: 8, times: 5 });
    const running = single.run(busy);
    // Both wait behind `running`; when the first is sent, the buffer they share moves with it.
    const first = single.run({ cube, dims });
    const second = single.run({ cube: new Float32Array(cube.buffer), dims });
    await expect(second).rejects.toThrow(/moved \(detached\)/);
    await expect(running).resolves.toBeDefined();
    await expect(first).resolves.toBeDefined();
    const again = makeSyntheticCube({ seed: 13, height: 2, width: 8, times: 5 });
    const expected = geomedianWithMads(again.cube, again.dims);
    expectSameBits(await single.run(again), expected);
    await single.close();
  });

  it("refuses work once closed", async () => {
    const other = new GeomedianPool({ size: 1 });
    const { cube, dims } = makeSyntheticCube({ seed: 1, height: 1, width: 4, times: 3 });
    await other.run({ cube: cube.slice(), dims });
    await other.close();
    await expect(other.run({ cube, dims })).rejects.toThrow(/closed/);
  });

  it("defaults its size to the available parallelism and rejects a bad size", () => {
    expect(new GeomedianPool().size).toBeGreaterThanOrEqual(1);
    expect(() => new GeomedianPool({ size: 0 })).toThrow(RangeError);
  });
});
