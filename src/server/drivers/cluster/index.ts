import "server-only";
import type { Port } from "../port";

/** One environment's cluster: Flux status and pods (read), Jobs (write). Grows with later issues. */
export type ClusterPort = Port;
