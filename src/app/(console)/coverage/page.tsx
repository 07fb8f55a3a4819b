import type { Metadata } from "next";
import { PageHeader } from "~/components/ui/primitives";
import { CoverageOverview } from "~/features/coverage/ui/coverage-overview";

export const metadata: Metadata = { title: "Coverage" };

export default function CoveragePage() {
  return (
    <>
      <PageHeader title="Coverage" description="What each environment's ODC index holds, on the map: scope, cells by dataset count, and time." />
      <CoverageOverview />
    </>
  );
}
