import "server-only";
import { parseOdcYaml } from "./definitions";

/**
 * The ODC definitions Piksel indexes with, verbatim from upstream (Apache-2.0) so that they stay
 * comparable: the `eo3` metadata type (opendatacube/datacube-core,
 * datacube/index/default-metadata-types.yaml), the `s2_l2a` product whose band names are Earth Search
 * v1's asset keys (opendatacube/datacube-dataset-config, products/s2_l2a.odc-product.yaml) and the
 * annual geomedian product (digitalearthafrica/config, products/gm_s2_annual.odc-product.yaml, which
 * uses the same `eo3` metadata type). Kept as YAML text so that a bundler needs no file access.
 */

export const eo3MetadataTypeYaml = `name: eo3
description: Default EO3 with no custom fields
dataset:
  id: [id] # No longer configurable in newer ODCs.
  sources: [lineage, source_datasets] # No longer configurable in newer ODCs.

  grid_spatial: [grid_spatial, projection]
  measurements: [measurements]
  creation_dt: [properties, 'odc:processing_datetime']
  label: [label]
  format: [properties, 'odc:file_format']

  search_fields:
    platform:
      description: Platform code
      offset: [properties, 'eo:platform']
      indexed: false

    instrument:
      description: Instrument name
      offset: [properties, 'eo:instrument']
      indexed: false

    product_family:
      description: Product family code
      offset: [properties, 'odc:product_family']
      indexed: false

    region_code:
      description: >
        Spatial reference code from the provider.
        For Landsat region_code is a scene path row:
                '{:03d}{:03d}.format(path,row)'.
        For Sentinel it is MGRS code.
        In general it is a unique string identifier that datasets
        covering roughly the same spatial region share.

      offset: [properties, 'odc:region_code']

    dataset_maturity:
      description: One of - final|interim|nrt  (near real time)
      offset: [properties, 'dea:dataset_maturity']
      indexed: false

    cloud_cover:
      description: Cloud cover percentage [0, 100]
      type: double
      offset: [properties, 'eo:cloud_cover']
      indexed: false

    time:
      description: Acquisition time range
      type: datetime-range
      min_offset:
        - [properties, 'dtr:start_datetime']
        - [properties, datetime]
      max_offset:
        - [properties, 'dtr:end_datetime']
        - [properties, datetime]

    # LonLat bounding box, generated on the fly from:
    #  \`grids\`, \`crs\` and \`geometry\` of the new metadata format
    #
    # Bounding box is defined by two ranges:
    #   [lon.begin, lon.end] -- Longitude
    #   [lat.begin, lat.end] -- Latitude
    #
    # Note that STAC is using \`bbox\` for the same thing as following:
    #
    #     bbox: [left, bottom, right, top]
    #              0      1      2     3
    #             lon    lat    lon   lat
    #
    # But MetadataType does not support integer index keys, so...
    #   BoundingBox: [lon.begin, lat.begin, lon.end, lat.end]

    lon:
      description: Longitude range
      type: double-range
      min_offset:
        - [extent, lon, begin]
      max_offset:
        - [extent, lon, end]

    lat:
      description: Latitude range
      type: double-range
      min_offset:
        - [extent, lat, begin]
      max_offset:
        - [extent, lat, end]

`;

export const s2L2aProductYaml = `---
name: s2_l2a
description: Sentinel-2a and Sentinel-2b imagery, processed to Level
  2A (Surface Reflectance) and converted to Cloud Optimized GeoTIFFs
metadata_type: eo3

metadata:
  product:
    name: s2_l2a

measurements:
  - name: "coastal"
    aliases: [band_01, B01, coastal_aerosol]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "blue"
    aliases: [band_02, B02]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "green"
    aliases: [band_03, B03, green]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "red"
    aliases: [band_04, B04, red]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "rededge1"
    aliases: [band_05, B05, red_edge_1]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "rededge2"
    aliases: [band_06, B06, red_edge_2]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "rededge3"
    aliases: [band_07, B07, red_edge_3]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "nir"
    aliases: [band_08, B08, nir, nir_1]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "nir08"
    aliases: [band_8a, B8A, nir_narrow, nir_2]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "nir09"
    aliases: [band_09, B09, water_vapour]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "swir16"
    aliases: [band_11, B11, swir_1, swir_16]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "swir22"
    aliases: [band_12, B12, swir_2, swir_22]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "scl"
    aliases: [mask, SCL, qa]
    units: "1"
    dtype: uint8
    nodata: 0
    flags_definition:
      qa:
        bits: [0, 1, 2, 3, 4, 5, 6, 7]
        description: Sen2Cor Scene Classification
        values:
          0: no data
          1: saturated or defective
          2: dark area pixels
          3: cloud shadows
          4: vegetation
          5: bare soils
          6: water
          7: unclassified
          8: cloud medium probability
          9: cloud high probability
          10: thin cirrus
          11: snow or ice

  - name: "aot"
    aliases: [aerosol_optical_thickness, AOT]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "wvp"
    aliases: [scene_average_water_vapour, WVP]
    units: "1"
    dtype: uint16
    nodata: 0
`;

export const gmS2AnnualProductYaml = `---
name: gm_s2_annual
description: Surface Reflectance Annual Geometric Median and Median
  Absolute Deviations, Sentinel-2
metadata_type: eo3

license: CC-BY-4.0

metadata:
  product:
    name: gm_s2_annual

storage:
  crs: EPSG:6933
  resolution:
    x: 10
    y: -10

measurements:
  - name: "B02"
    aliases: [band_02, blue]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "B03"
    aliases: [band_03, green]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "B04"
    aliases: [band_04, red]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "B05"
    aliases: [band_05, red_edge_1]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "B06"
    aliases: [band_06, red_edge_2]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "B07"
    aliases: [band_07, red_edge_3]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "B08"
    aliases: [band_08, nir, nir_1]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "B8A"
    aliases: [band_8a, nir_narrow, nir_2]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "B11"
    aliases: [band_11, swir_1, swir_16]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "B12"
    aliases: [band_12, swir_2, swir_22]
    units: "1"
    dtype: uint16
    nodata: 0

  - name: "SMAD"
    aliases: [smad, sdev, SDEV]
    units: "1"
    dtype: float32
    nodata: .nan

  - name: "EMAD"
    aliases: [emad, edev, EDEV]
    units: "1"
    dtype: float32
    nodata: .nan

  - name: "BCMAD"
    aliases: [bcmad, bcdev, BCDEV]
    units: "1"
    dtype: float32
    nodata: .nan

  - name: "COUNT"
    aliases: [count]
    units: "1"
    dtype: uint16
    nodata: 0
`;

/** The parsed documents, in the order they must be added: metadata type first, then products. */
export function standardDefinitions(): { metadataTypes: unknown[]; products: unknown[] } {
  return {
    metadataTypes: parseOdcYaml(eo3MetadataTypeYaml),
    products: [...parseOdcYaml(s2L2aProductYaml), ...parseOdcYaml(gmS2AnnualProductYaml)],
  };
}
