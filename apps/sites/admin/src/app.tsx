/**
 * The admin app. It asks the admin API who is signed in: signed out (401) goes to the accounts
 * sign-in and back here; a non-admin (403) is told so and may sign out; an admin sees the
 * figures, the users and the audit log. The API checks the role on every call: this is only the UI.
 */
import { useEffect, useState } from "react";
import { call, navigate, reason, siteOrigin, type User } from "../../shared/api.js";
import { Frame, Status, usePath } from "../../shared/ui.js";
import { AuditPage, OverviewPage, UsersPage } from "./pages.js";

type Access =
  | { state: "loading" }
  | { state: "refused"; message: string }
  | { state: "failed"; message: string }
  | { state: "admin"; user: User };

/** Signs out on accounts (the session is the whole domain's), then back to sign in for this site. */
async function signOut(): Promise<void> {
  await call(`${siteOrigin("accounts")}/api/auth/sign-out`, { method: "POST", crossSite: true });
  location.assign(`${siteOrigin("accounts")}/sign-in?redirect=${encodeURIComponent(`${siteOrigin("admin")}/`)}`);
}

function NavLink(props: { to: string; label: string; path: string }) {
  return (
    <a
      href={props.to}
      aria-current={props.path === props.to ? "page" : undefined}
      onClick={(event) => {
        event.preventDefault();
        navigate(props.to);
      }}
    >
      {props.label}
    </a>
  );
}

export function App() {
  const path = usePath();
  const [access, setAccess] = useState<Access>({ state: "loading" });
  useEffect(() => {
    void (async () => {
      const me = await call<{ user?: User }>("/api/admin/me");
      if (me.status === 401) {
        location.assign(`${siteOrigin("accounts")}/sign-in?redirect=${encodeURIComponent(location.href)}`);
        return;
      }
      if (me.status === 403) return setAccess({ state: "refused", message: reason(me) });
      if (!me.ok || !me.body.user) return setAccess({ state: "failed", message: reason(me) });
      setAccess({ state: "admin", user: me.body.user });
    })();
  }, []);

  if (access.state === "loading") {
    return (
      <Frame title="Opta admin" site="admin">
        <p className="muted">Loading…</p>
      </Frame>
    );
  }
  if (access.state !== "admin") {
    return (
      <Frame
        title={access.state === "refused" ? "Admins only" : "Opta admin"}
        site="admin"
        nav={
          <>
            <span className="spacer" />
            <button type="button" onClick={() => void signOut()}>
              Sign out
            </button>
          </>
        }
      >
        <Status text={access.message} error />
      </Frame>
    );
  }
  const title = path === "/users" ? "Users" : path === "/audit" ? "Audit log" : "Overview";
  return (
    <Frame
      title={title}
      site="admin"
      nav={
        <>
          <NavLink to="/" label="Overview" path={path} />
          <NavLink to="/users" label="Users" path={path} />
          <NavLink to="/audit" label="Audit log" path={path} />
          <span className="spacer" />
          <span className="muted">{access.user.email}</span>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </>
      }
    >
      {path === "/users" ? <UsersPage self={access.user} /> : path === "/audit" ? <AuditPage /> : <OverviewPage />}
    </Frame>
  );
}
