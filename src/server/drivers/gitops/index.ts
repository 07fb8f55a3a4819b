import "server-only";
import type { Port } from "../port";

/** The GitOps repository (piksel-kubernetes) as seen by one environment. Grows with the promotion issue. */
export interface GitopsPort extends Port {
  /** The commit at the head of the environment's branch on the remote, or undefined if the branch is missing. */
  headCommit(): Promise<string | undefined>;
}
