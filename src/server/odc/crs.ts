import "server-only";
import proj4 from "proj4";

/** A CRS this code cannot reproject (only EPSG codes with a known definition are supported). */
export class UnsupportedCrsError extends Error {
  constructor(readonly crs: string) {
    super(`unsupported CRS ${JSON.stringify(crs)}: expected EPSG:4326, EPSG:326xx/327xx (WGS 84 / UTM), EPSG:3857 or EPSG:6933`);
    this.name = "UnsupportedCrsError";
  }
}

export type Point = [number, number];

const converters = new Map<string, proj4.Converter>();

/** The EPSG number of "EPSG:32628" / "epsg:32628"; undefined for anything else (WKT, other authorities). */
export function epsgCode(crs: string): number | undefined {
  const m = /^epsg:(\d+)$/i.exec(crs.trim());
  return m ? Number(m[1]) : undefined;
}

/**
 * The PROJ string of the EPSG codes Piksel meets: WGS 84 lon/lat, the UTM zones Sentinel-2 granules are
 * delivered in, web mercator and the EASE-Grid 2.0 of the geomedian product (gm_s2_annual). Built from
 * the code itself so that nothing is looked up over the network (proj4js knows only 4326/3857 itself).
 */
export function projDefinition(epsg: number): string {
  if (epsg === 4326) return "+proj=longlat +datum=WGS84 +no_defs";
  if (epsg === 3857) return "+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs";
  if (epsg === 6933) return "+proj=cea +lat_ts=30 +lon_0=0 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs";
  const zone = epsg % 100;
  if ((epsg - zone === 32600 || epsg - zone === 32700) && zone >= 1 && zone <= 60) {
    return `+proj=utm +zone=${zone}${epsg >= 32700 ? " +south" : ""} +datum=WGS84 +units=m +no_defs`;
  }
  throw new UnsupportedCrsError(`EPSG:${epsg}`);
}

/** Whether coordinates in this CRS are degrees of longitude/latitude (pyproj's `CRS.geographic`). */
export function isGeographic(crs: string): boolean {
  return epsgCode(crs) === 4326;
}

/**
 * A point transformer between two CRSs, always x/y (lon/lat) order as pyproj's `always_xy=True`,
 * which is how datacube-core and odc-tools call it.
 */
export function transformer(from: string, to: string): (p: Point) => Point {
  const src = epsgCode(from);
  const dst = epsgCode(to);
  if (src === undefined) throw new UnsupportedCrsError(from);
  if (dst === undefined) throw new UnsupportedCrsError(to);
  if (src === dst) return (p) => [p[0], p[1]];
  const key = `${src}>${dst}`;
  let converter = converters.get(key);
  if (!converter) {
    // Parsing PROJ strings costs more than transforming a footprint: one converter per pair.
    converter = proj4(projDefinition(src), projDefinition(dst));
    converters.set(key, converter);
  }
  const convert = converter;
  return (p) => {
    const [x, y] = convert.forward([p[0], p[1]]);
    if (x === undefined || y === undefined || !Number.isFinite(x) || !Number.isFinite(y)) {
      throw new RangeError(`point (${p[0]}, ${p[1]}) cannot be transformed from ${from} to ${to}`);
    }
    return [x, y];
  };
}
