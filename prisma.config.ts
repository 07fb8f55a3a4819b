import { defineConfig } from "prisma/config";

// Only `prisma generate` uses this file here: migrations run through `piksel db migrate`
// (WASM schema engine, docs/adr/0003), so no datasource URL is needed to build.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
});
