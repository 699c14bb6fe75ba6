/**
 * The signed-in user's page: profile, password, sessions and CLI devices (each revocable), sign
 * out here or everywhere, delete the account (its vault goes with it).
 */
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { call, navigate, reason, type User } from "../../shared/api.js";
import { Field, Frame, Section, Status } from "../../shared/ui.js";

/** One session as /api/account/sessions lists it. */
interface OwnSession {
  id: string;
  kind: "cli" | "browser";
  hostname: string | null;
  ip: string | null;
  userAgent: string | null;
  createdAt: string;
  lastSeenAt: string;
  current: boolean;
}

function when(iso: string): string {
  return new Date(iso).toLocaleString();
}

/** A browser's User-Agent in two words. */
function browserName(agent: string | null): string {
  if (!agent) return "A browser";
  const name = /(Firefox|Edg|Chrome|Safari)\//.exec(agent)?.[1];
  const system = /(Windows|Mac OS X|Linux|Android|iPhone)/.exec(agent)?.[1];
  return `${name === "Edg" ? "Edge" : (name ?? "A browser")}${system ? ` on ${system}` : ""}`;
}

function Profile(props: { user: User; onChange: () => Promise<void> }) {
  const [name, setName] = useState(props.user.name);
  const [status, setStatus] = useState({ text: "", error: false });
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const answer = await call("/api/auth/update-user", { json: { name } });
    setStatus(answer.ok ? { text: "Saved.", error: false } : { text: reason(answer), error: true });
    if (answer.ok) await props.onChange();
  };
  return (
    <Section title="Profile">
      <form onSubmit={submit}>
        <p className="muted">
          Signed in as <strong>{props.user.email}</strong>
        </p>
        <Field label="Name" name="name" value={name} onChange={setName} autoComplete="name" required />
        <div className="row">
          <button type="submit">Save name</button>
        </div>
        <Status {...status} />
      </form>
    </Section>
  );
}

function Password() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [others, setOthers] = useState(true);
  const [status, setStatus] = useState({ text: "", error: false });
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const answer = await call("/api/auth/change-password", {
      json: { currentPassword: current, newPassword: next, revokeOtherSessions: others },
    });
    setStatus(
      answer.ok
        ? { text: others ? "Password changed; your other sessions are signed out." : "Password changed.", error: false }
        : { text: reason(answer), error: true },
    );
    if (answer.ok) {
      setCurrent("");
      setNext("");
    }
  };
  return (
    <Section title="Password">
      <form onSubmit={submit}>
        <Field
          label="Current password"
          name="current-password"
          type="password"
          value={current}
          onChange={setCurrent}
          autoComplete="current-password"
          required
        />
        <Field
          label="New password (10 characters or more)"
          name="new-password"
          type="password"
          value={next}
          onChange={setNext}
          autoComplete="new-password"
          minLength={10}
          required
        />
        <label className="check">
          <input type="checkbox" checked={others} onChange={(event) => setOthers(event.target.checked)} />
          Sign out my other sessions and devices
        </label>
        <div className="row">
          <button type="submit">Change password</button>
        </div>
        <Status {...status} />
      </form>
    </Section>
  );
}

function Sessions() {
  const [sessions, setSessions] = useState<OwnSession[] | null>(null);
  const [status, setStatus] = useState({ text: "", error: false });
  const load = useCallback(async () => {
    const answer = await call<{ sessions?: OwnSession[] }>("/api/account/sessions");
    if (answer.ok) setSessions(answer.body.sessions ?? []);
    else setStatus({ text: reason(answer), error: true });
  }, []);
  useEffect(() => {
    void load();
  }, [load]);
  const revoke = async (session: OwnSession) => {
    const answer = await call(`/api/account/sessions/${encodeURIComponent(session.id)}/revoke`, { method: "POST" });
    if (!answer.ok) return setStatus({ text: reason(answer), error: true });
    if (session.current) return navigate("/sign-in");
    setStatus({ text: session.kind === "cli" ? "Revoked: that CLI is signed out." : "Revoked.", error: false });
    await load();
  };
  return (
    <Section title="Sessions and devices">
      <p className="muted">
        Each browser and each `opta account login` is a session. Revoke one and it is signed out at once.
      </p>
      {sessions === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>What</th>
              <th>From</th>
              <th>Last seen</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {sessions.map((session) => (
              <tr key={session.id} data-kind={session.kind}>
                <td>
                  {session.kind === "cli"
                    ? `Opta CLI on ${session.hostname ?? "an unnamed host"}`
                    : browserName(session.userAgent)}
                  {session.current ? <span className="pill"> this browser</span> : null}
                </td>
                <td>{session.ip ?? "unknown"}</td>
                <td>{when(session.lastSeenAt)}</td>
                <td>
                  <button className="small" type="button" onClick={() => void revoke(session)}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Status {...status} />
    </Section>
  );
}

function SignOut() {
  const [status, setStatus] = useState("");
  const here = async () => {
    const answer = await call("/api/auth/sign-out", { method: "POST" });
    if (answer.ok) navigate("/sign-in");
    else setStatus(reason(answer));
  };
  const everywhere = async () => {
    // Every session, this one included: browsers on all sites and every CLI token.
    const answer = await call("/api/auth/revoke-sessions", { method: "POST" });
    if (!answer.ok) return setStatus(reason(answer));
    await call("/api/auth/sign-out", { method: "POST" });
    navigate("/sign-in");
  };
  return (
    <Section title="Sign out">
      <div className="row">
        <button type="button" onClick={() => void here()}>
          Sign out
        </button>
        <button type="button" onClick={() => void everywhere()}>
          Sign out everywhere
        </button>
      </div>
      <Status text={status} error />
    </Section>
  );
}

function DeleteAccount() {
  const [password, setPassword] = useState("");
  const [status, setStatus] = useState("");
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const answer = await call("/api/auth/delete-user", { json: { password } });
    if (answer.ok) navigate("/sign-up");
    else setStatus(reason(answer));
  };
  return (
    <Section title="Delete account" danger>
      <form onSubmit={submit}>
        <p className="muted">
          This deletes your account, every session and device, and your synced vault on this platform. It cannot be
          undone.
        </p>
        <Field
          label="Password, to confirm"
          name="delete-password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          required
        />
        <div className="row">
          <button className="danger" type="submit">
            Delete my account
          </button>
        </div>
        <Status text={status} error />
      </form>
    </Section>
  );
}

export function AccountPage(props: { user: User; onChange: () => Promise<void> }) {
  return (
    <Frame title="Your account" site="accounts">
      <Profile user={props.user} onChange={props.onChange} />
      <Sessions />
      <Password />
      <SignOut />
      <DeleteAccount />
    </Frame>
  );
}
