import { test as setup } from "@playwright/test";
import { demoUser, signIn, storageStateOf, type DemoRole } from "./fixtures";

// Each role signs in once through the form; the tests reuse the session cookie.
for (const role of ["viewer", "requester", "approver", "admin"] as DemoRole[]) {
  setup(`sign in as ${role}`, async ({ page }) => {
    await signIn(page, demoUser(role));
    await page.context().storageState({ path: storageStateOf(role) });
  });
}
