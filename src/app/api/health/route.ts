/** Liveness: the process serves requests. Dependencies are /api/ready's business. */
export function GET() {
  return Response.json({ status: "ok" });
}
export const dynamic = "force-dynamic";
