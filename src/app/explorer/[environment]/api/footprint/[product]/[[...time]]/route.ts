import { footprintRoute } from "~/features/coverage/server/explorer-routes";

/** datacube-explorer's `/api/footprint/<product>[/<year>[/<month>[/<day>]]]` for one environment. */
export const GET = footprintRoute;
export const dynamic = "force-dynamic";
