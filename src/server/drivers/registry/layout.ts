import "server-only";
import fs from "node:fs/promises";
import path from "node:path";
import type { RegistryPort } from "./index";

/**
 * An OCI image-layout directory (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):
 * the embedded default's registry. Tags are the `org.opencontainers.image.ref.name` annotations of
 * index.json, written as `<repository>:<tag>`.
 */
export function createLayoutRegistry(opts: { path: string; repository: string }): RegistryPort {
  const readIndex = async () => {
    const text = await fs.readFile(path.join(opts.path, "index.json"), "utf8");
    return JSON.parse(text) as { manifests?: { annotations?: Record<string, string> }[] };
  };
  return {
    driver: "layout",
    endpoint: `${opts.path} (${opts.repository})`,
    async listTags() {
      const index = await readIndex();
      const prefix = `${opts.repository}:`;
      return (index.manifests ?? [])
        .map((m) => m.annotations?.["org.opencontainers.image.ref.name"] ?? "")
        .filter((ref) => ref.startsWith(prefix))
        .map((ref) => ref.slice(prefix.length));
    },
    async check() {
      const layout = await fs.readFile(path.join(opts.path, "oci-layout"), "utf8").catch(() => {
        throw new Error(`${opts.path} is not an OCI image layout (no oci-layout file)`);
      });
      if (!JSON.parse(layout).imageLayoutVersion) throw new Error(`${opts.path}/oci-layout has no imageLayoutVersion`);
      const tags = await this.listTags();
      return `${tags.length} tag(s) of ${opts.repository}`;
    },
  };
}
