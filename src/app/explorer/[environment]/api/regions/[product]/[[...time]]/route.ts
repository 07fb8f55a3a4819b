import { regionsRoute } from "~/features/coverage/server/explorer-routes";

/** datacube-explorer's `/api/regions/<product>[/<year>[/<month>[/<day>]]]` for one environment. */
export const GET = regionsRoute;
export const dynamic = "force-dynamic";
