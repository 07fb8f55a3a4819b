import "server-only";
import { getSessionUser } from "~/features/auth/server/session";
import { parseGridSpec } from "~/lib/grid";
import { getConfig } from "~/server/config";
import { AppError } from "~/server/errors";
import { getPorts } from "~/server/ports";
import type { OutputsContext } from "./tiles.service";

/** The outputs endpoints' context from the process configuration and ports. */
export function outputsContext(): OutputsContext {
  return {
    environments: new Map([...getPorts()].map(([name, ports]) => [name, ports.objects])),
    grid: parseGridSpec(getConfig().geomedian.grid),
  };
}

/** Outputs are for any signed-in user (viewer and above); route handlers call this first. */
export async function requireSignedIn(): Promise<void> {
  if (!(await getSessionUser())) throw new AppError("UNAUTHORIZED", "Sign in to the console to view and download outputs.");
}
