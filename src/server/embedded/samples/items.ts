import "server-only";
import { createHash } from "node:crypto";
import { REFLECTANCE_BANDS, type Scene } from "./layout";
import { cloudCover, footprintLonLat, round6, sceneNames, type SceneStats } from "./metadata";

/**
 * Earth Search v1 `sentinel-2-l2a` items for the sample scenes, with the same properties, assets
 * (COGs and their requester-pays `-jp2` twins), `raster:bands`, `proj:*` and links as the real ones
 * (tests/reference/datacube/fixtures/), so that the indexer meets here what it meets in production.
 */

export const COLLECTION_ID = "sentinel-2-l2a";
const COG = "image/tiff; application=geotiff; profile=cloud-optimized";

/** Where the sample files and the STAC API are served. */
export interface SampleUrls {
  /** STAC API root, e.g. http://127.0.0.1:54330/v1 (no trailing slash). */
  stac: string;
  /** Root of the file tree, e.g. http://127.0.0.1:54330/files (no trailing slash). */
  files: string;
}

/**
 * `api`: as Earth Search's API serves it (self = the API item URL, canonical = the JSON in the
 * bucket, parent/collection/root links); `bucket`: the copy stored beside the COGs (self and
 * canonical = that JSON).
 */
export type ItemForm = "api" | "bucket";

/** Python's `datetime.isoformat()` with microseconds, as Earth Search writes `created`/`updated`. */
const isoMicros = (d: Date, zone: "Z" | "+00:00") => `${d.toISOString().slice(0, 19)}.${String(d.getUTCMilliseconds()).padStart(3, "0")}000${zone}`;

/** Earth-Sun distance correction of the day (ESA's U: 1 / d^2). */
function reflectanceConversionFactor(d: Date): number {
  const doy = Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
  return 1 / (1 - 0.01672 * Math.cos((0.9856 * (doy - 4) * Math.PI) / 180)) ** 2;
}

/** The JSON of a scene's item in the bucket (what the `canonical` link points at), relative to the file root. */
export const itemJsonPath = (scene: Scene): string => `${scene.dir}/${scene.id}.json`;

