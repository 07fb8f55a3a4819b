import type { Metadata } from "next";
import { PageHeader } from "~/components/ui/primitives";
import { requireUser } from "~/features/auth/server/session";
import { NewRequest } from "~/features/requests/ui/new-request";

export const metadata: Metadata = { title: "New request" };

export default async function NewRequestPage({ searchParams }: { searchParams: Promise<{ environment?: string }> }) {
  const user = await requireUser("requester");
  const { environment } = await searchParams;
  return (
    <>
      <PageHeader title="New request" description="An annual Sentinel-2 geomedian (gm_s2_annual) over an area of interest, computed tile by tile with the image deployed in the environment." />
      <NewRequest role={user.role} initialEnvironment={environment} />
    </>
  );
}
