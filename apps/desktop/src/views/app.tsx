import { useEffect, useRef, useState } from "react";
import { formatKeys, matchShortcut } from "../keyboard.js";
import type { ConnectionState } from "../state/app-controller.js";
import { useAppState, useController, useSessionSelector, useSessionView } from "../state/hooks.js";
import { ApprovalsDock, Composer, type ComposerSettings } from "./composer.js";
import { AuthPrompt, HelpOverlay } from "./overlays.js";
import { DaemonPanel, TelemetryPanel } from "./panels.js";
import { SessionRail } from "./session-rail.js";
import { Timeline } from "./timeline.js";

const CONNECTION_LABEL: Record<ConnectionState, string> = {
  connecting: "Connecting",
  connected: "Connected",
  reconnecting: "Reconnecting",
  disconnected: "Disconnected",
};

function ConnectionBadge() {
  const state = useAppState();
  const connection: ConnectionState =
    state.auth !== "ok" ? "disconnected" : state.connection === "connecting" ? "connecting" : state.connection;
  return (
    <output className={`connection connection-${connection}`} aria-live="polite" data-testid="connection">
      <span className="status-dot" aria-hidden="true" />
      {CONNECTION_LABEL[connection]}
    </output>
  );
}

/** The timeline of the selected session: re-renders once per frame while a turn streams. */
function SessionTimeline({ virtualize }: { virtualize: boolean }) {
  const { view } = useSessionView();
  return view ? <Timeline view={view} virtualize={virtualize} /> : null;
}

function SessionApprovals() {
  const sessionId = useSessionSelector((view) => view?.sessionId);
  const approvals = useSessionSelector((view) => view?.approvals);
  return sessionId && approvals ? <ApprovalsDock sessionId={sessionId} approvals={approvals} /> : null;
}

function SessionTelemetry() {
  const { view } = useSessionView();
  return <TelemetryPanel view={view} />;
}

