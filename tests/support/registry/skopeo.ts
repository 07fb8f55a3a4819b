import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { RegistryUser } from "./server";

const run = promisify(execFile);

/** skopeo, the independent client the tests compare the drivers with. */
async function skopeo(args: string[]): Promise<string> {
  try {
    return (await run("skopeo", args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new Error("skopeo not found: install it (apt-get install -y skopeo)");
    throw new Error(`skopeo ${args.join(" ")}: ${e.stderr?.trim() ?? e.message}`);
  }
}

const credsArgs = (user?: RegistryUser) => (user ? ["--creds", `${user.username}:${user.password}`] : []);

/** The digest skopeo reports for an image reference (`docker://host/repo:tag`, `oci:dir:ref`). */
export async function skopeoDigest(reference: string, user?: RegistryUser): Promise<string> {
  const tls = reference.startsWith("docker://") ? ["--tls-verify=false"] : [];
  return (await skopeo(["inspect", ...tls, ...credsArgs(user), "--format", "{{.Digest}}", reference])).trim();
}

/** Copies every platform of an image, byte for byte, so that its digest is kept. */
export async function skopeoCopy(from: string, to: string, opts: { destUser?: RegistryUser } = {}): Promise<void> {
  const tls = [...(from.startsWith("docker://") ? ["--src-tls-verify=false"] : []), ...(to.startsWith("docker://") ? ["--dest-tls-verify=false"] : [])];
  const creds = opts.destUser ? ["--dest-creds", `${opts.destUser.username}:${opts.destUser.password}`] : [];
  await skopeo(["copy", "--all", "--preserve-digests", "--quiet", ...tls, ...creds, from, to]);
}
