import type { Mode, PermissionDecision, PermissionLevel, PermissionRequestEvent } from "@opta/protocol";
import { forwardRef, useEffect, useRef, useState } from "react";
import { payload } from "../format.js";
import { useAppState, useController } from "../state/hooks.js";

/** Per-turn overrides shown as pills above the input. */
export interface ComposerSettings {
  mode: Mode;
  /** Model ref, or "" for the session's model. */
  model: string;
  /** Permission level, or "" to send none: the daemon's configured default applies. */
  permission: PermissionLevel | "";
}

const PERMISSION_HINT: Record<PermissionLevel | "", string> = {
  "": "Daemon default: the permission level and policies of the daemon's config",
  safe: "Safe: reads run, writes ask, commands are denied",
  standard: "Standard: every non-read tool asks",
  unrestricted: "Unrestricted: no prompts",
};

/** Multi-line input with mode / model / permission pills; Ctrl/⌘+Enter sends; Cancel while a turn runs. */
export const Composer = forwardRef<
  HTMLTextAreaElement,
  {
    settings: ComposerSettings;
    onSettings: (settings: ComposerSettings) => void;
    /** The session this composer writes to (undefined: a new one is created on send). Remount it per session. */
    sessionId?: string;
    running: boolean;
    /** The session's turn is paused: Resume (and Cancel) instead of Send. */
    paused?: boolean;
    sessionModel?: string;
    shortcut: (key: string) => string;
    modKey: string;
  }
>(function Composer(
  { settings, onSettings, sessionId, running, paused = false, sessionModel, shortcut, modKey },
  textareaRef,
) {
  const controller = useController();
  const state = useAppState();
  // The draft belongs to its session: read once at mount (the app remounts this per session), kept on every change.
  const [text, setTextState] = useState(() => controller.composer.get(sessionId).draft);
  const setText = (value: string) => {
    setTextState(value);
    controller.composer.set(sessionId, { draft: value });
  };
  const [sending, setSending] = useState(false);
  const disabled = state.auth !== "ok";

  const send = async () => {
    const value = text.trim();
    if (!value || sending || running || paused || disabled) return;
    setSending(true);
    const accepted = await controller.submitTurn(value, {
      mode: settings.mode,
      ...(settings.permission ? { permission: settings.permission } : {}),
      ...(settings.model ? { model: settings.model } : {}),
    });
    setSending(false);
    if (accepted) setText("");
  };

  const models = state.models?.models ?? [];
  return (
    <form
      className="composer"
      aria-label="Composer"
      onSubmit={(event) => {
        event.preventDefault();
        void send();
      }}
    >
      <fieldset className="pills" aria-label="Turn settings">
        <button
          type="button"
          className={`pill-button mode-${settings.mode}`}
          aria-pressed={settings.mode === "do"}
          onClick={() => onSettings({ ...settings, mode: settings.mode === "do" ? "chat" : "do" })}
          title={`Toggle Chat / Do (${shortcut("M")})`}
          data-testid="mode-pill"
        >
          <span className="mode-dot" aria-hidden="true" />
          {settings.mode === "do" ? "Do mode" : "Chat mode"}
        </button>
        <label className="pill-select">
          <span className="visually-hidden">Model</span>
          <select
            value={settings.model}
            data-testid="model-pill"
            onChange={(event) => onSettings({ ...settings, model: event.target.value })}
            aria-label="Model for this turn"
          >
            <option value="">{sessionModel ? `Session model · ${sessionModel}` : "Default model"}</option>
            {models.map((model) => (
              <option key={model.ref} value={model.ref}>
                {model.id} · {model.provider}
                {model.loaded ? " · loaded" : ""}
              </option>
            ))}
          </select>
        </label>
        <label className="pill-select" title={PERMISSION_HINT[settings.permission]}>
          <span className="visually-hidden">Permission level</span>
          <select
            value={settings.permission}
            onChange={(event) => onSettings({ ...settings, permission: event.target.value as PermissionLevel | "" })}
            aria-label="Permission level for this turn"
            data-testid="permission-pill"
          >
            <option value="">Daemon default</option>
            <option value="safe">Safe</option>
            <option value="standard">Standard</option>
            <option value="unrestricted">Unrestricted</option>
          </select>
        </label>
      </fieldset>
      <div className="composer-row">
        <label className="visually-hidden" htmlFor="composer-input">
          Message
        </label>
        <textarea
          id="composer-input"
          ref={textareaRef}
          value={text}
          rows={3}
          placeholder={disabled ? "Connect to the daemon to send messages" : "Type a message…"}
          onChange={(event) => setText(event.target.value)}
          onKeyDown={(event) => {
            if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
              event.preventDefault();
              void send();
            }
          }}
          disabled={disabled}
        />
        <div className="composer-actions">
          {paused ? (
            <>
              <span className="composer-paused" data-testid="composer-paused">
                ⏸ Paused
              </span>
              <button
                type="button"
                className="button primary"
                onClick={() => void controller.resumeTurn()}
                title="Resume the paused turn: it goes on with the steps it had left"
              >
                ▶ Resume
              </button>
            </>
          ) : null}
          {running || paused ? (
            <button
              type="button"
              className="button danger"
              onClick={() => void controller.cancelTurn()}
              title={
                running ? `Cancel the running turn (${modKey}+. pauses a Do turn first)` : "Cancel the paused turn"
              }
            >
              ■ Cancel
            </button>
          ) : null}
          <button
            type="submit"
            className="button primary"
            disabled={disabled || sending || running || paused || !text.trim()}
            title={`Send (${modKey}+Enter)`}
          >
            Send <kbd>{modKey}↩</kbd>
          </button>
        </div>
      </div>
    </form>
  );
});

