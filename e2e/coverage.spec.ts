import type { Locator, Page } from "@playwright/test";
import { asRole, expect, test } from "./fixtures";
import type { PNG } from "pngjs";
import { countColor } from "../src/components/map/layers";
import { colourShare, decodePng } from "./support/pixels";

// The embedded default indexes its sample scenes in the background after start, one environment
// after the other; every run refreshes that environment's coverage summaries. The Scopes table
// shows what is summarised (polled every 10 s): waiting on it is waiting for the platform.
const SAMPLES = { dev: "444", staging: "2,735", prod: "5,236" } as const;

// The difference layer's colours (coverage-overview.tsx).
const ONLY_FIRST = "#d6336c";
const ONLY_OTHER = "#7048e8";
const BOTH = "#adb5bd";

async function openCoverage(page: Page): Promise<Locator> {
  await page.goto("/coverage");
  for (const [env, n] of Object.entries(SAMPLES)) await expect(page.getByTestId(`summarised-${env}`)).toHaveText(n, { timeout: 240_000 });
  const map = page.getByRole("region", { name: "Coverage map" });
  await expect(map).toHaveAttribute("data-state", "ready");
  return map;
}

/** A screenshot of the map once its overlays have been drawn (MapLibre draws after data arrives). */
async function mapPixels(page: Page, map: Locator) {
  // The map is idle when no tile or source is loading; give the canvas a frame to paint after it.
  await page.waitForFunction(() => document.querySelector(".maplibregl-canvas") !== null);
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  return decodePng(await map.screenshot());
}

// The map fits prod's scope (the widest): dev's cells lie around the centre, prod's reach the top edge.
const centre = { x0: 0.42, y0: 0.42, x1: 0.58, y1: 0.58 };
const topStrip = { x0: 0.35, y0: 0.005, x1: 0.65, y1: 0.035 };
// Right of the legend, whose swatches carry the layer colours too.
const beyondLegend = { x0: 0.3, y0: 0, x1: 1, y1: 1 };

// Cell colours: the count ramp from 30 % to 100 % of the largest count (the sample cells' counts lie
// there; the ramp's palest end is too close to the base map's land to tell apart).
const CELL_COLOURS = Array.from({ length: 15 }, (_, i) => countColor(30 + i * 5, 100)).map((c) => [1, 3, 5].map((j) => parseInt(c.slice(j, j + 2), 16)));
function cellShare(png: PNG, region: { x0: number; y0: number; x1: number; y1: number }, tolerance = 30): number {
  let hits = 0;
  let total = 0;
  for (let y = Math.floor(region.y0 * png.height); y < Math.ceil(region.y1 * png.height); y++) {
    for (let x = Math.floor(region.x0 * png.width); x < Math.ceil(region.x1 * png.width); x++) {
      const i = (y * png.width + x) * 4;
      total++;
      if (CELL_COLOURS.some(([r, g, b]) => Math.abs(png.data[i]! - r!) <= tolerance && Math.abs(png.data[i + 1]! - g!) <= tolerance && Math.abs(png.data[i + 2]! - b!) <= tolerance)) hits++;
    }
  }
  return total ? hits / total : 0;
}

