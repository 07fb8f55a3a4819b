import { reflectanceOffset } from "~/features/indexing/stac-to-eo3";

/**
 * Where the worker reads a dataset's measurements from, and how reflectance is harmonised.
 *
 * Measurement paths of EO3 documents are relative to the dataset's location (datacube's
 * `Dataset.uri` + `measurement.path`, `datacube.utils.uris.uri_resolve`) unless they are absolute:
 * `stac-to-dc` writes `B04.tif` for the bucket-copy form of Earth Search (location
 * `s3://sentinel-cogs/.../S2A_..._L2A.json`) and the full https URL for the API form.
 */

const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;

/** The href of a measurement path, resolved against the dataset's location URI when relative. */
export function resolveHref(location: string | undefined, path: string): string {
  if (SCHEME.test(path)) return path;
  if (location === undefined) throw new RangeError(`measurement path ${JSON.stringify(path)} is relative and the dataset has no location`);
  return new URL(path, location).href;
}

// Earth Search's public COG bucket, served over https without credentials (REFERENCE.md D); its
// s3:// URIs appear in the bucket-copy form of the items.
const PUBLIC_HTTPS_BUCKETS: Readonly<Record<string, string>> = {
  "sentinel-cogs": "https://sentinel-cogs.s3.us-west-2.amazonaws.com",
};

/**
 * The GDAL path of an href: `/vsicurl/` for http(s) (range requests, no credentials), the public
 * Earth Search bucket mapped to its https endpoint, `/vsis3/` for other s3:// objects (credentials
 * from GDAL's AWS chain), a plain path for file:// and local paths.
 */
export function gdalPath(href: string): string {
  if (/^https?:\/\//i.test(href)) return `/vsicurl/${href}`;
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/i.exec(href);
  if (s3) {
    const [, bucket, key] = s3 as unknown as [string, string, string];
    const https = PUBLIC_HTTPS_BUCKETS[bucket];
    return https ? `/vsicurl/${https}/${key}` : `/vsis3/${bucket}/${key}`;
  }
  if (/^file:\/\//i.test(href)) return decodeURIComponent(new URL(href).pathname);
  if (SCHEME.test(href)) throw new RangeError(`unsupported href ${href}: expected http(s)://, s3:// or file://`);
  return href;
}

/** Reflectance per DN of Sentinel-2 L2A (REFERENCE.md D). */
export const DN_SCALE = 1e-4;

/**
 * The reflectance offset of a dataset from its EO3 properties: -0.1 from processing baseline 04.00
 * unless `earthsearch:boa_offset_applied` is true (the rule of the indexing slice, `reflectanceOffset`).
 */
export function datasetOffset(properties: Record<string, unknown>): number {
  return reflectanceOffset(properties);
}

/** Reflectance of a DN: `DN x 0.0001 + offset`; DN 0 is nodata (NaN). */
export function dnToReflectance(dn: number, offset: number): number {
  return dn === 0 ? NaN : dn * DN_SCALE + offset;
}
