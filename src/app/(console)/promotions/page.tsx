import type { Metadata } from "next";
import { PageHeader } from "~/components/ui/primitives";
import { PromotionsBoard } from "~/features/promotion/ui/promotions-board";

export const metadata: Metadata = { title: "Promotions" };

export default function PromotionsPage() {
  return (
    <>
      <PageHeader title="Promotions" description="The same image digest moves dev → staging → prod by commits to the GitOps repository; Flux applies them." />
      <PromotionsBoard />
    </>
  );
}
