import { getDb } from "~/server/db";
import { checkReadiness } from "~/server/health";
import { getPorts } from "~/server/ports";

/** Readiness: the app database and every configured driver of every environment, with which one is not. */
export async function GET() {
  const readiness = await checkReadiness(getDb(), getPorts());
  return Response.json(readiness, { status: readiness.ready ? 200 : 503 });
}
export const dynamic = "force-dynamic";
