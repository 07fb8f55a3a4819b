import { getSessionUser } from "~/features/auth/server/session";
import { auditToCsv, exportAudit } from "~/features/audit/server/audit.service";
import { getDb } from "~/server/db";

/** The audit log as JSON or CSV (`?format=csv`), with the same filters as the page. Viewers and above. */
export async function GET(req: Request) {
  if (!(await getSessionUser())) return Response.json({ error: "Sign in to export the audit log." }, { status: 401 });
  const url = new URL(req.url);
  const format = url.searchParams.get("format") ?? "json";
  if (format !== "json" && format !== "csv") return Response.json({ error: `format must be json or csv, not "${format}"` }, { status: 400 });
  const events = await exportAudit(getDb(), {
    action: url.searchParams.get("action") ?? undefined,
    environment: url.searchParams.get("environment") ?? undefined,
    actor: url.searchParams.get("actor") ?? undefined,
  });
  const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, "");
  if (format === "csv") {
    return new Response(auditToCsv(events), { headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="piksel-audit-${stamp}.csv"` } });
  }
  return new Response(JSON.stringify(events, null, 2), { headers: { "content-type": "application/json", "content-disposition": `attachment; filename="piksel-audit-${stamp}.json"` } });
}
export const dynamic = "force-dynamic";
