import type { Metadata } from "next";
import { PageHeader } from "~/components/ui/primitives";
import { IndexOverview } from "~/features/indexing/ui/index-overview";

export const metadata: Metadata = { title: "Indexing" };

export default function IndexingPage() {
  return (
    <>
      <PageHeader
        title="Indexing"
        description="Each environment's ODC index, filled from the STAC catalogue within its scope (no pixel is copied): what it holds, the indexer runs, and the index schema migrations promoted dev → staging → prod."
      />
      <IndexOverview />
    </>
  );
}
