/**
 * The accounts app: one page per path (the server answers index.html for each). Sign up and sign
 * in are open; the account page and the device approval need a session and send a signed-out
 * user to /sign-in?redirect=… (a path of this site, so they come back here).
 */
import { useCallback, useEffect, useState } from "react";
import { call, navigate, type User } from "../../shared/api.js";
import { Frame, usePath } from "../../shared/ui.js";
import { AccountPage } from "./account-page.js";
import { SignInPage, SignUpPage } from "./auth-pages.js";
import { DevicePage } from "./device-page.js";

/** The session as the page knows it: still asking, nobody, or the user. */
export type SessionState = { state: "loading" } | { state: "signed-out" } | { state: "signed-in"; user: User };

export function useSession(): [SessionState, () => Promise<void>] {
  const [session, setSession] = useState<SessionState>({ state: "loading" });
  const refresh = useCallback(async () => {
    const answer = await call<{ user?: User } | null>("/api/auth/get-session");
    const user = answer.body?.user;
    setSession(user ? { state: "signed-in", user } : { state: "signed-out" });
  }, []);
  useEffect(() => {
    void refresh();
  }, [refresh]);
  return [session, refresh];
}

/** Sends a signed-out visitor to sign in, to come back to this very page. */
export function signInHere(): void {
  navigate(`/sign-in?redirect=${encodeURIComponent(location.pathname + location.search)}`);
}

export function App() {
  const path = usePath();
  const [session, refresh] = useSession();
  const open = path === "/sign-in" || path === "/sign-up";
  useEffect(() => {
    if (!open && session.state === "signed-out") signInHere();
  }, [open, session.state]);
  if (path === "/sign-in") return <SignInPage onSignedIn={refresh} />;
  if (path === "/sign-up") return <SignUpPage onSignedIn={refresh} />;
  if (session.state === "loading") {
    return (
      <Frame title="Opta accounts" site="accounts">
        <p className="muted">Loading…</p>
      </Frame>
    );
  }
  if (session.state === "signed-out") return null;
  if (path === "/device") return <DevicePage user={session.user} />;
  return <AccountPage user={session.user} onChange={refresh} />;
}