/** Letter shortcuts of a focused approval card (as in the terminal UI). */
const DECISION_KEYS: Record<string, PermissionDecision> = { y: "allow", n: "deny", a: "always" };
/**
 * A card that took focus by itself ignores its letter shortcuts this long, so a key the user was
 * already pressing for something else cannot answer an approval they have not seen.
 */
const ARM_DELAY_MS = 600;

/** True when the user is writing in a text field that holds text (their draft must keep focus). */
function typingInto(element: Element | null): boolean {
  return (
    (element instanceof HTMLTextAreaElement || element instanceof HTMLInputElement) && element.value.trim().length > 0
  );
}

function ApprovalCard({
  request,
  pending,
  onDecide,
}: {
  request: PermissionRequestEvent;
  pending: boolean;
  onDecide: (decision: PermissionDecision) => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const armedAt = useRef(0);
  // A new approval takes focus (it is an alert dialog), unless focus is already on another
  // approval or the user is in the middle of writing something.
  useEffect(() => {
    const card = ref.current;
    if (!card) return;
    const active = document.activeElement;
    if (active?.closest(".approvals") || typingInto(active)) return;
    armedAt.current = Date.now() + ARM_DELAY_MS;
    card.focus();
    const dock = card.closest(".approvals");
    return () => {
      // Answered while focused: move on to the next approval, else back to the composer.
      if (
        document.activeElement &&
        document.activeElement !== document.body &&
        !card.contains(document.activeElement)
      ) {
        return;
      }
      const next = [...(dock?.querySelectorAll<HTMLElement>("[data-testid=approval]") ?? [])].find(
        (element) => element !== card,
      );
      (next ?? document.getElementById("composer-input"))?.focus();
    };
  }, []);
  const titleId = `approval-${request.requestId}`;
  const detailId = `approval-detail-${request.requestId}`;
  return (
    <div
      ref={ref}
      className={`approval risk-${request.risk}`}
      role="alertdialog"
      aria-labelledby={titleId}
      aria-describedby={detailId}
      tabIndex={-1}
      data-testid="approval"
      onKeyDown={(event) => {
        if (event.altKey || event.ctrlKey || event.metaKey || pending) return;
        const decision = DECISION_KEYS[event.key.toLowerCase()];
        if (!decision || Date.now() < armedAt.current) return;
        event.preventDefault();
        onDecide(decision);
      }}
    >
      <div className="approval-head">
        <span className="approval-title" id={titleId}>
          Allow <strong>{request.name}</strong>?
        </span>
        <span className={`risk risk-${request.risk}`}>{request.risk}</span>
      </div>
      <div id={detailId}>
        {request.reason ? <p className="muted approval-reason">{request.reason}</p> : null}
        <pre className="approval-args">{payload(request.args)}</pre>
      </div>
      {request.suggestion ? (
        <details className="approval-suggestion">
          <summary>Policy that "Always allow" adds</summary>
          <pre>{request.suggestion}</pre>
        </details>
      ) : null}
      <div className="approval-actions">
        <button
          type="button"
          className="button primary"
          disabled={pending}
          onClick={() => onDecide("allow")}
          aria-label="Allow"
          aria-keyshortcuts="Y"
        >
          Allow <kbd>Y</kbd>
        </button>
        <button
          type="button"
          className="button danger"
          disabled={pending}
          onClick={() => onDecide("deny")}
          aria-label="Deny"
          aria-keyshortcuts="N"
        >
          Deny <kbd>N</kbd>
        </button>
        <button
          type="button"
          className="button"
          disabled={pending}
          onClick={() => onDecide("always")}
          aria-label="Always allow"
          aria-keyshortcuts="A"
        >
          Always allow <kbd>A</kbd>
        </button>
      </div>
    </div>
  );
}

/** The approvals waiting in the selected session: tool, arguments, risk; Allow / Deny / Always allow. */
export function ApprovalsDock({ sessionId, approvals }: { sessionId: string; approvals: PermissionRequestEvent[] }) {
  const controller = useController();
  const [sent, setSent] = useState<Record<string, PermissionDecision>>({});
  if (approvals.length === 0) return null;
  const decide = (request: PermissionRequestEvent, decision: PermissionDecision) => {
    setSent((previous) => ({ ...previous, [request.requestId]: decision }));
    void controller.resolvePermission(sessionId, request.requestId, decision).finally(() => {
      setSent((previous) => {
        const next = { ...previous };
        delete next[request.requestId];
        return next;
      });
    });
  };
  return (
    <section className="approvals" aria-label="Approvals waiting">
      {approvals.map((request) => (
        <ApprovalCard
          key={request.requestId}
          request={request}
          pending={sent[request.requestId] !== undefined}
          onDecide={(decision) => decide(request, decision)}
        />
      ))}
    </section>
  );
}
