import "server-only";
import { clamp01, ramp, sampleField, sampleFieldInterpolated, samplePoints, type FieldSpec, type GridWindow } from "./fields";
import { swathSide, type SampleOptions, type Scene, type Tile, type Weather } from "./layout";
import { surfaceClass, type LandCover } from "./surface";

/**
 * What stands between the surface and the sensor on one overpass: thick clouds (bright, opaque at
 * the core, soft at the edge), the shadows they cast away from the sun, thin cirrus (a faint
 * additive veil) and the swath edge (no data). Fields are in world coordinates and depend only on
 * the weather of the overpass, so neighbouring tiles of one date share their clouds.
 */

/** SCL thresholds: how much cloud, shadow or cirrus makes Sen2Cor flag a pixel. */
export const SCL_THRESHOLDS = { cloudHigh: 0.4, cloudMedium: 0.03, shadow: 0.1, cirrus: 0.008 } as const;

/** Reflectance of a thick cloud, REFLECTANCE_BANDS order: bright and white, darker in the SWIR. */
export const CLOUD_SPECTRUM = [0.5, 0.48, 0.47, 0.46, 0.46, 0.45, 0.45, 0.45, 0.44, 0.38, 0.33, 0.22] as const;
/** Relative strength of cirrus per band (ice scatters less in the SWIR). */
export const CIRRUS_SPECTRUM = [1, 1, 1, 1, 1, 0.95, 0.95, 0.9, 0.9, 0.9, 0.6, 0.4] as const;
/** Fraction of the light a full shadow removes (diffuse skylight still reaches the ground). */
export const SHADOW_DEPTH = 0.6;

/** The sky of one scene on one grid, per pixel centre. */
export interface Sky {
  /** Cloud opacity 0..1 (0: no cloud at all). */
  cloud: Float32Array;
  /** Cloud brightness factor where cloud > 0 (thicker cores are brighter). */
  brightness: Float32Array;
  /** Shadow strength 0..1: the cloud opacity of the point that shades this one. */
  shadow: Float32Array;
  /** Additive cirrus reflectance (before the per-band factor); 0: none. */
  cirrus: Float32Array;
  /** 1 where the swath saw the ground, 0 where the pixel is no data. */
  valid: Uint8Array;
}

/**
 * Sky fields are sampled on a 20 m lattice and interpolated to 10 m pixels: their finest features are
 * ~190 m, and sampling every 10 m pixel would make the sky half of a scene's CPU time.
 */
const LATTICE = 20;

const cloudSpec = (w: Weather): FieldSpec => ({ seed: w.cloudSeed, spacing: 6000, octaves: 6, persistence: 0.55 });
const cirrusSpec = (w: Weather): FieldSpec => ({ seed: w.cirrusSeed, spacing: 12000, octaves: 3, stretchX: 3 });

/**
 * The sky model of an archive. The cloud threshold of an overpass is the quantile of its cloud field
 * over the whole sample area that gives the overpass's cover, so the cover is the weather's and not
 * a tile's accident; computed once per overpass on a coarse grid.
 */
export class SkyModel {
  private readonly thresholds = new Map<number, number>();
  private readonly area: GridWindow;

  constructor(
    private readonly opts: SampleOptions,
    tiles: Tile[],
  ) {
    const minx = Math.min(...tiles.map((t) => t.ulx));
    const maxx = Math.max(...tiles.map((t) => t.ulx + t.size * 10));
    const miny = Math.min(...tiles.map((t) => t.uly - t.size * 10));
    const maxy = Math.max(...tiles.map((t) => t.uly));
    const res = Math.max(maxx - minx, maxy - miny) / 96;
    this.area = { x0: minx, y0: maxy, res, width: Math.ceil((maxx - minx) / res), height: Math.ceil((maxy - miny) / res) };
  }

  /** The cloud-field value above which an overpass is cloudy. */
  cloudThreshold(w: Weather): number {
    if (w.cover <= 0) return Infinity;
    let t = this.thresholds.get(w.cloudSeed);
    if (t === undefined) {
      const values = Float32Array.from(sampleField(cloudSpec(w), this.area)).sort();
      t = values[Math.min(values.length - 1, Math.floor((1 - w.cover) * values.length))] as number;
      this.thresholds.set(w.cloudSeed, t);
    }
    return t;
  }

