import { PNG } from "pngjs";

/** Parses a PNG screenshot. */
export function decodePng(buffer: Buffer): PNG {
  return PNG.sync.read(buffer);
}

const hex = (c: string) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)) as [number, number, number];

/**
 * Share of pixels within `tolerance` (per channel) of a colour, in a region of the image
 * (fractions of width/height; default the whole image).
 */
export function colourShare(png: PNG, colour: string, region = { x0: 0, y0: 0, x1: 1, y1: 1 }, tolerance = 40): number {
  const [r, g, b] = hex(colour);
  const xs = [Math.floor(region.x0 * png.width), Math.ceil(region.x1 * png.width)];
  const ys = [Math.floor(region.y0 * png.height), Math.ceil(region.y1 * png.height)];
  let hits = 0;
  let total = 0;
  for (let y = ys[0]!; y < ys[1]!; y++) {
    for (let x = xs[0]!; x < xs[1]!; x++) {
      const i = (y * png.width + x) * 4;
      total++;
      if (Math.abs(png.data[i]! - r) <= tolerance && Math.abs(png.data[i + 1]! - g) <= tolerance && Math.abs(png.data[i + 2]! - b) <= tolerance) hits++;
    }
  }
  return total ? hits / total : 0;
}
