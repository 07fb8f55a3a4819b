import "server-only";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { assertObjectKey, assertRangeRequest, resolveRange, UnsatisfiableRangeError, type ObjectBody, type ObjectInfo, type ObjectsPort } from "./index";

/**
 * Buckets as directories (`<root>/<bucket>/<key>`): the embedded default's object store, and the
 * worker's `--output <dir>` (root = its parent, bucket = its name).
 */
export function createLocalObjects(opts: { root: string; bucket: string }): ObjectsPort {
  const dir = path.resolve(opts.root, opts.bucket);
  const file = (key: string) => {
    assertObjectKey(key);
    return path.join(dir, ...key.split("/"));
  };
  const stat = async (key: string): Promise<ObjectInfo | undefined> => {
    try {
      const s = await fs.stat(file(key));
      return s.isFile() ? { key, size: s.size, modified: s.mtime } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
      throw err;
    }
  };
  return {
    driver: "local",
    bucket: opts.bucket,
    endpoint: dir,
    async check() {
      await fs.mkdir(dir, { recursive: true });
      await fs.access(dir, fs.constants.W_OK);
      return `bucket ${opts.bucket} (directory) writable`;
    },
    uri: (key) => pathToFileURL(file(key)).href,
    async put(key, body: ObjectBody) {
      const target = file(key);
      await fs.mkdir(path.dirname(target), { recursive: true });
      // Written beside the target and renamed over it: readers never see a partial object.
      const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString("hex")}.part`);
      try {
        if (typeof body === "object" && "file" in body) await fs.copyFile(body.file, temp);
        else await fs.writeFile(temp, body);
        await fs.rename(temp, target);
      } catch (err) {
        await fs.rm(temp, { force: true });
        throw err;
      }
    },
    async get(key) {
      try {
        return await fs.readFile(file(key));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return undefined;
        throw err;
      }
    },
    async read(key, range) {
      if (range) assertRangeRequest(range);
      let handle: fs.FileHandle;
      try {
        handle = await fs.open(file(key), "r");
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return undefined;
        throw err;
      }
      try {
        // Size and bytes from the same open file: a `put` renames a new file over the key, and this
        // handle keeps reading the one it opened.
        const s = await handle.stat();
        if (!s.isFile()) {
          await handle.close();
          return undefined;
        }
        const info = { key, size: s.size, modified: s.mtime };
        const resolved = range ? resolveRange(range, s.size) : undefined;
        if (range && !resolved) throw new UnsatisfiableRangeError(key, s.size);
        const stream = handle.createReadStream(resolved ? { start: resolved.start, end: resolved.end } : {});
        return { info, ...(resolved && { range: resolved }), body: Readable.toWeb(stream) as ReadableStream<Uint8Array> };
      } catch (err) {
        await handle.close();
        throw err;
      }
    },
    // A directory has no URL that other machines could read; callers stream with `read` instead.
    presignGet: async (key) => {
      assertObjectKey(key);
      return undefined;
    },
    head: stat,
    async list(prefix) {
      // Walk only the directory the prefix names (its part up to the last `/`).
      const base = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
      const start = base === "" ? dir : file(base);
      const out: ObjectInfo[] = [];
      const walk = async (d: string, rel: string) => {
        let entries: import("node:fs").Dirent[];
        try {
          entries = await fs.readdir(d, { withFileTypes: true });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return;
          throw err;
        }
        for (const e of entries) {
          const key = rel === "" ? e.name : `${rel}/${e.name}`;
          if (e.isDirectory()) await walk(path.join(d, e.name), key);
          else if (e.isFile() && !e.name.endsWith(".part") && key.startsWith(prefix)) {
            const info = await stat(key);
            if (info) out.push(info);
          }
        }
      };
      await walk(start, base);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    async delete(key) {
      await fs.rm(file(key), { force: true });
    },
  };
}
