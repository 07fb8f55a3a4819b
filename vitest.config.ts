import path from "node:path";
import { defineConfig } from "vitest/config";

// `server-only` throws outside a React Server bundle; tests and the CLI are server code by nature.
const alias = {
  "~": path.resolve(import.meta.dirname, "src"),
  "server-only": path.resolve(import.meta.dirname, "tests/support/empty.ts"),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: { name: "unit", include: ["src/**/*.test.ts", "scripts/**/*.test.ts"], environment: "node" },
      },
      {
        resolve: { alias },
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          environment: "node",
          globalSetup: ["tests/support/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Suites share one PostgreSQL server; each creates its own databases.
          fileParallelism: true,
        },
      },
      {
        // External checks against the field's reference implementations (Python: datacube, geomad),
        // each in a virtualenv cached under .cache/ (PIKSEL_SKIP_PYTHON_REFERENCE=1 skips them).
        resolve: { alias },
        test: {
          name: "reference",
          include: ["tests/reference/**/*.test.ts"],
          environment: "node",
          globalSetup: ["tests/support/global-setup.ts"],
          testTimeout: 600_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