  /** The sky of a scene at the pixel centres of `win` (a window of the scene's tile grid). */
  skyOn(scene: Scene, win: GridWindow): Sky {
    return this.sky(
      scene,
      win.width * win.height,
      (spec, shift) => sampleFieldInterpolated(spec, win, LATTICE, shift),
      (p) => win.x0 + ((p % win.width) + 0.5) * win.res,
      (p) => win.y0 - (Math.floor(p / win.width) + 0.5) * win.res,
    );
  }

  /**
   * The sky at arbitrary positions in the scene's UTM zone, the fields evaluated exactly there (the
   * grid form interpolates 10 m pixels from a 20 m lattice: the two differ by ~3e-4 in field value).
   */
  skyAt(scene: Scene, xs: ArrayLike<number>, ys: ArrayLike<number>): Sky {
    return this.sky(
      scene,
      xs.length,
      (spec, shift) => samplePoints(spec, xs, ys, shift),
      (p) => xs[p] as number,
      (p) => ys[p] as number,
    );
  }

  private sky(scene: Scene, n: number, sample: (spec: FieldSpec, shift: [number, number]) => Float32Array, xOf: (p: number) => number, yOf: (p: number) => number): Sky {
    const w = scene.weather;
    const cloud = new Float32Array(n);
    const brightness = new Float32Array(n);
    const shadow = new Float32Array(n);
    const cirrus = new Float32Array(n);
    const valid = new Uint8Array(n).fill(1);
    const side = swathSide(this.opts, scene.tile.epsg, scene.orbit);
    if (side) for (let p = 0; p < n; p++) if (side(xOf(p), yOf(p)) > 0) valid[p] = 0;
    const t = this.cloudThreshold(w);
    if (Number.isFinite(t)) {
      const field = sample(cloudSpec(w), [0, 0]);
      for (let p = 0; p < n; p++) {
        const v = field[p] as number;
        cloud[p] = ramp(v, t, 0.05);
        brightness[p] = 0.8 + 0.35 * clamp01((v - t) / 0.12);
      }
      // A cloud at height h shades the ground h / tan(elevation) away from the sun: the shadow at p is
      // the cloud found that far from p towards the sun.
      const rad = Math.PI / 180;
      const d = w.cloudHeight / Math.tan(Math.max(5, scene.sun.elevation) * rad);
      const shifted = sample(cloudSpec(w), [d * Math.sin(scene.sun.azimuth * rad), d * Math.cos(scene.sun.azimuth * rad)]);
      for (let p = 0; p < n; p++) shadow[p] = ramp(shifted[p] as number, t, 0.05);
    }
    if (w.cirrus > 0) {
      const field = sample(cirrusSpec(w), [0, 0]);
      for (let p = 0; p < n; p++) cirrus[p] = w.cirrus * ramp(field[p] as number, 0.47, 0.12);
    }
    return { cloud, brightness, shadow, cirrus, valid };
  }
}

/**
 * Scene classification as Sen2Cor would write it from this sky: 0 no data, 9 cloud (high
 * probability), 8 cloud (medium), 3 cloud shadow, 10 thin cirrus, else the surface class
 * (4 vegetation, 5 not vegetated, 6 water). Faint cloud edges, faint shadows and faint cirrus stay
 * unflagged, as they do in real SCL: that is why the geomedian dilates the cloud mask.
 */
export function sceneClassification(sky: Sky, cover: LandCover): Uint8Array {
  const out = new Uint8Array(sky.valid.length);
  for (let p = 0; p < out.length; p++) {
    const cloud = sky.cloud[p] as number;
    out[p] = !sky.valid[p]
      ? 0
      : cloud > SCL_THRESHOLDS.cloudHigh
        ? 9
        : cloud > SCL_THRESHOLDS.cloudMedium
          ? 8
          : (sky.shadow[p] as number) > SCL_THRESHOLDS.shadow
            ? 3
            : (sky.cirrus[p] as number) > SCL_THRESHOLDS.cirrus
              ? 10
              : surfaceClass(cover, p);
  }
  return out;
}

/** Whether a pixel is untouched by any cloud, shadow or cirrus, however faint, and has data. */
export function isClear(sky: Sky, p: number): boolean {
  return sky.valid[p] === 1 && sky.cloud[p] === 0 && sky.shadow[p] === 0 && sky.cirrus[p] === 0;
}

