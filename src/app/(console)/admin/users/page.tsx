import type { Metadata } from "next";
import { PageHeader } from "~/components/ui/primitives";
import { requireUser } from "~/features/auth/server/session";
import { UsersTable } from "~/features/auth/ui/users-table";

export const metadata: Metadata = { title: "Users" };

export default async function UsersPage() {
  await requireUser("admin");
  return (
    <>
      <PageHeader title="Users" description="Who may do what. With an OIDC provider, roles follow its groups at every sign-in." />
      <UsersTable />
    </>
  );
}
