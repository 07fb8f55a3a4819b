import "server-only";
import type { Port } from "../port";

/** The environment's data bucket (s3://piksel-<env>-data). Grows with the worker and request issues. */
export interface ObjectsPort extends Port {
  readonly bucket: string;
}
