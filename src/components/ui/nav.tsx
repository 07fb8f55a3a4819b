"use client";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { hasRole, type Role } from "~/lib/roles";
import { authClient } from "~/lib/auth-client";

const links: { href: string; label: string; role: Role }[] = [
  { href: "/environments", label: "Environments", role: "viewer" },
  { href: "/promotions", label: "Promotions", role: "viewer" },
  { href: "/coverage", label: "Coverage", role: "viewer" },
  { href: "/requests", label: "Requests", role: "viewer" },
  { href: "/indexing", label: "Indexing", role: "viewer" },
  { href: "/audit", label: "Audit", role: "viewer" },
];

/** The side navigation; admin links show only to admins (the server refuses them anyway). */
export function Nav({ user }: { user: { email: string; name: string; role: Role } }) {
  const pathname = usePathname();
  const router = useRouter();
  const current = (href: string) => (pathname === href || pathname.startsWith(`${href}/`) ? "page" : undefined);
  return (
    <nav className="sidebar" aria-label="Main">
      <Link href="/environments" className="brand">
        <span className="brand-mark" aria-hidden /> Piksel Console
      </Link>
      {links
        .filter((l) => hasRole(user.role, l.role))
        .map((l) => (
          <Link key={l.href} href={l.href} className="nav-link" aria-current={current(l.href)}>
            {l.label}
          </Link>
        ))}
      {hasRole(user.role, "admin") && (
        <>
          <div className="nav-section">Admin</div>
          <Link href="/admin/users" className="nav-link" aria-current={current("/admin/users")}>
            Users
          </Link>
        </>
      )}
      <div className="sidebar-foot">
        <div className="who">{user.name}</div>
        <div className="muted" style={{ color: "#8fa0b8" }}>
          {user.email} · <span data-testid="current-role">{user.role}</span>
        </div>
        <button
          type="button"
          className="btn"
          style={{ marginTop: 10, width: "100%" }}
          onClick={async () => {
            await authClient.signOut();
            router.replace("/sign-in");
            router.refresh();
          }}
        >
          Sign out
        </button>
      </div>
    </nav>
  );
}
