import type { SessionInfo } from "@opta/protocol";
import { forwardRef, memo } from "react";
import { ago } from "../format.js";
import { useAppState, useController } from "../state/hooks.js";

const STATUS_LABEL: Record<SessionInfo["status"], string> = {
  idle: "Idle",
  active: "Active",
  done: "Done",
  error: "Error",
  cancelled: "Cancelled",
  interrupted: "Interrupted",
};

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
  return (
    <li>
      <button
        type="button"
        className={`rail-item${selected ? " selected" : ""}`}
        aria-current={selected ? "true" : undefined}
        onClick={() => onSelect(session.id)}
        title={session.id}
      >
        <span className="rail-title">{session.title || session.id}</span>
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
    </li>
  );
});

/** Every session, newest first, with status and turn count; search by title or id; new session. */
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
        {state.sessions.map((session) => (
          <RailItem
            key={session.id}
            session={session}
            selected={session.id === state.selectedId}
            attention={state.attention[session.id] ?? 0}
            onSelect={onSelect}
          />
        ))}
      </ul>
      {state.sessionsLoaded && state.sessions.length === 0 ? (
        <p className="muted rail-empty">{state.sessionsQuery ? "No session matches." : "No sessions yet."}</p>
      ) : null}
    </nav>
  );
});
