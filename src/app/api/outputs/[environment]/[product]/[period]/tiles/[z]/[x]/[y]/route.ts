import { outputsContext, requireSignedIn } from "~/features/outputs/server/context";
import { withAppErrors } from "~/features/outputs/server/http";
import { outputTileResponse, type OutputTileParams } from "~/features/outputs/server/tiles.service";

/** A 256 px web-mercator PNG of an output product (RGB, transparent where there is none). Signed-in users. */
export async function GET(req: Request, { params }: { params: Promise<OutputTileParams> }) {
  return withAppErrors(async () => {
    await requireSignedIn();
    return outputTileResponse(outputsContext(), await params, req);
  });
}
export const dynamic = "force-dynamic";
