import type { Metadata } from "next";
import Link from "next/link";
import { PageHeader } from "~/components/ui/primitives";
import { RequestView } from "~/features/requests/ui/request-view";

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  return { title: `Request ${(await params).id}` };
}

export default async function RequestPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return (
    <>
      <PageHeader title={`Request ${id}`} description={<Link href="/requests">All requests</Link>} />
      <RequestView id={id} />
    </>
  );
}
