import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "@playwright/test";
import { asRole, expect, test, type DemoRole } from "./fixtures";

const dataDir = process.env.PIKSEL_E2E_DATA_DIR!;
const remote = path.join(dataDir, "gitops", "piksel-kubernetes.git");
const git = (...args: string[]) => execFileSync("git", ["--git-dir", remote, ...args], { encoding: "utf8" });

async function pageAs(browser: Browser, role: DemoRole | "approver2"): Promise<Page> {
  const state = role === "approver2" ? undefined : asRole(role).storageState;
  const context = await browser.newContext(state ? { storageState: state } : {});
  const page = await context.newPage();
  if (role === "approver2") {
    await page.goto("/sign-in");
    await page.getByLabel("E-mail").fill("approver2@piksel.local");
    await page.getByLabel("Password").fill("piksel-demo");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(page.getByRole("heading", { name: "Environments", level: 1 })).toBeVisible();
  }
  return page;
}

function kustomize(dir: string): string {
  for (const [cmd, args] of [["kustomize", ["build", dir]], ["kubectl", ["kustomize", dir]]] as const) {
    try {
      return execFileSync(cmd, [...args], { encoding: "utf8" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  throw new Error("Neither kustomize nor kubectl is installed (npm test installs kustomize with go).");
}

test("promote the staging digest to prod: request, two approvals, commit with trailers, Flux applies, audited", async ({ browser }) => {
  test.setTimeout(120_000);
  const requester = await pageAs(browser, "requester");

  // Wait for the local Flux to have applied the seeded overlays: staging runs v1.7.0.
  await requester.goto("/environments");
  const staging = requester.getByTestId("cell-staging-piksel-core");
  await expect(staging.getByText("deployed", { exact: true })).toBeVisible({ timeout: 30_000 });
  await expect(staging).toContainText("v1.7.0");
  await expect(requester.getByTestId("cell-prod-piksel-core")).toContainText("v1.6.0");

  // The requester opens the promote dialog: it shows the exact overlay diff before confirming.
  await requester.getByRole("link", { name: "Promotions" }).click();
  await requester.getByRole("button", { name: "Promote v1.7.0 to prod…" }).click();
  const dialog = requester.getByRole("dialog", { name: "Promote piksel-core to prod" });
  const diff = dialog.getByLabel("Overlay diff");
  await expect(diff).toContainText("-    newTag: v1.6.0");
  await expect(diff).toContainText("+    newTag: v1.7.0");
  await dialog.getByLabel("Note (optional)").fill("Q4 release");
  await dialog.getByRole("button", { name: "Request promotion" }).click();
  await expect(dialog).toBeHidden();
  const pending = requester.getByRole("listitem", { name: /^Promotion prm_/ });
  await expect(pending).toContainText("0 of 2 approvals");
  const id = (await pending.getAttribute("aria-label"))!.replace("Promotion ", "");

  // The requester's own approval is refused by the server.
  const own = await requester.request.post("/api/trpc/promotion.approve", { data: { json: { id } }, headers: { origin: "http://localhost:3100" } });
  expect(own.status()).toBe(403);

  // First approver.
  const approver = await pageAs(browser, "approver");
  await approver.goto("/promotions");
  const card = approver.getByRole("listitem", { name: `Promotion ${id}` });
  await card.getByRole("button", { name: "Approve" }).click();
  await expect(card).toContainText("1 of 2 approvals");

  // Second approver: the promotion is committed, Flux applies it, prod is deployed with the new digest.
  const approver2 = await pageAs(browser, "approver2");
  await approver2.goto("/promotions");
  await approver2.getByRole("listitem", { name: `Promotion ${id}` }).getByRole("button", { name: "Approve" }).click();
  const done = approver2.getByRole("region", { name: "History" }).getByLabel(`Promotion ${id}`);
  await expect(done.getByText("deployed", { exact: true }).first()).toBeVisible({ timeout: 60_000 });

  await approver2.goto("/environments");
  const prod = approver2.getByTestId("cell-prod-piksel-core");
  await expect(prod).toContainText("v1.7.0");
  await expect(prod.getByText("deployed", { exact: true })).toBeVisible();
  const stagingDigest = await approver2.getByTestId("cell-staging-piksel-core").getByRole("link").getAttribute("href");
  expect(await prod.getByRole("link").getAttribute("href")).toBe(stagingDigest);

  // The commit is in the GitOps repository with its trailers, and kustomize renders name:tag@digest.
  const message = git("log", "-1", "--format=%B", "main");
  expect(message).toContain(`Promotion-Id: ${id}`);
  expect(message).toContain("Requested-By: Rudi Requester <requester@piksel.local>");
  expect(message).toContain("Approved-By: Ayu Approver <approver@piksel.local>");
  expect(message).toContain("Approved-By: Budi Approver <approver2@piksel.local>");
  const checkout = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-e2e-co-"));
  execFileSync("git", ["clone", "--quiet", remote, checkout]);
  const digest = decodeURIComponent(stagingDigest!.split("/images/")[1]!.split("?")[0]!);
  expect(kustomize(path.join(checkout, "overlays/prod"))).toContain(`image: piksel-core:v1.7.0@${digest}`);

  // The audit page shows each step.
  await approver2.goto("/audit");
  await approver2.getByLabel("Environment").selectOption("prod");
  const rows = approver2.getByRole("table", { name: "Audit events" }).getByRole("row").filter({ hasText: id });
  for (const action of ["promotion.request", "promotion.approve", "promotion.commit", "promotion.deployed"]) {
    await expect(rows.filter({ hasText: action }).first()).toBeVisible();
  }
  await expect(rows.filter({ hasText: "promotion.approve" })).toHaveCount(2);
});
