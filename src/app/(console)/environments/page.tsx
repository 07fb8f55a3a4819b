import type { Metadata } from "next";
import { PageHeader } from "~/components/ui/primitives";
import { EnvironmentsOverview } from "~/features/environments/ui/environments-overview";

export const metadata: Metadata = { title: "Environments" };

export default async function EnvironmentsPage({ searchParams }: { searchParams: Promise<{ denied?: string }> }) {
  const { denied } = await searchParams;
  return (
    <>
      <PageHeader title="Environments" description="What runs where: dev → staging → prod, each with its own cluster, ODC index and buckets." />
      {denied && (
        <div role="alert" className="alert bad">
          That page needs the {denied} role. Ask an admin if you need it.
        </div>
      )}
      <EnvironmentsOverview />
    </>
  );
}
