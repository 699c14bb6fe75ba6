import type { SessionInfo } from "@opta/protocol";
import { forwardRef, memo, useState } from "react";
import { ago } from "../format.js";
import { useAppState, useController } from "../state/hooks.js";

const STATUS_LABEL: Record<SessionInfo["status"], string> = {
  idle: "Idle",
  active: "Active",
  paused: "Paused",
  done: "Done",
  error: "Error",
  cancelled: "Cancelled",
  interrupted: "Interrupted",
};

/** The rail's groups: pinned sessions first, then one group per project (cwd), each newest first. */
export function groupSessions(
  sessions: SessionInfo[],
): Array<{ key: string; label: string; title: string; sessions: SessionInfo[] }> {
  const pinned = sessions.filter((session) => session.pinned);
  const groups = new Map<string, SessionInfo[]>();
  for (const session of sessions) {
    if (session.pinned) continue;
    const list = groups.get(session.cwd) ?? [];
    list.push(session);
    groups.set(session.cwd, list);
  }
  const out: Array<{ key: string; label: string; title: string; sessions: SessionInfo[] }> = [];
  if (pinned.length > 0) out.push({ key: "pinned", label: "Pinned", title: "Pinned sessions", sessions: pinned });
  // Groups keep the list's order: the project with the newest session comes first.
  for (const [cwd, list] of groups)
    out.push({ key: `cwd:${cwd}`, label: projectName(cwd), title: cwd, sessions: list });
  return out;
}

function projectName(cwd: string): string {
  if (!cwd) return "No project";
  const parts = cwd.split(/[\\/]/).filter(Boolean);
  return parts.at(-1) ?? cwd;
}

const RailItem = memo(function RailItem({
  session,
  selected,
  attention,
  onSelect,
}: {
  session: SessionInfo;
  selected: boolean;
  attention: number;
  onSelect: (id: string) => void;
}) {
  const controller = useController();
  const [mode, setMode] = useState<"view" | "rename" | "confirm-delete">("view");
  const [draft, setDraft] = useState(session.title);
  const title = session.title || session.id;
  if (mode === "rename") {
    const commit = async () => {
      const value = draft.trim();
      if (value && value !== session.title) await controller.renameSession(session.id, value);
      setMode("view");
    };
    return (
      <li className="rail-row" data-session-id={session.id}>
        <input
          className="rail-rename"
          aria-label={`New title for ${title}`}
          value={draft}
          // biome-ignore lint/a11y/noAutofocus: the user just asked to rename this session
          autoFocus
          maxLength={200}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={(event) => {
            if (event.key === "Enter") {
              event.preventDefault();
              void commit();
            } else if (event.key === "Escape") {
              event.preventDefault();
              event.stopPropagation();
              setMode("view");
            }
          }}
          onBlur={() => void commit()}
        />
      </li>
    );
  }
  if (mode === "confirm-delete") {
    return (
      <li className="rail-row" data-session-id={session.id}>
        <fieldset className="rail-confirm" aria-label={`Delete ${title}?`}>
          <span>Delete “{truncateTitle(title)}”? It is archived, not destroyed.</span>
          <button
            type="button"
            className="button danger small"
            onClick={() => void controller.deleteSession(session.id).then((done) => !done && setMode("view"))}
          >
            Delete
          </button>
          <button type="button" className="button small" onClick={() => setMode("view")}>
            Keep
          </button>
        </fieldset>
      </li>
    );
  }
  return (
    <li className="rail-row" data-session-id={session.id}>
      <button
        type="button"
        className={`rail-item${selected ? " selected" : ""}`}
        aria-current={selected ? "true" : undefined}
        onClick={() => onSelect(session.id)}
        onDoubleClick={() => {
          setDraft(session.title);
          setMode("rename");
        }}
        title={session.id}
      >
        <span className="rail-title">
          {session.pinned ? (
            <span aria-label="pinned" role="img">
              📌{" "}
            </span>
          ) : null}
          {title}
        </span>
        <span className="rail-meta">
          <span className={`status-dot status-${session.status}`} aria-hidden="true" />
          {STATUS_LABEL[session.status]} · {session.turnCount} turn{session.turnCount === 1 ? "" : "s"} ·{" "}
          {ago(session.updatedAt)}
        </span>
        {attention > 0 ? (
          <span className="attention" title="Waiting for approval">
            {attention} approval{attention === 1 ? "" : "s"}
          </span>
        ) : null}
      </button>
      <span className="rail-actions">
        <button
          type="button"
          className="icon-button"
          aria-label={`Rename ${title}`}
          title="Rename"
          onClick={() => {
            setDraft(session.title);
            setMode("rename");
          }}
        >
          ✎
        </button>
        <button
          type="button"
          className="icon-button"
          aria-label={session.pinned ? `Unpin ${title}` : `Pin ${title}`}
          aria-pressed={Boolean(session.pinned)}
          title={session.pinned ? "Unpin" : "Pin to the top"}
          onClick={() => void controller.setPinned(session.id, !session.pinned)}
        >
          ⚲
        </button>
        <button
          type="button"
          className="icon-button"
          aria-label={`Delete ${title}`}
          title="Delete (archived)"
          disabled={session.status === "active"}
          onClick={() => setMode("confirm-delete")}
        >
          🗑
        </button>
      </span>
    </li>
  );
});

function truncateTitle(title: string): string {
  return title.length > 40 ? `${title.slice(0, 39)}…` : title;
}

/**
 * Every session, grouped by project (pinned first), newest first, with status and turn count;
 * rename (✎ or double-click), pin, delete (asks first; the daemon archives it); search; new session.
 */
export const SessionRail = forwardRef<HTMLInputElement, { shortcut: (key: string) => string }>(function SessionRail(
  { shortcut },
  searchRef,
) {
  const controller = useController();
  const state = useAppState();
  const onSelect = (id: string) => controller.selectSession(id);
  return (
    <nav className="rail" aria-label="Sessions">
      <div className="rail-header">
        <h2>Sessions</h2>
        <button
          type="button"
          className="button primary small"
          onClick={() => void controller.createSession()}
          title={`New session (${shortcut("N")})`}
          disabled={state.auth !== "ok"}
        >
          + New
        </button>
      </div>
      <label className="visually-hidden" htmlFor="session-search">
        Search sessions by title or id
      </label>
      <input
        id="session-search"
        ref={searchRef}
        className="search"
        type="search"
        placeholder={`Search (${shortcut("K")})`}
        value={state.sessionsQuery}
        onChange={(event) => controller.setSessionsQuery(event.target.value)}
        autoComplete="off"
        spellCheck={false}
      />
      <ul className="rail-list" data-testid="session-list">
        {groupSessions(state.sessions).map((group) => (
          <li key={group.key} className="rail-group" data-testid="rail-group">
            <h3 className="rail-group-title" title={group.title}>
              {group.label}
            </h3>
            <ul className="rail-group" aria-label={group.label}>
              {group.sessions.map((session) => (
                <RailItem
                  key={session.id}
                  session={session}
                  selected={session.id === state.selectedId}
                  attention={state.attention[session.id] ?? 0}
                  onSelect={onSelect}
                />
              ))}
            </ul>
          </li>
        ))}
      </ul>
      {state.sessionsLoaded && state.sessions.length === 0 ? (
        <p className="muted rail-empty">{state.sessionsQuery ? "No session matches." : "No sessions yet."}</p>
      ) : null}
    </nav>
  );
});
