/** Sign in and sign up. After either, the browser goes to `?redirect=` when it names a page of this domain's sites, else home. */
import { type FormEvent, useState } from "react";
import { call, navigate, reason, safeRedirect } from "../../shared/api.js";
import { Field, Frame, Status } from "../../shared/ui.js";

function redirectTarget(): string {
  return safeRedirect(new URLSearchParams(location.search).get("redirect"));
}

/** Goes where the redirect says: within this app without a reload, another site with one. */
function goOn(onSignedIn: () => Promise<void>): void {
  const target = redirectTarget();
  if (target.startsWith("/")) {
    void onSignedIn().then(() => navigate(target));
  } else location.assign(target);
}

function withRedirect(path: string): string {
  const redirect = new URLSearchParams(location.search).get("redirect");
  return redirect ? `${path}?redirect=${encodeURIComponent(redirect)}` : path;
}

export function SignInPage(props: { onSignedIn: () => Promise<void> }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    const answer = await call("/api/auth/sign-in/email", { json: { email, password } });
    setBusy(false);
    if (answer.ok) goOn(props.onSignedIn);
    else setError(answer.status === 429 ? "Too many attempts; wait a few seconds and try again." : reason(answer));
  };
  return (
    <Frame title="Sign in" site="accounts">
      <form className="narrow" onSubmit={submit}>
        <Field
          label="Email"
          name="email"
          type="email"
          value={email}
          onChange={setEmail}
          autoComplete="email"
          required
        />
        <Field
          label="Password"
          name="password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          required
        />
        <button className="primary" type="submit" disabled={busy}>
          Sign in
        </button>
        <Status text={error} error />
        <p className="muted">
          No account? <a href={withRedirect("/sign-up")}>Sign up</a>
        </p>
      </form>
    </Frame>
  );
}

export function SignUpPage(props: { onSignedIn: () => Promise<void> }) {
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    const answer = await call("/api/auth/sign-up/email", { json: { name, email, password } });
    setBusy(false);
    if (answer.ok) goOn(props.onSignedIn);
    else setError(reason(answer));
  };
  return (
    <Frame title="Create your Opta account" site="accounts">
      <form className="narrow" onSubmit={submit}>
        <Field label="Name" name="name" value={name} onChange={setName} autoComplete="name" required />
        <Field
          label="Email"
          name="email"
          type="email"
          value={email}
          onChange={setEmail}
          autoComplete="email"
          required
        />
        <Field
          label="Password (10 characters or more)"
          name="password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="new-password"
          minLength={10}
          required
        />
        <button className="primary" type="submit" disabled={busy}>
          Sign up
        </button>
        <Status text={error} error />
        <p className="muted">
          Have an account? <a href={withRedirect("/sign-in")}>Sign in</a>
        </p>
      </form>
    </Frame>
  );
}
