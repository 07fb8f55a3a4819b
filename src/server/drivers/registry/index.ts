import "server-only";
import type { Port } from "../port";

/** Where images live: OCI Distribution API or an OCI image-layout directory. Grows with the promotion issue. */
export interface RegistryPort extends Port {
  /** Tags of the configured repository (all pages). */
  listTags(): Promise<string[]>;
}
