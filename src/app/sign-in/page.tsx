import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { getSessionUser, signInOptions } from "~/features/auth/server/session";
import { SignInForm } from "~/features/auth/ui/sign-in-form";

export const metadata: Metadata = { title: "Sign in" };
export const dynamic = "force-dynamic";

export default async function SignInPage() {
  if (await getSessionUser()) redirect("/environments");
  const options = signInOptions();
  return (
    <main className="auth-page">
      <div className="auth-card">
        <div className="brand">
          <span className="brand-mark" aria-hidden /> Piksel Console
        </div>
        <SignInForm {...options} />
      </div>
    </main>
  );
}
