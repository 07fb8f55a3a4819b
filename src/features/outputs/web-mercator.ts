/**
 * The XYZ tile scheme of web maps (EPSG:3857, "Google" / OSM numbering: x east, y south from the
 * top-left, 2^z tiles a side). Pure maths, shared by the tile endpoint and the map layer helper.
 */

/** Half the side of the EPSG:3857 square, metres (pi x the WGS 84 semi-major axis). */
export const MERCATOR_HALF = Math.PI * 6_378_137;
/** Latitude where the EPSG:3857 square ends, degrees. */
export const MERCATOR_MAX_LAT = 85.0511287798066;
/** Deepest zoom the endpoint renders (MapLibre overzooms beyond the source's maxzoom anyway). */
export const MAX_ZOOM = 24;

/** An XYZ tile address. */
export interface XyzTile {
  z: number;
  x: number;
  y: number;
}

/** Whether (z, x, y) names a tile: whole numbers, z in [0, MAX_ZOOM], x and y in [0, 2^z). */
export function isXyzTile(t: XyzTile): boolean {
  const n = 2 ** t.z;
  return [t.z, t.x, t.y].every(Number.isInteger) && t.z >= 0 && t.z <= MAX_ZOOM && t.x >= 0 && t.x < n && t.y >= 0 && t.y < n;
}

/** The tile's EPSG:3857 bounds in metres. */
export function xyzMercatorBounds(t: XyzTile): { left: number; bottom: number; right: number; top: number } {
  const size = (2 * MERCATOR_HALF) / 2 ** t.z;
  const left = -MERCATOR_HALF + t.x * size;
  const top = MERCATOR_HALF - t.y * size;
  return { left, bottom: top - size, right: left + size, top };
}

const latOf = (yFraction: number) => (Math.atan(Math.sinh(Math.PI * (1 - 2 * yFraction))) * 180) / Math.PI;

/** The tile's lon/lat bounds [west, south, east, north] (a mercator tile is a lon/lat rectangle). */
export function xyzLonLatBounds(t: XyzTile): [number, number, number, number] {
  const n = 2 ** t.z;
  return [(t.x / n) * 360 - 180, latOf((t.y + 1) / n), ((t.x + 1) / n) * 360 - 180, latOf(t.y / n)];
}
