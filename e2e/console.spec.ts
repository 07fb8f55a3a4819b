import { asRole, demoUser, expect, test } from "./fixtures";
import { colourShare, decodePng } from "./support/pixels";

const pages = [
  { nav: "Environments", heading: "Environments", marker: "Systems behind each environment" },
  { nav: "Promotions", heading: "Promotions", marker: "Promotion path" },
  { nav: "Coverage", heading: "Coverage", marker: "Scopes" },
  { nav: "Requests", heading: "Requests", marker: "No product requests yet" },
  { nav: "Indexing", heading: "Indexing", marker: "Index of dev" },
  { nav: "Audit", heading: "Audit", marker: "Audit events" },
] as const;

test.describe("signing in", () => {
  test("a wrong password is refused with a message that says what to do", async ({ page }) => {
    await page.goto("/sign-in");
    await page.getByLabel("E-mail").fill(demoUser("viewer"));
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(page.getByRole("alert").filter({ hasText: "Wrong e-mail or password" })).toHaveText("Wrong e-mail or password. Check both and try again.");
  });

  test("a page of the console sends an anonymous visitor to sign in", async ({ page }) => {
    await page.goto("/audit");
    await expect(page).toHaveURL(/\/sign-in$/);
    await expect(page.getByRole("heading", { name: "Demo users" })).toBeVisible();
  });
});

for (const role of ["viewer", "requester", "approver", "admin"] as const) {
  test.describe(`signed in as ${role}`, () => {
    test.use(asRole(role));

    test("every page renders real state", async ({ page }) => {
      await page.goto("/environments");
      await expect(page.getByTestId("current-role")).toHaveText(role);
      for (const p of pages) {
        await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: p.nav }).click();
        await expect(page.getByRole("heading", { name: p.heading, level: 1 })).toBeVisible();
        await expect(page.getByText(p.marker).or(page.getByRole("region", { name: p.marker })).or(page.getByRole("table", { name: p.marker })).first()).toBeVisible();
      }
      // The environments page shows each driver's live state.
      await page.getByRole("link", { name: "Environments" }).click();
      await expect(page.getByTestId("port-prod-gitops").getByText("reachable", { exact: true })).toBeVisible();
      // Every sign-in is audited.
      await page.getByRole("link", { name: "Audit" }).click();
      await expect(page.getByRole("table", { name: "Audit events" }).getByRole("row").filter({ hasText: demoUser(role) }).filter({ hasText: "sign-in" }).first()).toBeVisible();
    });
  });
}

test.describe("admin actions", () => {
  test("a viewer sees no admin link, is turned away from the page, and the server refuses the call", async ({ browser }) => {
    const page = await (await browser.newContext(asRole("viewer"))).newPage();
    await page.goto("/environments");
    await expect(page.getByRole("link", { name: "Users" })).toHaveCount(0);
    await page.goto("/admin/users");
    await expect(page).toHaveURL(/\/environments\?denied=admin$/);
    await expect(page.getByRole("alert").filter({ hasText: "That page needs the admin role" })).toBeVisible();
    // The call the hidden page would make, sent with the viewer's own session cookie.
    const res = await page.request.post("/api/trpc/auth.setRole", {
      data: { json: { userId: "anyone", role: "admin" } },
      headers: { origin: "http://localhost:3100" },
    });
    expect(res.status()).toBe(403);
    expect(JSON.stringify(await res.json())).toContain("This needs the admin role; you are signed in as viewer.");
  });

  test("an admin changes a role on the Users page, and the change is audited", async ({ browser }) => {
    const page = await (await browser.newContext(asRole("admin"))).newPage();
    await page.goto("/environments");
    await page.getByRole("link", { name: "Users" }).click();
    await expect(page.getByRole("heading", { name: "Users", level: 1 })).toBeVisible();
    const role = page.getByLabel("Role of approver2@piksel.local");
    await role.selectOption("requester");
    await expect(role).toHaveValue("requester");
    await expect(role).toBeEnabled();
    await page.reload();
    await expect(page.getByLabel("Role of approver2@piksel.local")).toHaveValue("requester");
    await page.getByLabel("Role of approver2@piksel.local").selectOption("approver");
    await expect(page.getByLabel("Role of approver2@piksel.local")).toBeEnabled();
    await page.getByRole("link", { name: "Audit" }).click();
    await page.getByLabel("Action").selectOption("role-change");
    await expect(page.getByRole("table", { name: "Audit events" }).getByRole("row").filter({ hasText: "approver2@piksel.local" })).toHaveCount(2);
  });

  test("a state-changing call from another site is refused even for an admin", async ({ browser }) => {
    const page = await (await browser.newContext(asRole("admin"))).newPage();
    const res = await page.request.post("/api/trpc/auth.setRole", {
      data: { json: { userId: "anyone", role: "admin" } },
      headers: { origin: "https://evil.example" },
    });
    expect(res.status()).toBe(403);
    expect(JSON.stringify(await res.json())).toContain("Cross-site request refused");
  });
});

test.describe("the map", () => {
  test.use(asRole("viewer"));

  test("renders the offline base map and the environments' scopes in headless Chromium", async ({ page }) => {
    const offsite: string[] = [];
    page.on("request", (r) => {
      const host = new URL(r.url()).hostname;
      if (!["localhost", "127.0.0.1"].includes(host)) offsite.push(r.url());
    });
    await page.goto("/coverage");
    const map = page.getByRole("region", { name: "Coverage map" });
    await expect(map).toHaveAttribute("data-state", "ready");
    // The map fits the scopes: the prod outline (orange, the widest) runs near the frame's edges and
    // the dev outline (green, the smallest) lies inside, around the centre.
    const png = decodePng(await map.screenshot());
    expect(colourShare(png, "#e8590c")).toBeGreaterThan(0.002);
    expect(colourShare(png, "#2f9e44", { x0: 0.25, y0: 0.25, x1: 0.75, y1: 0.75 })).toBeGreaterThan(0.002);
    expect(colourShare(png, "#2f9e44", { x0: 0, y0: 0, x1: 0.1, y1: 1 })).toBe(0);
    expect(offsite).toEqual([]);
  });
});
