import type { ReactNode } from "react";
import { Nav } from "~/components/ui/nav";
import { requireUser } from "~/features/auth/server/session";

export const dynamic = "force-dynamic";

/** Every console page needs a signed-in user; the shell shows only what their role may use. */
export default async function ConsoleLayout({ children }: { children: ReactNode }) {
  const user = await requireUser();
  return (
    <div className="shell">
      <Nav user={user} />
      <main className="main">{children}</main>
    </div>
  );
}
