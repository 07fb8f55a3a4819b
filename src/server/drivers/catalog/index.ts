import "server-only";
import type { Port } from "../port";

/** A STAC API (Earth Search v1 in production). Grows with the indexing issue. */
export type CatalogPort = Port;