/** The whole window: header, session rail, timeline with composer, and the side panel. */
export function App({ virtualize = true }: { virtualize?: boolean }) {
  const controller = useController();
  const state = useAppState();
  // Slices, not the whole view: the frame's token updates re-render the timeline and the telemetry,
  // not the header, rail and composer.
  const sessionId = useSessionSelector((view) => view?.sessionId);
  const title = useSessionSelector((view) => view?.title);
  const cwd = useSessionSelector((view) => view?.cwd);
  const sessionModel = useSessionSelector((view) => view?.model);
  const activeTurnId = useSessionSelector((view) => view?.activeTurnId);
  const [panel, setPanel] = useState<"telemetry" | "daemon">("telemetry");
  const [help, setHelp] = useState(false);
  const [settings, setSettings] = useState<ComposerSettings>({ mode: "chat", model: "", permission: "safe" });
  const searchRef = useRef<HTMLInputElement>(null);
  const composerRef = useRef<HTMLTextAreaElement>(null);
  const platform = controller.shell.platform;
  const modKey = platform === "mac" ? "⌘" : "Ctrl";
  const shortcut = (key: string) => formatKeys(`Alt+${key}`, platform);
  const running = activeTurnId !== undefined;
  const selected = state.sessions.find((session) => session.id === state.selectedId);

  useEffect(() => {
    controller.shell.setTitle(title ? `${title} · Opta Code` : "Opta Code Desktop");
  }, [controller, title]);

  // Opens the newest session on first load so the window is never blank when there is history.
  const autoSelected = useRef(false);
  useEffect(() => {
    if (autoSelected.current || !state.sessionsLoaded) return;
    autoSelected.current = true;
    const first = state.sessions[0];
    if (!state.selectedId && first) controller.selectSession(first.id);
  }, [controller, state.sessionsLoaded, state.sessions, state.selectedId]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target;
      const typing =
        target instanceof Element && Boolean(target.closest("input, textarea, select, [contenteditable='true']"));
      const action = matchShortcut({
        key: event.key,
        code: event.code,
        altKey: event.altKey,
        ctrlKey: event.ctrlKey,
        metaKey: event.metaKey,
        shiftKey: event.shiftKey,
        typing,
      });
      if (!action) return;
      switch (action) {
        case "close":
          if (!help) return;
          setHelp(false);
          break;
        case "help":
          setHelp((open) => !open);
          break;
        case "cancel":
          if (!running) return;
          void controller.cancelTurn();
          break;
        case "new-session":
          void controller.createSession().then(() => composerRef.current?.focus());
          break;
        case "toggle-mode":
          setSettings((current) => ({ ...current, mode: current.mode === "do" ? "chat" : "do" }));
          break;
        case "search":
          searchRef.current?.focus();
          searchRef.current?.select();
          break;
        case "focus-composer":
          composerRef.current?.focus();
          break;
        case "export-json":
          void controller.exportSession("json");
          break;
        case "export-md":
          void controller.exportSession("md");
          break;
        case "daemon-panel":
          setPanel("daemon");
          break;
        case "telemetry-panel":
          setPanel("telemetry");
          break;
        case "send":
          return;
      }
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [controller, help, running]);

  return (
    <div className="app">
      <header className="app-header">
        <div className="brand">
          <span className="logo" aria-hidden="true" />
          <span>Opta Code</span>
        </div>
        <div className="header-title" title={sessionId}>
          {sessionId ? (
            <>
              <h1>{title || selected?.title || sessionId}</h1>
              <span className="muted small">{cwd}</span>
            </>
          ) : (
            <h1>Code Desktop</h1>
          )}
        </div>
        <div className="header-actions">
          {sessionId ? (
            <fieldset className="export" aria-label="Export session">
              <button
                type="button"
                className="button small"
                onClick={() => void controller.exportSession("json")}
                title={`Export as JSON (${shortcut("E")})`}
              >
                ⤓ JSON
              </button>
              <button
                type="button"
                className="button small"
                onClick={() => void controller.exportSession("md")}
                title={`Export as Markdown (${formatKeys("Alt+Shift+E", platform)})`}
              >
                ⤓ MD
              </button>
            </fieldset>
          ) : null}
          <ConnectionBadge />
          <button
            type="button"
            className="button small"
            onClick={() => setHelp(true)}
            aria-label="Keyboard shortcuts"
            title="Keyboard shortcuts (?)"
          >
            ?
          </button>
        </div>
      </header>

      {state.error ? (
        <div className="banner banner-error" role="alert">
          <span>{state.error}</span>
          <button type="button" className="link-button" onClick={() => controller.dismissError()}>
            Dismiss
          </button>
        </div>
      ) : null}
      {state.auth === "ok" && state.connection === "disconnected" ? (
        <div className="banner banner-warn" role="status">
          The daemon is not answering. Start it with <code>opta daemon start</code> (or <code>opta app</code>); this
          window keeps retrying.
        </div>
      ) : null}

      <div className="layout">
        <SessionRail ref={searchRef} shortcut={shortcut} />
        <main className="main" aria-label="Session">
          {sessionId ? (
            <SessionTimeline virtualize={virtualize} />
          ) : (
            <div className="timeline empty">
              <div className="empty-state">
                <h2>Opta Code Desktop</h2>
                <p className="muted">Pick a session on the left, or start one: type below and press {modKey}+Enter.</p>
              </div>
            </div>
          )}
          {sessionId ? <SessionApprovals /> : null}
          <Composer
            ref={composerRef}
            settings={settings}
            onSettings={setSettings}
            running={running}
            {...(sessionModel ? { sessionModel } : {})}
            shortcut={shortcut}
            modKey={modKey}
          />
        </main>
        <aside className="side" aria-label="Panels">
          <div className="tabs" role="tablist" aria-label="Panels">
            <button
              type="button"
              role="tab"
              aria-selected={panel === "telemetry"}
              className="tab"
              onClick={() => setPanel("telemetry")}
              title={`Telemetry (${shortcut("T")})`}
            >
              Telemetry
            </button>
            <button
              type="button"
              role="tab"
              aria-selected={panel === "daemon"}
              className="tab"
              onClick={() => setPanel("daemon")}
              title={`Daemon (${shortcut("D")})`}
              data-testid="daemon-tab"
            >
              Daemon
            </button>
          </div>
          <div role="tabpanel" aria-label={panel === "daemon" ? "Daemon" : "Telemetry"}>
            {panel === "telemetry" ? <SessionTelemetry /> : <DaemonPanel />}
          </div>
        </aside>
      </div>

      {help ? <HelpOverlay onClose={() => setHelp(false)} platform={platform} /> : null}
      {state.auth !== "ok" ? <AuthPrompt /> : null}
    </div>
  );
}
