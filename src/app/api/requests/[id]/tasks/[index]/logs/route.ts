import { getSessionUser } from "~/features/auth/server/session";
import { taskLogs } from "~/features/requests/server/request.service";
import { getDb } from "~/server/db";
import { AppError } from "~/server/errors";
import { getPorts } from "~/server/ports";

/**
 * A tile's log as Server-Sent Events: one `data:` per line, then `event: end` when the attempt ended
 * (or at once without `?follow=1`). Viewers and above.
 */
export async function GET(req: Request, { params }: { params: Promise<{ id: string; index: string }> }) {
  if (!(await getSessionUser())) return Response.json({ error: "Sign in to read logs." }, { status: 401 });
  const { id, index } = await params;
  if (!/^[a-z0-9]{6,40}$/.test(id) || !/^\d{1,6}$/.test(index)) return Response.json({ error: "Expected /api/requests/<request id>/tasks/<tile index>/logs." }, { status: 400 });
  const url = new URL(req.url);
  const attempt = url.searchParams.get("attempt");
  if (attempt !== null && !/^[1-9]\d{0,2}$/.test(attempt)) return Response.json({ error: `attempt must be a positive whole number, not "${attempt}".` }, { status: 400 });
  const lines = taskLogs({ db: getDb(), ports: getPorts() }, id, Number(index), { follow: url.searchParams.get("follow") === "1", attempt: attempt ? Number(attempt) : undefined, signal: req.signal });
  // Read the first line before answering, so that an unknown request is a 404, not an empty stream.
  let first: IteratorResult<string>;
  try {
    first = await lines.next();
  } catch (err) {
    if (err instanceof AppError && err.code === "NOT_FOUND") return Response.json({ error: err.message }, { status: 404 });
    throw err;
  }
  const encoder = new TextEncoder();
  const event = (data: string) => encoder.encode(data.split("\n").map((l) => `data: ${l}`).join("\n") + "\n\n");
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        if (!first.done) controller.enqueue(event(first.value));
        for await (const line of { [Symbol.asyncIterator]: () => lines }) controller.enqueue(event(line));
        controller.enqueue(encoder.encode("event: end\ndata: \n\n"));
      } catch (err) {
        controller.enqueue(encoder.encode(`event: failure\ndata: ${(err as Error).message.replace(/\n/g, " ")}\n\n`));
      } finally {
        controller.close();
      }
    },
    cancel() {
      void lines.return(undefined);
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" } });
}
export const dynamic = "force-dynamic";
