import "server-only";

/**
 * Sample Sentinel-2 L2A data for the embedded default and the tests: a deterministic generator of
 * scenes over west Java with a known true surface, served by the local STAC API and file server.
 * See docs/adr/0011-sample-data.md.
 */
export { openSampleArchive, optionsHash, GENERATOR_VERSION, type SampleArchive, type SampleArchiveOptions, type SceneMasks, type PointMasks, type Positions, type TargetGrid, type ArchiveFile, type GenerateFilter } from "./archive";
export { buildItem, collectionDocument, COLLECTION_ID, itemJsonPath, type SampleUrls, type ItemForm } from "./items";
export { normalizeOptions, sampleOptionsSchema, planTiles, planScenes, tileGrid, baselineFor, BAND_KEYS, REFLECTANCE_BANDS, DEFAULT_AREA, type BandKey, type SampleOptions, type SampleOptionsInput, type Scene, type Tile } from "./layout";
export type { SceneStats } from "./metadata";
export { SCENE_FILES } from "./scene";
export { SCL_THRESHOLDS } from "./sky";
export { SIGNATURES, type PixelWindow } from "./surface";
