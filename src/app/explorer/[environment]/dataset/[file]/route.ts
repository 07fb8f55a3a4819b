import { datasetDocumentRoute } from "~/features/coverage/server/explorer-routes";

/** datacube-explorer's `/dataset/<id>.odc-metadata.yaml`: the EO3 document as stored in the environment's index. */
export const GET = datasetDocumentRoute;
export const dynamic = "force-dynamic";
