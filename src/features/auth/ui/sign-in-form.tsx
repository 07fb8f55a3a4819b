"use client";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { authClient } from "~/lib/auth-client";

interface Props {
  local: boolean;
  oidc: boolean;
  demoUsers: { email: string; role: string }[];
  demoPassword: string | null;
}

/** Local e-mail + password sign-in, or the button of the configured OIDC provider. */
export function SignInForm({ local, oidc, demoUsers, demoPassword }: Props) {
  const router = useRouter();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const { error: err } = await authClient.signIn.email({ email, password });
    setBusy(false);
    if (err) {
      setError(err.status === 401 || err.code === "INVALID_EMAIL_OR_PASSWORD" ? "Wrong e-mail or password. Check both and try again." : (err.message ?? "Sign-in failed."));
      return;
    }
    router.replace("/environments");
    router.refresh();
  }

  return (
    <>
      <h1 style={{ fontSize: 18, marginBottom: 14 }}>Sign in</h1>
      {error && (
        <div role="alert" className="alert bad">
          {error}
        </div>
      )}
      {oidc && (
        <button type="button" className="btn primary" style={{ width: "100%" }} onClick={() => authClient.signIn.social({ provider: "oidc", callbackURL: "/environments" })}>
          Sign in with your organisation
        </button>
      )}
      {local && (
        <form onSubmit={onSubmit} noValidate>
          <div className="field">
            <label htmlFor="email">E-mail</label>
            <input id="email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required />
          </div>
          <div className="field">
            <label htmlFor="password">Password</label>
            <input id="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
          </div>
          <button type="submit" className="btn primary" style={{ width: "100%" }} disabled={busy || !email || !password}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
      )}
      {demoUsers.length > 0 && demoPassword && (
        <div className="demo-users">
          <h3>Demo users</h3>
          <p className="muted">
            Embedded platform: every demo user&apos;s password is <code>{demoPassword}</code>. Pick one to fill the form.
          </p>
          <ul style={{ margin: 0, paddingLeft: 18 }}>
            {demoUsers.map((u) => (
              <li key={u.email}>
                <button type="button" onClick={() => { setEmail(u.email); setPassword(demoPassword); }}>
                  {u.email}
                </button>{" "}
                <span className="badge">{u.role}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </>
  );
}
