import type { Metadata } from "next";
import { PageHeader } from "~/components/ui/primitives";
import { AuditLog } from "~/features/audit/ui/audit-log";

export const metadata: Metadata = { title: "Audit" };

export default function AuditPage() {
  return (
    <>
      <PageHeader title="Audit" description="Every action with its actor, time, environment, digests and git commit. The log is append-only." />
      <AuditLog />
    </>
  );
}
