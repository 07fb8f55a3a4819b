import path from "node:path";
import { test as base, expect, type Page } from "@playwright/test";

export const DEMO_PASSWORD = "piksel-demo";
export type DemoRole = "viewer" | "requester" | "approver" | "admin";
export const demoUser = (role: DemoRole) => `${role}@piksel.local`;

/** Where the setup project keeps each role's signed-in browser state. */
export const storageStateOf = (role: DemoRole) => path.join(import.meta.dirname, ".auth", `${role}.json`);

/** Signs in through the real form, as a person would. */
export async function signIn(page: Page, email: string, password = DEMO_PASSWORD): Promise<void> {
  await page.goto("/sign-in");
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Environments", level: 1 })).toBeVisible();
}

/** A test signed in as `role` (from the setup project's saved state). */
export const asRole = (role: DemoRole) => ({ storageState: storageStateOf(role) });

export const test = base;
export { expect };
