import "server-only";
import type { Port } from "../port";

/** One `images:` entry of a kustomize overlay. */
export interface OverlayImage {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

/** An environment's overlay as it is at one commit. */
export interface OverlayState {
  /** The commit read (branch head unless asked otherwise). */
  commit: string;
  committedAt: Date;
  path: string;
  images: OverlayImage[];
}

/** A commit of the branch that changed this environment's overlay. */
export interface OverlayHistoryEntry {
  commit: string;
  at: Date;
  subject: string;
  images: OverlayImage[];
  trailers: Record<string, string[]>;
}

/** What a promotion writes into the target overlay: the image entry's tag and digest. */
export interface ImageChange {
  name: string;
  newTag: string;
  digest: string;
}

export interface ImageCommitInput {
  promotionId: string;
  change: ImageChange;
  /**
   * The digest the entry must hold before the change (what approvers saw). If a human changed the same
   * entry to something else meanwhile, the commit is refused (AppError CONFLICT) rather than overwritten.
   */
  expectedDigest: string | null;
  subject: string;
  body: string;
  trailers: [key: string, value: string][];
}

export interface ImageCommitResult {
  commit: string;
  /** True when a commit with this Promotion-Id was already on the branch (crash recovery; never pushed twice). */
  alreadyPushed: boolean;
  /** Push attempts used (1 = no race). */
  attempts: number;
}

/** The GitOps repository (piksel-kubernetes) as seen by one environment's overlay. */
export interface GitopsPort extends Port {
  readonly overlayPath: string;
  readonly branch: string;
  /** The head of the branch on the remote, or undefined if the branch is missing. */
  headCommit(): Promise<string | undefined>;
  /** The overlay's `images:` at the branch head (after a fetch) or at a given commit. */
  readOverlay(commit?: string): Promise<OverlayState>;
  /** Commits that changed the overlay, newest first. */
  history(limit?: number): Promise<OverlayHistoryEntry[]>;
  /** The commit on the branch whose Promotion-Id trailer is `promotionId`, if any. */
  findPromotionCommit(promotionId: string): Promise<string | undefined>;
  /** The exact unified diff of the overlay that `change` would make at the branch head. */
  diffImageChange(change: ImageChange): Promise<string>;
  /** Commits and pushes the change (rebasing on a race); idempotent per promotion id. */
  commitImageChange(input: ImageCommitInput): Promise<ImageCommitResult>;
  /** Whether `commit` is `revision` or one of its ancestors (is the promotion in what Flux applied?). */
  contains(revision: string, commit: string): Promise<boolean>;
}