test.describe("the Coverage page", () => {
  test.use(asRole("viewer"));

  test("switching environment and period changes the cells on the map, the legend and the histogram", async ({ page }) => {
    test.setTimeout(300_000);
    const map = await openCoverage(page);
    const summary = page.getByTestId("coverage-summary");
    const environment = page.getByLabel("Environment", { exact: true });
    const product = page.getByLabel("Product", { exact: true });

    // dev: 444 datasets, cells only around the centre (dev's scope is the smallest).
    await expect(environment).toHaveValue("dev");
    await expect(product).toHaveValue("s2_l2a");
    await expect(product.getByRole("option")).toHaveText(["s2_l2a (444)"]);
    await expect(summary).toContainText("444 datasets in");
    await expect(map.getByTestId("map-legend")).toContainText("Datasets per cell");
    await expect.poll(async () => cellShare(await mapPixels(page, map), centre)).toBeGreaterThan(0.5);
    expect(cellShare(await mapPixels(page, map), topStrip)).toBe(0);
    const devMarch = await page.getByRole("button", { name: /^2024-03: \d+ datasets$/ }).getAttribute("aria-label");

    // prod: every sample, cells reach the edges of its (widest) scope.
    await environment.selectOption("prod");
    await expect(product.getByRole("option")).toHaveText(["s2_l2a (5,236)"]);
    await expect(summary).toContainText("5,236 datasets in");
    await expect.poll(async () => cellShare(await mapPixels(page, map), topStrip)).toBeGreaterThan(0.5);
    const prodMarch = page.getByRole("button", { name: /^2024-03: \d+ datasets$/ });
    await expect(prodMarch).not.toHaveAccessibleName(devMarch!);

    // A month of the histogram filters the map to that month.
    await prodMarch.click();
    await expect(page.getByTestId("period")).toHaveText("Period: 2024-03-01 – 2024-03-31");
    const marchCount = Number((await prodMarch.getAttribute("aria-label"))!.match(/: (\d+) datasets/)![1]);
    await expect(summary).toContainText(`${marchCount.toLocaleString("en-US")} datasets in`);
    expect(marchCount).toBeLessThan(5236);
    // By day, the histogram shows the days of the chosen month only.
    await page.getByLabel("Histogram by", { exact: true }).selectOption("d");
    const days = page.getByRole("group", { name: "Datasets per day" }).getByRole("button");
    await expect(days.first()).toHaveAccessibleName(/^2024-03-\d\d: \d+ datasets$/);
    await expect(days.last()).toHaveAccessibleName(/^2024-03-\d\d: \d+ datasets$/);
    // One day with acquisitions: fewer datasets again; a day without any says so.
    const dayLabels = await days.evaluateAll((els) => els.map((e) => e.getAttribute("aria-label")!));
    const withData = dayLabels.find((l) => !l.endsWith(": 0 datasets"))!;
    const without = dayLabels.find((l) => l.endsWith(": 0 datasets"))!;
    await page.getByRole("button", { name: withData, exact: true }).click();
    await expect(summary).toContainText(`${Number(withData.match(/: (\d+) datasets/)![1]).toLocaleString("en-US")} datasets in`);
    await page.getByRole("button", { name: without, exact: true }).click();
    await expect(map.getByRole("status")).toContainText(/No acquisitions of s2_l2a here from 2024-03-\d\d to 2024-03-\d\d; [\d,]+ datasets at other times/);
    await page.getByRole("button", { name: "All time" }).click();
    await expect(summary).toContainText("5,236 datasets in");
  });

  test("the difference layer shows what prod has that staging has not, and the reverse", async ({ page }) => {
    test.setTimeout(300_000);
    const map = await openCoverage(page);
    await page.getByLabel("Environment", { exact: true }).selectOption("prod");
    await page.getByLabel("Show", { exact: true }).selectOption("difference");
    await page.getByLabel("Compare with", { exact: true }).selectOption("staging");
    const summary = page.getByTestId("coverage-summary");
    await expect(summary).toContainText(/\d+ cells only in Prod, 0 only in Staging, \d+ in both/i);
    await expect(map.getByTestId("map-legend")).toContainText("Only in");
    // Staging's scope is the middle of prod's: the ring outside it is prod's alone, the middle both's.
    await expect.poll(async () => colourShare(await mapPixels(page, map), ONLY_FIRST, topStrip)).toBeGreaterThan(0.5);
    let png = await mapPixels(page, map);
    expect(colourShare(png, BOTH, centre)).toBeGreaterThan(0.5);
    // Not a cell of it (a few anti-aliased pixels where the scope outlines cross cells may come close).
    expect(colourShare(png, ONLY_OTHER, beyondLegend)).toBeLessThan(0.005);

    // The reverse: from staging, prod's extra cells are the other environment's.
    await page.getByLabel("Environment", { exact: true }).selectOption("staging");
    await page.getByLabel("Compare with", { exact: true }).selectOption("prod");
    await expect(summary).toContainText(/0 cells only in Staging, \d+ only in Prod, \d+ in both/i);
    await expect.poll(async () => colourShare(await mapPixels(page, map), ONLY_OTHER, topStrip)).toBeGreaterThan(0.5);
    png = await mapPixels(page, map);
    expect(colourShare(png, ONLY_FIRST, beyondLegend)).toBeLessThan(0.005);

    // Side by side: one map per environment.
    await page.getByLabel("Show", { exact: true }).selectOption("side-by-side");
    await expect(page.getByRole("region", { name: "Coverage map of Staging" })).toHaveAttribute("data-state", "ready");
    await expect(page.getByRole("region", { name: "Coverage map of Prod" })).toHaveAttribute("data-state", "ready");
  });

  test("a cell click lists its datasets with links; zoomed in, single footprints are drawn", async ({ page }) => {
    test.setTimeout(300_000);
    const map = await openCoverage(page);
    await expect(page.getByTestId("coverage-summary")).toContainText("444 datasets in");
    const box = (await map.boundingBox())!;
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    const heading = page.getByRole("heading", { name: /^Datasets of cell \w+$/ });
    await expect(heading).toBeVisible();
    const cell = (await heading.textContent())!.replace("Datasets of cell ", "");
    const table = page.getByRole("table", { name: `Datasets of cell ${cell}` });
    await expect(table.getByRole("row").nth(1)).toBeVisible();
    const eo3 = table.getByRole("link", { name: "EO3 document" }).first();
    const href = (await eo3.getAttribute("href"))!;
    expect(href).toMatch(/^\/explorer\/dev\/dataset\/[0-9a-f-]{36}\.odc-metadata\.yaml$/);
    const doc = await page.request.get(href);
    expect(doc.status()).toBe(200);
    expect(await doc.text()).toContain(`region_code: ${cell}`);
    await expect(table.getByRole("link", { name: "STAC item" }).first()).toHaveAttribute("href", /^https?:\/\//);
    await table.getByText(/^\d+ COGs$/).first().click();
    await expect(table.getByRole("link", { name: "red", exact: true }).first()).toHaveAttribute("href", /B04\.tif$/);

    // Zoomed in on one cell, footprints of its datasets are drawn.
    for (let i = 0; i < 4; i++) await map.getByRole("button", { name: "Zoom in" }).click();
    await expect(page.getByTestId("coverage-summary")).toContainText(/\d+ footprints drawn/);
  });
});

test.describe("explorer-compatible GeoJSON endpoints", () => {
  test("regions, footprint and timeline of prod in explorer's shapes, by year, month and day", async ({ request }) => {
    test.setTimeout(300_000);
    // Wait for prod's summaries through the API itself.
    await expect
      .poll(async () => {
        const res = await request.get("/explorer/prod/api/regions/s2_l2a");
        if (!res.ok()) return 0;
        const body = await res.json();
        return body.features.reduce((n: number, f: { properties: { count: number } }) => n + f.properties.count, 0);
      }, { timeout: 240_000 })
      .toBe(5236);
    const regions = await (await request.get("/explorer/prod/api/regions/s2_l2a")).json();
    expect(regions).toMatchObject({ type: "FeatureCollection", properties: { region_type: "region_code" } });
    expect(regions.features[0]).toMatchObject({ type: "Feature", geometry: { type: "Polygon" }, properties: { region_code: expect.any(String), count: expect.any(Number) } });

    const timeline = await (await request.get("/explorer/prod/api/dataset-timeline/s2_l2a")).json();
    expect(Object.keys(timeline)[0]).toMatch(/^2024-\d\d-01T00:00:00$/);
    expect(Object.values(timeline).reduce((a: number, b) => a + (b as number), 0)).toBe(5236);
    const march = timeline["2024-03-01T00:00:00"] as number;
    const marchRegions = await (await request.get("/explorer/prod/api/regions/s2_l2a/2024/3")).json();
    expect(marchRegions.features.reduce((n: number, f: { properties: { count: number } }) => n + f.properties.count, 0)).toBe(march);
    const marchDays = await (await request.get("/explorer/prod/api/dataset-timeline/s2_l2a/2024/3")).json();
    expect(Object.keys(marchDays).every((k) => k.startsWith("2024-03-"))).toBe(true);
    expect(Object.values(marchDays).reduce((a: number, b) => a + (b as number), 0)).toBe(march);

    const footprint = await request.get("/explorer/prod/api/footprint/s2_l2a/2024");
    expect(footprint.headers()["content-type"]).toContain("application/geo+json");
    expect(await footprint.json()).toMatchObject({ type: "Feature", geometry: { type: "MultiPolygon" }, properties: { dataset_count: 5236, product_name: "s2_l2a", time_spec: [2024, null, null] } });
    // Each environment under its own base URL: staging holds fewer.
    const staging = await (await request.get("/explorer/staging/api/footprint/s2_l2a")).json();
    expect(staging.properties.dataset_count).toBe(2735);
  });

  test("bad input says what is wrong and what to do", async ({ request }) => {
    const month = await request.get("/explorer/prod/api/regions/s2_l2a/2024/13");
    expect(month.status()).toBe(400);
    expect((await month.json()).error).toContain("month must be 1 to 12, got 13");
    const product = await request.get("/explorer/prod/api/regions/s2_l3x");
    expect(product.status()).toBe(404);
    expect((await product.json()).error).toMatch(/No product "s2_l3x" in the ODC index of prod\. Products there: .*s2_l2a/);
    const env = await request.get("/explorer/qa/api/regions/s2_l2a");
    expect(env.status()).toBe(404);
    expect((await env.json()).error).toBe('No environment "qa". Configured: dev, staging, prod.');
  });
});
