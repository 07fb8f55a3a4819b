import { outputsContext, requireSignedIn } from "~/features/outputs/server/context";
import { outputFileResponse } from "~/features/outputs/server/downloads.service";
import { withAppErrors } from "~/features/outputs/server/http";

type Params = { params: Promise<{ environment: string; key: string[] }> };

/** An output file: a redirect to a presigned URL on S3, the file (with Range) on the directory driver. Signed-in users. */
export async function GET(req: Request, { params }: Params) {
  return withAppErrors(async () => {
    await requireSignedIn();
    return outputFileResponse(outputsContext(), await params, req);
  });
}

/** Size and type without the bytes: GDAL's /vsicurl/ asks this before reading ranges. */
export async function HEAD(req: Request, { params }: Params) {
  return GET(req, { params });
}
export const dynamic = "force-dynamic";
