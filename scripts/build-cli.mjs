// Bundles the `piksel` CLI (src/cli/main.ts) into dist/cli/piksel.mjs. Packages stay external and are
// loaded from node_modules at run time; `server-only` is aliased to an empty module because the CLI
// is server code by nature (it throws outside a React Server bundle).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
await build({
  entryPoints: [path.join(root, "src/cli/main.ts")],
  outfile: path.join(root, "dist/cli/piksel.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  sourcemap: "linked",
  alias: { "~": path.join(root, "src"), "server-only": path.join(root, "tests/support/empty.ts") },
  banner: { js: "#!/usr/bin/env node" },
  logLevel: process.argv.includes("--quiet") ? "warning" : "info",
});
