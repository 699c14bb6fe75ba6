import type { Mode, PermissionDecision, PermissionLevel, PermissionRequestEvent } from "@opta/protocol";
import { forwardRef, useState } from "react";
import { payload } from "../format.js";
import { useAppState, useController } from "../state/hooks.js";

/** Per-turn overrides shown as pills above the input. */
export interface ComposerSettings {
  mode: Mode;
  /** Model ref, or "" for the session's model. */
  model: string;
  permission: PermissionLevel;
}

const PERMISSION_HINT: Record<PermissionLevel, string> = {
  safe: "Safe: the default policy (reads run, writes ask, commands are denied)",
  standard: "Standard: every non-read tool asks",
  unrestricted: "Unrestricted: no prompts",
};

/** Multi-line input with mode / model / permission pills; Ctrl/⌘+Enter sends; Cancel while a turn runs. */
export const Composer = forwardRef<
  HTMLTextAreaElement,
  {
    settings: ComposerSettings;
    onSettings: (settings: ComposerSettings) => void;
    running: boolean;
    sessionModel?: string;
    shortcut: (key: string) => string;
    modKey: string;
  }
>(function Composer({ settings, onSettings, running, sessionModel, shortcut, modKey }, textareaRef) {
  const controller = useController();
  const state = useAppState();
  const [text, setText] = useState("");
  const [sending, setSending] = useState(false);
  const disabled = state.auth !== "ok";

  const send = async () => {
    const value = text.trim();
    if (!value || sending || running || disabled) return;
    setSending(true);
    const accepted = await controller.submitTurn(value, {
      mode: settings.mode,
      permission: settings.permission,
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
            onChange={(event) => onSettings({ ...settings, permission: event.target.value as PermissionLevel })}
            aria-label="Permission level for this turn"
          >
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
          {running ? (
            <button
              type="button"
              className="button danger"
              onClick={() => void controller.cancelTurn()}
              title={`Cancel the running turn (${modKey}+.)`}
            >
              ■ Cancel
            </button>
          ) : null}
          <button
            type="submit"
            className="button primary"
            disabled={disabled || sending || running || !text.trim()}
            title={`Send (${modKey}+Enter)`}
          >
            Send <kbd>{modKey}↩</kbd>
          </button>
        </div>
      </div>
    </form>
  );
});

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
        <div
          key={request.requestId}
          className={`approval risk-${request.risk}`}
          role="alertdialog"
          aria-labelledby={`approval-${request.requestId}`}
          data-testid="approval"
        >
          <div className="approval-head">
            <span className="approval-title" id={`approval-${request.requestId}`}>
              Allow <strong>{request.name}</strong>?
            </span>
            <span className={`risk risk-${request.risk}`}>{request.risk}</span>
          </div>
          {request.reason ? <p className="muted approval-reason">{request.reason}</p> : null}
          <pre className="approval-args">{payload(request.args)}</pre>
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
              disabled={sent[request.requestId] !== undefined}
              onClick={() => decide(request, "allow")}
            >
              Allow
            </button>
            <button
              type="button"
              className="button danger"
              disabled={sent[request.requestId] !== undefined}
              onClick={() => decide(request, "deny")}
            >
              Deny
            </button>
            <button
              type="button"
              className="button"
              disabled={sent[request.requestId] !== undefined}
              onClick={() => decide(request, "always")}
            >
              Always allow
            </button>
          </div>
        </div>
      ))}
    </section>
  );
}
