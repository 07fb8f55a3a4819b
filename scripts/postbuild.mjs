// After `next build`: the standalone server serves public/ and .next/static only when they sit
// beside it (Next.js leaves the copy to us), then the CLI bundle.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const standalone = path.join(root, ".next", "standalone");
if (!fs.existsSync(path.join(standalone, "server.js"))) {
  console.error("postbuild: .next/standalone/server.js is missing; did `next build` run with output: \"standalone\"?");
  process.exit(1);
}
fs.rmSync(path.join(standalone, "public"), { recursive: true, force: true });
fs.cpSync(path.join(root, "public"), path.join(standalone, "public"), { recursive: true });
fs.rmSync(path.join(standalone, ".next", "static"), { recursive: true, force: true });
fs.cpSync(path.join(root, ".next", "static"), path.join(standalone, ".next", "static"), { recursive: true });
// The console reads the index migrations (the Indexing page) from its working directory.
fs.rmSync(path.join(standalone, "index-migrations"), { recursive: true, force: true });
fs.cpSync(path.join(root, "index-migrations"), path.join(standalone, "index-migrations"), { recursive: true });
await import("./build-cli.mjs");
