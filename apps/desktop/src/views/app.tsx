import { type KeyboardEvent as ReactKeyboardEvent, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { formatKeys, matchShortcut } from "../keyboard.js";
import type { ConnectionState } from "../state/app-controller.js";
import { useAppState, useController, useSessionSelector, useSessionView } from "../state/hooks.js";
import { ApprovalsDock, Composer, type ComposerSettings } from "./composer.js";
import { AuthPrompt, HelpOverlay } from "./overlays.js";
import { DaemonPanel, TelemetryPanel } from "./panels.js";
import { SessionRail } from "./session-rail.js";
import { Timeline } from "./timeline.js";
import { type TurnActions, TurnActionsContext } from "./turn-row.js";

const CONNECTION_LABEL: Record<ConnectionState, string> = {
  connecting: "Connecting",
  connected: "Connected",
  reconnecting: "Reconnecting",
  disconnected: "Disconnected",
};

function ConnectionBadge() {
  const state = useAppState();
  const connection: ConnectionState =
    state.auth === "signing-in"
      ? "connecting"
      : state.auth !== "ok"
        ? "disconnected"
        : state.connection === "connecting"
          ? "connecting"
          : state.connection;
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
  const controller = useController();
  const sessionId = view?.sessionId;
  // Rewind asks first (it changes files); a refusal over files edited outside the agent asks again.
  const actions = useMemo<TurnActions | undefined>(
    () =>
      sessionId
        ? {
            rewind: (turnId) => {
              const question =
                "Rewind to before this turn? Files the agent changed since are put back, and this turn and later ones leave the conversation. Changes made by commands are not undone.";
              if (!window.confirm(question)) return;
              void controller.rewindSession(sessionId, turnId, (message) =>
                window.confirm(`${message}\n\nOverwrite those changes?`),
              );
            },
            fork: (turnId) => void controller.forkSession(sessionId, turnId),
          }
        : undefined,
    [controller, sessionId],
  );
  return view ? (
    <TurnActionsContext.Provider value={actions}>
      <Timeline view={view} virtualize={virtualize} />
    </TurnActionsContext.Provider>
  ) : null;
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

type PanelName = "telemetry" | "daemon";
const PANELS: Array<{ name: PanelName; label: string; key: string }> = [
  { name: "telemetry", label: "Telemetry", key: "T" },
  { name: "daemon", label: "Daemon", key: "D" },
];

/** Below this width the side panel is a drawer over the timeline, opened by its tab shortcuts. */
const DRAWER_QUERY = "(max-width: 1100px)";

function useMediaQuery(query: string): boolean {
  const [matches, setMatches] = useState(
    () => typeof window.matchMedia === "function" && window.matchMedia(query).matches,
  );
  useEffect(() => {
    if (typeof window.matchMedia !== "function") return;
    const list = window.matchMedia(query);
    const onChange = () => setMatches(list.matches);
    onChange();
    list.addEventListener("change", onChange);
    return () => list.removeEventListener("change", onChange);
  }, [query]);
  return matches;
}

/**
 * The side panel: Telemetry and Daemon tabs (arrow keys move between them). On a narrow window it
 * is a drawer: hidden until a tab shortcut or the header's Panels button opens it; Esc closes it.
 */
function SidePanel({
  panel,
  onPanel,
  drawer,
  open,
  onClose,
  shortcut,
}: {
  panel: PanelName;
  onPanel: (panel: PanelName) => void;
  drawer: boolean;
  open: boolean;
  onClose: () => void;
  shortcut: (key: string) => string;
}) {
  const tabRefs = useRef<Record<string, HTMLButtonElement | null>>({});
  const hidden = drawer && !open;
  // Opening the drawer moves focus into it; closing it gives focus back to where it was.
  const asideRef = useRef<HTMLElement>(null);
  useEffect(() => {
    if (!drawer || !open) return;
    const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    return () => {
      if (asideRef.current?.contains(document.activeElement) || document.activeElement === document.body) {
        previous?.focus();
      }
    };
  }, [drawer, open]);
  useEffect(() => {
    if (drawer && open) tabRefs.current[panel]?.focus();
  }, [drawer, open, panel]);
  const onTabKey = (event: ReactKeyboardEvent<HTMLButtonElement>) => {
    const index = PANELS.findIndex((item) => item.name === panel);
    let next: number | undefined;
    if (event.key === "ArrowRight") next = (index + 1) % PANELS.length;
    else if (event.key === "ArrowLeft") next = (index - 1 + PANELS.length) % PANELS.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = PANELS.length - 1;
    if (next === undefined) return;
    event.preventDefault();
    const target = PANELS[next]!;
    onPanel(target.name);
    tabRefs.current[target.name]?.focus();
  };
  return (
    <aside
      ref={asideRef}
      id="side-panel"
      className={`side${drawer ? " drawer" : ""}${open ? " open" : ""}`}
      aria-label="Panels"
      // A closed drawer is out of the tab order and the accessibility tree.
      {...(hidden ? { inert: true, "aria-hidden": true } : {})}
      data-testid="side-panel"
    >
      <div className="tabs" role="tablist" aria-label="Panels">
        {PANELS.map((item) => (
          <button
            key={item.name}
            ref={(element) => {
              tabRefs.current[item.name] = element;
            }}
            type="button"
            role="tab"
            id={`tab-${item.name}`}
            aria-selected={panel === item.name}
            aria-controls={`panel-${item.name}`}
            tabIndex={panel === item.name ? 0 : -1}
            className="tab"
            onClick={() => onPanel(item.name)}
            onKeyDown={onTabKey}
            title={`${item.label} (${shortcut(item.key)})`}
            data-testid={`${item.name}-tab`}
          >
            {item.label}
          </button>
        ))}
        {drawer ? (
          <button
            type="button"
            className="drawer-close"
            onClick={onClose}
            aria-label="Close panels"
            title="Close (Esc)"
          >
            ✕
          </button>
        ) : null}
      </div>
      <div role="tabpanel" id={`panel-${panel}`} aria-labelledby={`tab-${panel}`}>
        {panel === "telemetry" ? <SessionTelemetry /> : <DaemonPanel />}
      </div>
    </aside>
  );
}

const TURN_END_WORDS: Record<string, string> = {
  done: "The answer is complete.",
  error: "The turn failed.",
  cancelled: "The turn was cancelled.",
  paused: "The turn is paused.",
};

/**
 * Tells screen readers when a turn starts and ends, once each: the streaming text itself is not a
 * live region (it changes every frame and would flood them).
 */
function TurnAnnouncer() {
  const activeTurnId = useSessionSelector((view) => view?.activeTurnId);
  const lastStatus = useSessionSelector((view) => {
    const last = view?.items.at(-1);
    return last?.kind === "turn" ? last.status : undefined;
  });
  const sessionId = useSessionSelector((view) => view?.sessionId);
  const previous = useRef<{ sessionId?: string; turnId?: string }>({});
  const [message, setMessage] = useState("");
  useEffect(() => {
    const before = previous.current;
    previous.current = { ...(sessionId ? { sessionId } : {}), ...(activeTurnId ? { turnId: activeTurnId } : {}) };
    // Opening another session (or its replay) is not news.
    if (before.sessionId !== sessionId) return;
    if (activeTurnId && activeTurnId !== before.turnId) setMessage("The assistant is answering…");
    else if (!activeTurnId && before.turnId && lastStatus) setMessage(TURN_END_WORDS[lastStatus] ?? "");
  }, [sessionId, activeTurnId, lastStatus]);
  return (
    <div className="visually-hidden" role="status" data-testid="turn-announcer">
      {message}
    </div>
  );
}

/** The session id, shown and copyable (what `opta sessions show`, `opta chat --session` and the API take). */
function SessionIdButton({ sessionId }: { sessionId: string }) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const timer = setTimeout(() => setCopied(false), 1500);
    return () => clearTimeout(timer);
  }, [copied]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(sessionId);
    } catch {
      // No clipboard permission (an insecure context, a denied prompt): select-and-copy the old way.
      const field = document.createElement("textarea");
      field.value = sessionId;
      document.body.append(field);
      field.select();
      document.execCommand("copy");
      field.remove();
    }
    setCopied(true);
  };
  return (
    <span className="session-id" data-testid="session-id">
      <code>{sessionId}</code>
      <button
        type="button"
        className="icon-button"
        aria-label={copied ? "Session id copied" : "Copy session id"}
        title="Copy session id"
        onClick={() => void copy()}
      >
        {copied ? "✓" : "⧉"}
      </button>
    </span>
  );
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
  const pausedTurnId = useSessionSelector((view) => view?.pausedTurnId);
  // The running turn's own mode: a Do turn pauses on ⌘. / Alt+., a Chat turn cancels.
  const activeMode = useSessionSelector((view) => {
    const turn = view?.activeTurnId ? view.items.findLast((item) => item.kind === "turn") : undefined;
    return turn?.kind === "turn" && turn.id === view?.activeTurnId ? turn.mode : undefined;
  });
  const [panel, setPanel] = useState<PanelName>("telemetry");
  const drawer = useMediaQuery(DRAWER_QUERY);
  const [drawerOpen, setDrawerOpen] = useState(false);
  // A window widened past the drawer breakpoint shows the panel in place; narrowed again, it starts closed.
  useEffect(() => {
    if (!drawer) setDrawerOpen(false);
  }, [drawer]);
  const [help, setHelp] = useState(false);
  const searchRef = useRef<HTMLInputElement>(null);
  const composerRef = useRef<HTMLTextAreaElement>(null);
  const platform = controller.shell.platform;
  const modKey = platform === "mac" ? "⌘" : "Ctrl";
  const shortcut = (key: string) => formatKeys(`Alt+${key}`, platform);
  const running = activeTurnId !== undefined;
  const paused = !running && pausedTurnId !== undefined;
  const selected = state.sessions.find((session) => session.id === state.selectedId);
  const sessionMode = selected?.mode;

  // The composer's overrides belong to the selected session (a new one starts from defaults: its
  // own mode, its model, the daemon's permission), so a turn never goes out with another's settings.
  const [, setComposerVersion] = useState(0);
  const memory = controller.composer.get(state.selectedId);
  const settings: ComposerSettings = {
    mode: memory.mode ?? sessionMode ?? "chat",
    model: memory.model,
    permission: memory.permission,
  };
  const selectedRef = useRef(state.selectedId);
  selectedRef.current = state.selectedId;
  const setSettings = useCallback(
    (update: ComposerSettings | ((current: ComposerSettings) => ComposerSettings)) => {
      const id = selectedRef.current;
      const stored = controller.composer.get(id);
      const mode = controller.getState().sessions.find((session) => session.id === id)?.mode;
      const current: ComposerSettings = {
        mode: stored.mode ?? mode ?? "chat",
        model: stored.model,
        permission: stored.permission,
      };
      const next = typeof update === "function" ? update(current) : update;
      controller.composer.set(id, { mode: next.mode, model: next.model, permission: next.permission });
      setComposerVersion((version) => version + 1);
    },
    [controller],
  );

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
          if (help) setHelp(false);
          else if (drawer && drawerOpen) setDrawerOpen(false);
          else return;
          break;
        case "help":
          setHelp((open) => !open);
          break;
        case "cancel":
          // A running Do turn pauses (a second press while pausing cancels); a paused one is cancelled.
          if (running) void controller.interruptTurn(activeMode);
          else if (paused) void controller.cancelTurn();
          else return;
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
        case "telemetry-panel":
          setPanel(action === "daemon-panel" ? "daemon" : "telemetry");
          if (drawer) setDrawerOpen(true);
          break;
        case "send":
          return;
      }
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [controller, help, running, paused, activeMode, drawer, drawerOpen, setSettings]);

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
              <SessionIdButton sessionId={sessionId} />
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
          {drawer ? (
            <button
              type="button"
              className="button small"
              aria-expanded={drawerOpen}
              aria-controls="side-panel"
              onClick={() => setDrawerOpen((open) => !open)}
              title={`Telemetry and daemon panels (${shortcut("T")} / ${shortcut("D")})`}
              data-testid="panels-button"
            >
              Panels
            </button>
          ) : null}
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
          <span>
            The daemon is not answering. Start it with <code>opta daemon start</code> (or <code>opta app</code>); this
            window keeps retrying.
          </span>
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
          <TurnAnnouncer />
          <Composer
            key={state.selectedId ?? "new"}
            ref={composerRef}
            {...(state.selectedId ? { sessionId: state.selectedId } : {})}
            settings={settings}
            onSettings={setSettings}
            running={running}
            paused={paused}
            {...(sessionModel ? { sessionModel } : {})}
            shortcut={shortcut}
            modKey={modKey}
          />
        </main>
        <SidePanel
          panel={panel}
          onPanel={setPanel}
          drawer={drawer}
          open={drawerOpen}
          onClose={() => setDrawerOpen(false)}
          shortcut={shortcut}
        />
        {drawer && drawerOpen ? (
          // biome-ignore lint/a11y/noStaticElementInteractions: a backdrop click is a mouse shortcut; Esc and the close button are the keyboard's
          <div className="drawer-backdrop" onMouseDown={() => setDrawerOpen(false)} data-testid="drawer-backdrop" />
        ) : null}
      </div>

      {help ? <HelpOverlay onClose={() => setHelp(false)} platform={platform} /> : null}
      {state.auth === "missing" || state.auth === "rejected" ? <AuthPrompt /> : null}
    </div>
  );
}
