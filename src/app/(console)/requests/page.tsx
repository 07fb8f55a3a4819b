import type { Metadata } from "next";
import { EmptyState, PageHeader } from "~/components/ui/primitives";

export const metadata: Metadata = { title: "Requests" };

export default function RequestsPage() {
  return (
    <>
      <PageHeader title="Requests" description="Annual Sentinel-2 geomedians over an area of interest, computed as Kubernetes Jobs with the image deployed in the environment." />
      <section className="panel">
        <EmptyState title="No product requests yet">
          <p>
            Requesters draw an area of interest, pick an environment and a year, and see the plan of grid tiles before submitting. Each
            request, its tiles&apos; progress and its outputs on the map will be listed here.
          </p>
        </EmptyState>
      </section>
    </>
  );
}
