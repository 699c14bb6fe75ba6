/** The admin app's pages: the platform's figures, users (search, paging, role, ban, sessions), the audit log. */
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { call, reason, type User } from "../../shared/api.js";
import { Section, Status } from "../../shared/ui.js";

const PAGE = 20;

interface AdminUser {
  id: string;
  name: string;
  email: string;
  role: string;
  banned: boolean;
  banReason: string | null;
  createdAt: string;
  activeSessions: number;
}

interface AuditRow {
  id: string;
  at: string;
  actorEmail: string;
  action: string;
  target: string | null;
  ip: string | null;
  detail: Record<string, unknown>;
}

interface Figures {
  users: number;
  admins: number;
  banned: number;
  activeDevices: number;
  activeCliDevices: number;
  vaultsSyncedThisWeek: number | null;
}

export function OverviewPage() {
  const [figures, setFigures] = useState<Figures | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    void call<Figures>("/api/admin/figures").then((answer) =>
      answer.ok ? setFigures(answer.body) : setError(reason(answer)),
    );
  }, []);
  if (!figures) return error ? <Status text={error} error /> : <p className="muted">Loading…</p>;
  const rows: [string, string][] = [
    ["users", String(figures.users)],
    ["admins", String(figures.admins)],
    ["banned", String(figures.banned)],
    ["active devices", String(figures.activeDevices)],
    ["of them CLI logins", String(figures.activeCliDevices)],
    [
      "vaults synced this week",
      figures.vaultsSyncedThisWeek === null ? "no vault sync" : String(figures.vaultsSyncedThisWeek),
    ],
  ];
  return (
    <div className="figures">
      {rows.map(([label, value]) => (
        <div className="figure" key={label} data-figure={label}>
          <div className="value">{value}</div>
          <div className="label">{label}</div>
        </div>
      ))}
    </div>
  );
}

function UserRow(props: { user: AdminUser; self: User; onDone: (text: string, error?: boolean) => Promise<void> }) {
  const { user } = props;
  const [banReason, setBanReason] = useState("");
  const act = async (path: string, json: unknown, done: string) => {
    const answer = await call(`/api/admin/users/${encodeURIComponent(user.id)}/${path}`, { json });
    await props.onDone(answer.ok ? done : reason(answer), !answer.ok);
  };
  const isSelf = user.id === props.self.id;
  return (
    <tr data-email={user.email}>
      <td>
        <div>{user.email}</div>
        <div className="muted">{user.name}</div>
      </td>
      <td>
        <span className={user.role.includes("admin") ? "pill admin" : "pill"}>{user.role}</span>{" "}
        {user.banned ? <span className="pill banned">banned{user.banReason ? `: ${user.banReason}` : ""}</span> : null}
      </td>
      <td>{user.activeSessions}</td>
      <td>
        <div className="row">
          <select
            aria-label={`role of ${user.email}`}
            value={user.role.includes("admin") ? "admin" : "user"}
            disabled={isSelf}
            onChange={(event) =>
              void act("role", { role: event.target.value }, `${user.email} is now ${event.target.value}.`)
            }
          >
            <option value="user">user</option>
            <option value="admin">admin</option>
          </select>
          {user.banned ? (
            <button className="small" type="button" onClick={() => void act("unban", {}, `${user.email} is unbanned.`)}>
              Unban
            </button>
          ) : (
            <>
              <input
                aria-label={`ban reason for ${user.email}`}
                placeholder="reason"
                value={banReason}
                disabled={isSelf}
                onChange={(event) => setBanReason(event.target.value)}
              />
              <button
                className="small danger"
                type="button"
                disabled={isSelf}
                onClick={() =>
                  void act("ban", { reason: banReason }, `${user.email} is banned and signed out everywhere.`)
                }
              >
                Ban
              </button>
            </>
          )}
          <button
            className="small"
            type="button"
            onClick={() => void act("revoke-sessions", {}, `${user.email}'s sessions and devices are signed out.`)}
          >
            Revoke sessions
          </button>
        </div>
      </td>
    </tr>
  );
}

export function UsersPage(props: { self: User }) {
  const [search, setSearch] = useState("");
  const [query, setQuery] = useState("");
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<{ users: AdminUser[]; total: number } | null>(null);
  const [status, setStatus] = useState({ text: "", error: false });
  const load = useCallback(async () => {
    const answer = await call<{ users: AdminUser[]; total: number }>(
      `/api/admin/users?search=${encodeURIComponent(query)}&limit=${PAGE}&offset=${offset}`,
    );
    if (answer.ok) setPage(answer.body);
    else setStatus({ text: reason(answer), error: true });
  }, [query, offset]);
  useEffect(() => {
    void load();
  }, [load]);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setOffset(0);
    setQuery(search.trim());
  };
  const done = async (text: string, error = false) => {
    setStatus({ text, error });
    await load();
  };
  return (
    <Section title="Users">
      <form className="row" onSubmit={submit}>
        <input
          aria-label="search users"
          placeholder="email or name"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
        />
        <button type="submit">Search</button>
      </form>
      <Status {...status} />
      {page === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <>
          <table>
            <thead>
              <tr>
                <th>User</th>
                <th>Role</th>
                <th>Sessions</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {page.users.map((user) => (
                <UserRow key={user.id} user={user} self={props.self} onDone={done} />
              ))}
            </tbody>
          </table>
          <div className="row">
            <span className="muted">
              {page.total === 0 ? "No users" : `${offset + 1}–${offset + page.users.length} of ${page.total}`}
            </span>
            <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
              Previous
            </button>
            <button type="button" disabled={offset + PAGE >= page.total} onClick={() => setOffset(offset + PAGE)}>
              Next
            </button>
          </div>
        </>
      )}
    </Section>
  );
}

export function AuditPage() {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<{ rows: AuditRow[]; total: number } | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    void call<{ rows: AuditRow[]; total: number }>(`/api/admin/audit?limit=${PAGE}&offset=${offset}`).then((answer) =>
      answer.ok ? setPage(answer.body) : setError(reason(answer)),
    );
  }, [offset]);
  if (!page) return error ? <Status text={error} error /> : <p className="muted">Loading…</p>;
  return (
    <Section title="Every admin action, newest first">
      <table>
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>What</th>
            <th>To whom</th>
            <th>From</th>
          </tr>
        </thead>
        <tbody>
          {page.rows.map((row) => (
            <tr key={row.id} data-action={row.action}>
              <td>{new Date(row.at).toLocaleString()}</td>
              <td>{row.actorEmail}</td>
              <td>
                <code>{row.action}</code>
                {typeof row.detail.to === "string" ? ` → ${row.detail.to}` : ""}
                {typeof row.detail.reason === "string" ? ` (${row.detail.reason})` : ""}
              </td>
              <td>{typeof row.detail.email === "string" ? row.detail.email : (row.target ?? "")}</td>
              <td>{row.ip ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row">
        <span className="muted">{page.total} actions</span>
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          Previous
        </button>
        <button type="button" disabled={offset + PAGE >= page.total} onClick={() => setOffset(offset + PAGE)}>
          Next
        </button>
      </div>
    </Section>
  );
}
