import "server-only";
import { transformer, type Point } from "~/server/odc/crs";
import { compactTime, type Scene } from "./layout";
import { hashInts, hashString } from "./random";

/**
 * Sentinel-2 naming and metadata that Earth Search copies into its items and bucket: SAFE product
 * names, granule and datastrip ids, absolute orbits, the sidecar tileinfo_metadata.json and a
 * granule_metadata.xml carrying the sun angles. Deterministic functions of the scene.
 */

/** Per-scene SCL statistics, percentages as Sen2Cor reports them (of valid pixels; no data of the tile). */
export interface SceneStats {
  nodata: number;
  cloudShadow: number;
  vegetation: number;
  notVegetated: number;
  water: number;
  mediumClouds: number;
  highClouds: number;
  thinCirrus: number;
}

/** Cloud cover as Earth Search's eo:cloud_cover (Sen2Cor's cloudy pixel percentage: both cloud classes and cirrus). */
export const cloudCover = (s: SceneStats): number => round6(s.mediumClouds + s.highClouds + s.thinCirrus);

export const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

const LAUNCH = { "sentinel-2a": Date.UTC(2015, 5, 23, 1, 52), "sentinel-2b": Date.UTC(2017, 2, 7, 1, 49) } as const;
/** Orbits per day of a Sentinel-2 satellite (143 orbits in its 10-day cycle). */
const ORBITS_PER_DAY = 14.3;

/** Sentinel-2 naming of a scene's product, granule and datatake. */
export function sceneNames(scene: Scene): {
  sensing: Date;
  processed: Date;
  absoluteOrbit: number;
  productUri: string;
  granuleId: string;
  datastripId: string;
  datatakeId: string;
} {
  const sensing = new Date(scene.datetime);
  // Start of the datatake: a few minutes before this granule is sensed.
  const datatakeStart = new Date(sensing.getTime() - (4 * 60 + 11) * 1000);
  // Ground processing finished three to five hours after sensing.
  const processed = new Date(sensing.getTime() + (3 * 3600 + (hashInts(hashString(scene.id)) % 7200)) * 1000);
  const absoluteOrbit = Math.floor(((sensing.getTime() - LAUNCH[scene.platform]) / 86_400_000) * ORBITS_PER_DAY) + 1;
  const sat = scene.platform === "sentinel-2a" ? "S2A" : "S2B";
  const n = `N${scene.baseline.replace(".", "")}`;
  const orbit = `R${String(scene.relativeOrbit).padStart(3, "0")}`;
  const abs = String(absoluteOrbit).padStart(6, "0");
  return {
    sensing,
    processed,
    absoluteOrbit,
    productUri: `${sat}_MSIL2A_${compactTime(datatakeStart)}_${n}_${orbit}_T${scene.tile.code}_${compactTime(processed)}.SAFE`,
    granuleId: `${sat}_OPER_MSI_L2A_TL_2APS_${compactTime(processed)}_A${abs}_T${scene.tile.code}_N${scene.baseline}`,
    datastripId: `${sat}_OPER_MSI_L2A_DS_2APS_${compactTime(processed)}_S${compactTime(datatakeStart)}_N${scene.baseline}`,
    datatakeId: `G${sat}_${compactTime(datatakeStart)}_${abs}_N${scene.baseline}`,
  };
}

/** The footprint in lon/lat (a closed ring). */
export function footprintLonLat(scene: Scene): Point[] {
  const toLonLat = transformer(`EPSG:${scene.tile.epsg}`, "EPSG:4326");
  return scene.footprint.map((p) => toLonLat(p));
}

const crsName = (epsg: number) => ({ type: "name", properties: { name: `urn:ogc:def:crs:EPSG:8.8.1:${epsg}` } });

