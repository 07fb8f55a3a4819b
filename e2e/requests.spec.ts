import { execFileSync } from "node:child_process";
import { asRole, expect, test } from "./fixtures";
import { colourShare, decodePng } from "./support/pixels";

// Inside grid tile 2024--P1Y/5766/1366 of global_10:480 (106.759..106.809 E, 6.561..6.523 S), in dev's scope.
const ONE_TILE_AOI = {
  type: "Feature",
  properties: { name: "Bogor test field" },
  geometry: { type: "Polygon", coordinates: [[[106.775, -6.55], [106.793, -6.55], [106.793, -6.535], [106.775, -6.535], [106.775, -6.55]]] },
};
const COG_VALIDATOR = "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py";
const LAND = "#f3f1ec";
/** The succeeded colour (#2b8a3e) at 45 % over the base map's land. */
const SUCCEEDED_FILL = "#98c29c";
const CENTRE = { x0: 0.3, y0: 0.3, x1: 0.7, y1: 0.7 };
const geojson = (name: string, value: unknown) => ({ name, mimeType: "application/geo+json", buffer: Buffer.from(JSON.stringify(value)) });

test.describe("product requests as a requester", () => {
  test.use(asRole("requester"));

  test("draws an AOI and sees the plan with its tiles and scene counts on the map", async ({ page }) => {
    await page.goto("/requests/new?environment=dev");
    const map = page.getByTestId("map-view");
    await expect(map).toHaveAttribute("data-state", "ready");
    await page.getByRole("button", { name: "Draw polygon" }).click();
    await expect(page.getByRole("button", { name: "Draw polygon" })).toHaveAttribute("aria-pressed", "true");
    const box = (await map.locator("canvas").boundingBox())!;
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    const corners: [number, number][] = [[-110, -70], [110, -70], [110, 70], [-110, 70]];
    for (const [dx, dy] of corners) await page.mouse.click(cx + dx, cy + dy);
    await page.mouse.click(cx + corners[0]![0], cy + corners[0]![1]);

    const plan = page.getByRole("status", { name: "Plan" });
    await expect(plan).toContainText(/\d+ tiles? of global_10:480, [\d,]+ scenes/);
    await expect(page.getByText(/^AOI: [\d.]+ km²$/)).toBeVisible();
    await expect(page.getByRole("button", { name: "Submit request" })).toBeEnabled();
    // The plan's tiles are drawn in the scene-count ramp (#a1dab4 .. #253494) under the AOI.
    await expect(page.getByTestId("map-legend")).toContainText("Scenes per tile");
    const png = decodePng(await map.screenshot());
    const ramp = ["#253494", "#2c7fb8", "#41b6c4", "#a1dab4"].reduce((a, c) => a + colourShare(png, c, { x0: 0.2, y0: 0.2, x1: 0.8, y1: 0.8 }, 60), 0);
    expect(ramp).toBeGreaterThan(0.2);

    // Clearing takes the AOI and the plan away.
    await page.getByRole("button", { name: "Clear" }).click();
    await expect(plan).toBeHidden();
    await expect(page.getByRole("button", { name: "Submit request" })).toBeDisabled();
  });

  test("refuses a broken or self-intersecting upload and an AOI larger than the role allows, saying what to fix", async ({ page }) => {
    await page.goto("/requests/new?environment=dev");
    await expect(page.getByTestId("map-view")).toHaveAttribute("data-state", "ready");
    const upload = page.getByLabel("Upload GeoJSON");
    // The form's own alert (Next.js keeps an empty route announcer with role alert too).
    const problem = page.getByRole("region", { name: "Request" }).getByRole("alert");
    await upload.setInputFiles({ name: "broken.geojson", mimeType: "application/geo+json", buffer: Buffer.from('{"type": "Polygon", "coordinates": [[[106.7') });
    await expect(problem).toContainText("broken.geojson is not valid JSON");
    const bowtie = { type: "Polygon", coordinates: [[[106.75, -6.55], [106.8, -6.5], [106.8, -6.55], [106.75, -6.5], [106.75, -6.55]]] };
    await upload.setInputFiles(geojson("bowtie.geojson", bowtie));
    await expect(problem).toContainText("bowtie.geojson: The outer ring crosses itself");
    const huge = { type: "Polygon", coordinates: [[[106, -7.5], [107.5, -7.5], [107.5, -6], [106, -6], [106, -7.5]]] };
    await upload.setInputFiles(geojson("huge.geojson", huge));
    await expect(problem).toContainText(/The AOI covers [\d,]+ km²; your role may request up to 5,000 km² in dev/);
    await expect(page.getByRole("button", { name: "Submit request" })).toBeDisabled();
    // A valid file replaces the refused one and gets its plan.
    await upload.setInputFiles(geojson("field.geojson", ONE_TILE_AOI));
    await expect(problem).toBeHidden();
    await expect(page.getByRole("status", { name: "Plan" })).toContainText(/1 tile of global_10:480, [\d,]+ scenes/);
  });

  test("submits an AOI, watches it reach 100 %, and reads a tile's log", async ({ page }) => {
    test.setTimeout(600_000);
    await page.goto("/requests/new?environment=dev");
    await expect(page.getByTestId("map-view")).toHaveAttribute("data-state", "ready");
    await page.getByLabel("Title (optional)").fill("Bogor test field");
    // Zoom in on the centre of dev's scope (106.775 E, 6.525 S: tile 5766/1366 just south of it) and
    // draw a small square a little south of the centre, inside that one tile.
    const map = page.getByTestId("map-view");
    const scale = map.locator(".maplibregl-ctrl-scale");
    const before = await scale.textContent();
    for (let i = 0; i < 3; i++) await page.getByRole("button", { name: "Zoom in" }).click();
    await expect(scale).not.toHaveText(before ?? "");
    // Any zoom from here on keeps the square below inside the tile (it is ~230 m south of the tile's
    // north edge at the centre, and the tile reaches 4 km further south); the plan checks it.
    await expect.poll(async () => Number(/^(\d+)\s*m$/.exec((await scale.textContent()) ?? "")?.[1] ?? 1e9)).toBeLessThanOrEqual(1000);
    await page.getByRole("button", { name: "Draw polygon" }).click();
    const box = (await map.locator("canvas").boundingBox())!;
    const [cx, cy] = [box.x + box.width / 2, box.y + box.height / 2 + 110];
    const corners: [number, number][] = [[-40, -30], [40, -30], [40, 30], [-40, 30]];
    for (const [dx, dy] of corners) await page.mouse.click(cx + dx, cy + dy);
    await page.mouse.click(cx + corners[0]![0], cy + corners[0]![1]);
    await expect(page.getByRole("status", { name: "Plan" })).toContainText(/1 tile of global_10:480, [\d,]+ scenes/);
    await page.getByRole("button", { name: "Submit request" }).click();
    await expect(page).toHaveURL(/\/requests\/[a-z0-9]{10}$/);
    const id = page.url().split("/").pop()!;

    await expect(page.getByRole("heading", { name: /Bogor test field/ })).toBeVisible();
    // Running with the digest deployed in dev (the matrix's dev cell shows the same).
    await expect(page.getByText(/Image v\d+\.\d+\.\d+ sha256:[0-9a-f]{12}/)).toBeVisible();
    // The map asks the output tile endpoint for the RGB layer once the tile has finished.
    const outputTile = page.waitForResponse((r) => /\/api\/outputs\/dev\/gm_s2_annual\/2024--P1Y\/tiles\/\d+\/\d+\/\d+\.png/.test(r.url()) && r.status() === 200, { timeout: 560_000 });
    const overall = page.getByRole("progressbar", { name: "Overall progress" });
    await expect(overall).toHaveAttribute("aria-valuenow", "100", { timeout: 540_000 });
    await expect(page.getByRole("heading", { name: /Bogor test field/ }).getByText("succeeded")).toBeVisible();

    // The output is on the map where the tile is: true colour, neither the base map nor the state fill.
    expect((await outputTile).headers()["content-type"]).toBe("image/png");
    await expect(map).toHaveAttribute("data-state", "ready");
    await expect(async () => {
      const png = decodePng(await map.screenshot());
      expect(colourShare(png, LAND, CENTRE, 12)).toBeLessThan(0.2);
      expect(colourShare(png, SUCCEEDED_FILL, CENTRE, 30)).toBeLessThan(0.05);
    }).toPass({ timeout: 30_000 });
    // Hidden, the tile shows its state colour again.
    await page.getByLabel(/Show outputs/).uncheck();
    await expect(async () => expect(colourShare(decodePng(await map.screenshot()), SUCCEEDED_FILL, CENTRE, 30)).toBeGreaterThan(0.5)).toPass({ timeout: 15_000 });
    await page.getByLabel(/Show outputs/).check();

    // A band downloads as a valid Cloud-Optimized GeoTIFF; the snippet and the recompute command are there.
    const outputs = page.getByRole("region", { name: "Outputs" });
    await expect(outputs.getByLabel("Python snippet")).toContainText("odc.stac.load(items");
    await expect(outputs.getByLabel("Recompute command")).toContainText("piksel worker geomedian --env dev --task 2024--P1Y/5766/1366 --overwrite");
    const download = page.waitForEvent("download");
    await outputs.getByRole("link", { name: "Download B04 of 2024--P1Y/5766/1366" }).click();
    const file = await (await download).path();
    const report = execFileSync("/usr/bin/python3", [COG_VALIDATOR, "--full-check=yes", file], { encoding: "utf8" });
    expect(report).toContain("is a valid cloud optimized GeoTIFF");

    // Its log: the worker's last line.
    await page.getByRole("table", { name: "Tiles" }).getByRole("button", { name: "Logs" }).click();
    await expect(page.getByLabel("Log lines")).toContainText("geomedian written");

    // The lists: mine and all, filterable from the URL.
    await page.goto("/requests?scope=mine&state=succeeded");
    await expect(page.getByRole("table", { name: "Requests" }).getByRole("link", { name: "Bogor test field" })).toHaveAttribute("href", `/requests/${id}`);
    await page.goto("/requests?state=failed");
    await expect(page.getByRole("link", { name: "Bogor test field" })).toBeHidden();

    // The output is indexed back into dev's ODC index and counted on the Coverage page as a product
    // of its own: switching product changes what the page counts.
    await page.goto("/coverage");
    const product = page.getByLabel("Product", { exact: true });
    const summary = page.getByTestId("coverage-summary");
    await expect(page.getByLabel("Environment", { exact: true })).toHaveValue("dev");
    await expect(product.getByRole("option")).toHaveText(["gm_s2_annual (1)", "s2_l2a (444)"]);
    await product.selectOption("gm_s2_annual");
    await expect(summary).toContainText("1 datasets in 1 cells in view");
    await product.selectOption("s2_l2a");
    await expect(summary).toContainText("444 datasets in");
  });
});

test.describe("product requests as a viewer", () => {
  test.use(asRole("viewer"));

  test("lists requests but offers no way to submit; the form redirects", async ({ page }) => {
    await page.goto("/requests");
    await expect(page.getByRole("heading", { name: "Requests", level: 1 })).toBeVisible();
    await expect(page.getByRole("link", { name: "New request" })).toBeHidden();
    await page.goto("/requests/new");
    await expect(page).toHaveURL(/\/environments\?denied=requester/);
  });
});
