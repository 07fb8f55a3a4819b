import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { defineConfig } from "@playwright/test";

// The e2e suite runs against the production build started exactly as the container's CMD
// (`node dist/cli/piksel.mjs start`), on its own ports and a fresh data directory.
const port = Number(process.env.PIKSEL_E2E_PORT ?? 3100);
// Set once in the runner's process so that its workers (separate processes) see the same directory.
process.env.PIKSEL_E2E_DATA_DIR ??= path.join(os.tmpdir(), `piksel-e2e-${process.pid}`);
const dataDir = process.env.PIKSEL_E2E_DATA_DIR;
const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p));

export default defineConfig({
  testDir: "e2e",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  reporter: [["list"], ["html", { open: "never", outputFolder: "playwright-report" }]],
  timeout: 60_000,
  expect: { timeout: 15_000 },
  use: {
    baseURL: `http://localhost:${port}`,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: chromium,
      // Debian's Chromium as root in a closed network (REFERENCE.md A); WebGL through SwiftShader.
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--enable-unsafe-swiftshader"],
    },
  },
  projects: [
    { name: "setup", testMatch: /auth\.setup\.ts/ },
    { name: "chromium", testMatch: /.*\.spec\.ts/, dependencies: ["setup"] },
  ],
  webServer: {
    // Exactly the image's ENTRYPOINT + CMD; a fresh data directory per run instead of --reset.
    command: "node dist/cli/piksel.mjs start",
    url: `http://127.0.0.1:${port}/api/health`,
    reuseExistingServer: false,
    timeout: 180_000,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      PORT: String(port),
      PIKSEL_DATA_DIR: dataDir,
      PIKSEL_PUBLIC_URL: `http://localhost:${port}`,
      PIKSEL_EMBEDDED_PG_PORT: String(port + 20000),
      PIKSEL_EMBEDDED_CATALOG_PORT: String(port + 20001),
      PIKSEL_LOG_JSON: "1",
    },
  },
});
