import "server-only";
import fs from "node:fs/promises";
import path from "node:path";
import type { ObjectsPort } from "./index";

/** Buckets as directories (`<root>/<bucket>/<key>`): the embedded default's object store. */
export function createLocalObjects(opts: { root: string; bucket: string }): ObjectsPort {
  const dir = path.join(opts.root, opts.bucket);
  return {
    driver: "local",
    bucket: opts.bucket,
    endpoint: dir,
    async check() {
      await fs.mkdir(dir, { recursive: true });
      await fs.access(dir, fs.constants.W_OK);
      return `bucket ${opts.bucket} (directory) writable`;
    },
  };
}
