import type { Metadata } from "next";
import { PageHeader } from "~/components/ui/primitives";
import { ImageDetail } from "~/features/promotion/ui/image-detail";

export const metadata: Metadata = { title: "Image" };

export default async function ImagePage({ params, searchParams }: { params: Promise<{ digest: string }>; searchParams: Promise<{ image?: string }> }) {
  const { digest } = await params;
  const { image } = await searchParams;
  const d = decodeURIComponent(digest);
  return (
    <>
      <PageHeader title="Image" description="An image is identified by its digest: the same digest moves from environment to environment." />
      <ImageDetail digest={d} imageName={image ?? "piksel-core"} />
    </>
  );
}