export function buildItem(scene: Scene, stats: SceneStats, urls: SampleUrls, form: ItemForm = "api"): Record<string, unknown> {
  const names = sceneNames(scene);
  const t = scene.tile;
  const folder = `${urls.files}/${scene.dir}`;
  const jp2 = `s3://sentinel-s2-l2a/tiles/${t.zone}/${t.latitudeBand}/${t.gridSquare}/${names.sensing.getUTCFullYear()}/${names.sensing.getUTCMonth() + 1}/${names.sensing.getUTCDate()}/0`;
  const n10 = t.size;
  const grid = (res: number) => ({ "proj:shape": [(n10 * 10) / res, (n10 * 10) / res], "proj:transform": [res, 0, t.ulx, 0, -res, t.uly] });
  // Reflectance = DN x 0.0001 + offset; from baseline 04.00 the DNs carry +1000, so the offset is -0.1.
  const offset = scene.offsetDn ? -scene.offsetDn / 10000 : 0;
  const reflectance = (b: (typeof REFLECTANCE_BANDS)[number]) => ({
    title: b.title,
    "eo:bands": [{ name: b.key, common_name: b.common, description: b.title.replace(/ - \d+m$/, ""), center_wavelength: b.wavelength, full_width_half_max: b.fwhm }],
    gsd: b.res,
    ...grid(b.res),
    "raster:bands": [{ nodata: 0, data_type: "uint16", bits_per_sample: 15, spatial_resolution: b.res, scale: 0.0001, offset }],
    roles: ["data", "reflectance"],
  });
  const aot = { title: "Aerosol optical thickness (AOT)", ...grid(20), "raster:bands": [{ nodata: 0, data_type: "uint16", bits_per_sample: 15, spatial_resolution: 20, scale: 0.001, offset: 0 }], roles: ["data", "reflectance"] };
  const wvp = { title: "Water vapour (WVP)", ...grid(20), "raster:bands": [{ nodata: 0, data_type: "uint16", bits_per_sample: 15, spatial_resolution: 20, unit: "cm", scale: 0.001, offset: 0 }], roles: ["data", "reflectance"] };
  const scl = { title: "Scene classification map (SCL)", ...grid(20), "raster:bands": [{ nodata: 0, data_type: "uint8", spatial_resolution: 20 }], roles: ["data", "reflectance"] };
  const rgb = ["red", "green", "blue"].map((k) => REFLECTANCE_BANDS.find((b) => b.key === k) as (typeof REFLECTANCE_BANDS)[number]);
  const visual = {
    title: "True color image",
    "eo:bands": rgb.map((b) => ({ name: b.key, common_name: b.common, description: b.title.replace(/ - \d+m$/, ""), center_wavelength: b.wavelength, full_width_half_max: b.fwhm })),
    ...grid(10),
    roles: ["visual"],
  };
  const cogs: Record<string, Record<string, unknown> & { file: string }> = {
    aot: { file: "AOT", ...aot },
    ...Object.fromEntries(REFLECTANCE_BANDS.map((b) => [b.key, { file: b.file, ...reflectance(b) }])),
    scl: { file: "SCL", ...scl },
    visual: { file: "TCI", ...visual },
    wvp: { file: "WVP", ...wvp },
  };
  const assets: Record<string, unknown> = {};
  const sortedKeys = [...Object.keys(cogs), "granule_metadata", "thumbnail", "tileinfo_metadata"].sort();
  for (const key of sortedKeys) {
    if (key === "granule_metadata") assets[key] = { href: `${folder}/granule_metadata.xml`, type: "application/xml", roles: ["metadata"] };
    else if (key === "thumbnail") assets[key] = { href: `${folder}/thumbnail.jpg`, type: "image/jpeg", title: "Thumbnail image", roles: ["thumbnail"] };
    else if (key === "tileinfo_metadata") assets[key] = { href: `${folder}/tileinfo_metadata.json`, type: "application/json", roles: ["metadata"] };
    else {
      const { file, title, ...rest } = cogs[key] as Record<string, unknown> & { file: string };
      assets[key] = { href: `${folder}/${file}.tif`, type: COG, title, ...rest };
    }
  }
  // The requester-pays JPEG 2000 originals Earth Search lists too (the indexer must skip them).
  for (const key of Object.keys(cogs).sort()) {
    const { file, title, ...rest } = cogs[key] as Record<string, unknown> & { file: string };
    assets[`${key}-jp2`] = { href: `${jp2}/${file}.jp2`, type: "image/jp2", title, ...rest };
  }

  const ring = footprintLonLat(scene);
  const lons = ring.map((p) => p[0]);
  const lats = ring.map((p) => p[1]);
  // Items of scenes sensed before Earth Search v1 existed were made in its November 2022 backfill.
  const backfill = Date.UTC(2022, 10, 3) + (parseInt(createHash("sha1").update(scene.id).digest("hex").slice(0, 8), 16) % (3 * 86_400_000));
  const created = new Date(Math.max(names.processed.getTime() + 2 * 3600_000 + 17_482, backfill));
  const selfUrl = form === "api" ? `${urls.stac}/collections/${COLLECTION_ID}/items/${scene.id}` : `${urls.files}/${itemJsonPath(scene)}`;
  const links: Record<string, unknown>[] = [
    { rel: "self", href: selfUrl, type: form === "api" ? "application/geo+json" : "application/json" },
    { rel: "canonical", href: `${urls.files}/${itemJsonPath(scene)}`, type: "application/json" },
    { rel: "license", href: "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice" },
    { rel: "derived_from", href: `${urls.stac}/collections/sentinel-2-l1c/items/${scene.id.replace(/_L2A$/, "_L1C")}`, type: "application/geo+json" },
  ];
  if (form === "api") {
    links.push(
      { rel: "parent", href: `${urls.stac}/collections/${COLLECTION_ID}`, type: "application/json" },
      { rel: "collection", href: `${urls.stac}/collections/${COLLECTION_ID}`, type: "application/json" },
      { rel: "root", href: urls.stac, type: "application/json" },
    );
  }
  return {
    type: "Feature",
    stac_version: "1.0.0",
    id: scene.id,
    properties: {
      created: isoMicros(created, "+00:00"),
      platform: scene.platform,
      constellation: "sentinel-2",
      instruments: ["msi"],
      "eo:cloud_cover": cloudCover(stats),
      "proj:epsg": t.epsg,
      "mgrs:utm_zone": t.zone,
      "mgrs:latitude_band": t.latitudeBand,
      "mgrs:grid_square": t.gridSquare,
      "grid:code": `MGRS-${t.code}`,
      "view:sun_azimuth": scene.sun.azimuth,
      "view:sun_elevation": scene.sun.elevation,
      "s2:degraded_msi_data_percentage": 0,
      "s2:nodata_pixel_percentage": round6(stats.nodata),
      "s2:saturated_defective_pixel_percentage": 0,
      "s2:dark_features_percentage": 0,
      "s2:cloud_shadow_percentage": round6(stats.cloudShadow),
      "s2:vegetation_percentage": round6(stats.vegetation),
      "s2:not_vegetated_percentage": round6(stats.notVegetated),
      "s2:water_percentage": round6(stats.water),
      "s2:unclassified_percentage": 0,
      "s2:medium_proba_clouds_percentage": round6(stats.mediumClouds),
      "s2:high_proba_clouds_percentage": round6(stats.highClouds),
      "s2:thin_cirrus_percentage": round6(stats.thinCirrus),
      "s2:snow_ice_percentage": 0,
      "s2:product_type": "S2MSI2A",
      "s2:processing_baseline": scene.baseline,
      "s2:product_uri": names.productUri,
      "s2:generation_time": isoMicros(names.processed, "Z").replace(/\.\d{6}Z$/, ".000000Z"),
      "s2:datatake_id": names.datatakeId,
      "s2:datatake_type": "INS-NOBS",
      "s2:datastrip_id": names.datastripId,
      "s2:granule_id": names.granuleId,
      "s2:reflectance_conversion_factor": reflectanceConversionFactor(names.sensing),
      datetime: isoMicros(names.sensing, "Z"),
      "s2:sequence": "0",
      "earthsearch:s3_path": `s3://sentinel-cogs/${scene.dir}`,
      "earthsearch:payload_id": `roda-sentinel2/workflow-sentinel2-to-stac/${createHash("md5").update(scene.id).digest("hex")}`,
      // The DNs of baseline >= 04.00 scenes keep ESA's +1000 (raster:bands offset -0.1), as most of Earth Search's do.
      "earthsearch:boa_offset_applied": false,
      "processing:software": { "sentinel2-to-stac": "0.1.1" },
      updated: isoMicros(created, "+00:00"),
    },
    geometry: { type: "Polygon", coordinates: [ring] },
    links,
    assets,
    bbox: [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)],
    stac_extensions: [
      "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
      "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
      "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
      "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
      "https://stac-extensions.github.io/view/v1.0.0/schema.json",
      "https://stac-extensions.github.io/eo/v1.0.0/schema.json",
      "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    ],
    collection: COLLECTION_ID,
  };
}