/** The tileInfo.json that Sentinel-2 on AWS keeps beside each granule (Earth Search: tileinfo_metadata). */
export function tileInfoJson(scene: Scene, stats: SceneStats): Record<string, unknown> {
  const names = sceneNames(scene);
  const t = scene.tile;
  const w = t.size * 10;
  const d = names.sensing;
  const square = [
    [t.ulx, t.uly],
    [t.ulx + w, t.uly],
    [t.ulx + w, t.uly - w],
    [t.ulx, t.uly - w],
    [t.ulx, t.uly],
  ];
  return {
    path: `tiles/${t.zone}/${t.latitudeBand}/${t.gridSquare}/${d.getUTCFullYear()}/${d.getUTCMonth() + 1}/${d.getUTCDate()}/0`,
    timestamp: scene.datetime,
    utmZone: t.zone,
    latitudeBand: t.latitudeBand,
    gridSquare: t.gridSquare,
    datastrip: { id: names.datastripId, path: `products/${d.getUTCFullYear()}/${d.getUTCMonth() + 1}/${d.getUTCDate()}/${names.productUri.replace(/\.SAFE$/, "")}/datastrip/0` },
    tileGeometry: { type: "Polygon", crs: crsName(t.epsg), coordinates: [square] },
    tileDataGeometry: { type: "Polygon", crs: crsName(t.epsg), coordinates: [scene.footprint] },
    tileOrigin: { type: "Point", crs: crsName(t.epsg), coordinates: [t.ulx, t.uly] },
    dataCoveragePercentage: round6(100 - stats.nodata),
    cloudyPixelPercentage: cloudCover(stats),
    productName: names.productUri.replace(/\.SAFE$/, ""),
    productPath: `products/${d.getUTCFullYear()}/${d.getUTCMonth() + 1}/${d.getUTCDate()}/${names.productUri.replace(/\.SAFE$/, "")}`,
  };
}

/** A reduced MTD_TL.xml: ids, geocoding of the three grids and the mean sun angles. */
export function granuleMetadataXml(scene: Scene): string {
  const names = sceneNames(scene);
  const t = scene.tile;
  const grids = [10, 20, 60]
    .map((res) => {
      const n = (t.size * 10) / res;
      return [
        `      <Size resolution="${res}">\n        <NROWS>${n}</NROWS>\n        <NCOLS>${n}</NCOLS>\n      </Size>`,
        `      <Geoposition resolution="${res}">\n        <ULX>${t.ulx}</ULX>\n        <ULY>${t.uly}</ULY>\n        <XDIM>${res}</XDIM>\n        <YDIM>${-res}</YDIM>\n      </Geoposition>`,
      ];
    })
    .flatMap(([size, geo]) => [size as string, geo as string]);
  return `<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-2A_Tile_Metadata.xsd">
  <n1:General_Info>
    <TILE_ID metadataLevel="Brief">${names.granuleId}</TILE_ID>
    <DATASTRIP_ID metadataLevel="Standard">${names.datastripId}</DATASTRIP_ID>
    <SENSING_TIME metadataLevel="Standard">${scene.datetime}</SENSING_TIME>
    <Archiving_Info metadataLevel="Expertise">
      <ARCHIVING_CENTRE>2APS</ARCHIVING_CENTRE>
      <ARCHIVING_TIME>${names.processed.toISOString()}</ARCHIVING_TIME>
    </Archiving_Info>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>WGS84 / UTM zone ${t.zone}${t.epsg >= 32700 ? "S" : "N"}</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>EPSG:${t.epsg}</HORIZONTAL_CS_CODE>
${grids.join("\n")}
    </Tile_Geocoding>
    <Tile_Angles metadataLevel="Standard">
      <Mean_Sun_Angle>
        <ZENITH_ANGLE unit="deg">${(90 - scene.sun.elevation).toFixed(6)}</ZENITH_ANGLE>
        <AZIMUTH_ANGLE unit="deg">${scene.sun.azimuth.toFixed(6)}</AZIMUTH_ANGLE>
      </Mean_Sun_Angle>
    </Tile_Angles>
  </n1:Geometric_Info>
</n1:Level-2A_Tile_ID>
`;
}
