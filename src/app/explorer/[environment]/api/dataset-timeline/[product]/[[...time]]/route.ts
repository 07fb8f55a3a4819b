import { timelineRoute } from "~/features/coverage/server/explorer-routes";

/** datacube-explorer's `/api/dataset-timeline/<product>[/<year>[/<month>[/<day>]]]` for one environment. */
export const GET = timelineRoute;
export const dynamic = "force-dynamic";