/** The `sentinel-2-l2a` collection document, its extent from the items served. */
export function collectionDocument(urls: SampleUrls, extent: { bbox: number[]; start: string | null; end: string | null }): Record<string, unknown> {
  return {
    type: "Collection",
    stac_version: "1.0.0",
    stac_extensions: ["https://stac-extensions.github.io/item-assets/v1.0.0/schema.json"],
    id: COLLECTION_ID,
    title: "Sentinel-2 Level-2A (Piksel samples)",
    description:
      "Synthetic Sentinel-2 L2A scenes over west Java in the format of Element 84's Earth Search v1 collection: Cloud-Optimized GeoTIFFs of surface reflectance on the native 10, 20 and 60 m grids, scene classification, clouds with shadows, both processing baselines. Generated from a known true surface for testing.",
    keywords: ["sentinel", "earth observation", "esa", "synthetic"],
    license: "proprietary",
    providers: [
      { name: "ESA", roles: ["producer"], url: "https://earth.esa.int/web/guest/home" },
      { name: "Piksel (synthetic samples)", roles: ["processor", "host"] },
    ],
    extent: { spatial: { bbox: [extent.bbox] }, temporal: { interval: [[extent.start, extent.end]] } },
    summaries: {
      platform: ["sentinel-2a", "sentinel-2b"],
      constellation: ["sentinel-2"],
      instruments: ["msi"],
      gsd: [10, 20, 60],
      "view:off_nadir": [0],
    },
    item_assets: Object.fromEntries(
      REFLECTANCE_BANDS.map((b) => [b.key, { title: b.title, type: COG, roles: ["data", "reflectance"], gsd: b.res, "eo:bands": [{ name: b.key, common_name: b.common, center_wavelength: b.wavelength, full_width_half_max: b.fwhm }] }]),
    ),
    links: [
      { rel: "self", type: "application/json", href: `${urls.stac}/collections/${COLLECTION_ID}` },
      { rel: "parent", type: "application/json", href: urls.stac },
      { rel: "root", type: "application/json", href: urls.stac },
      { rel: "items", type: "application/geo+json", href: `${urls.stac}/collections/${COLLECTION_ID}/items` },
      { rel: "license", href: "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice" },
    ],
  };
}
