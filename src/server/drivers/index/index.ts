import "server-only";
import type { Port } from "../port";

/** The ODC index of one environment (datacube-core `agdc` schema). Grows with the indexing issue. */
export interface IndexPort extends Port {
  /** Dataset count per product; empty when the `agdc` schema does not exist yet. */
  productCounts(): Promise<{ product: string; datasets: number }[]>;
  close(): Promise<void>;
}
