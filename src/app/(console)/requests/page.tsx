import type { Metadata } from "next";
import Link from "next/link";
import { Suspense } from "react";
import { Loading, PageHeader } from "~/components/ui/primitives";
import { requireUser } from "~/features/auth/server/session";
import { RequestsList } from "~/features/requests/ui/requests-list";
import { hasRole } from "~/lib/roles";

export const metadata: Metadata = { title: "Requests" };

export default async function RequestsPage() {
  const user = await requireUser();
  return (
    <>
      <PageHeader
        title="Requests"
        description="Annual Sentinel-2 geomedians over an area of interest, computed as Kubernetes Jobs with the image deployed in the environment."
        actions={
          hasRole(user.role, "requester") ? (
            <Link className="btn primary" href="/requests/new">
              New request
            </Link>
          ) : undefined
        }
      />
      <Suspense fallback={<Loading what="requests" />}>
        <RequestsList canRequest={hasRole(user.role, "requester")} />
      </Suspense>
    </>
  );
}
