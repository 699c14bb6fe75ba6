import { type ReactNode, useEffect, useRef, useState } from "react";
import { formatKeys, SHORTCUTS } from "../keyboard.js";
import { useAppState, useController } from "../state/hooks.js";

/** A modal: focus moves in when it opens and back where it was when it closes. */
function Modal({
  title,
  onClose,
  children,
  testId,
}: {
  title: string;
  onClose?: () => void;
  children: ReactNode;
  testId?: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>("input, button, [tabindex]");
    (first ?? ref.current)?.focus();
    return () => previous?.focus?.();
  }, []);
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a backdrop click is a mouse shortcut; Esc and the close button are the keyboard's
    <div className="overlay" onMouseDown={(event) => event.target === event.currentTarget && onClose?.()}>
      <div
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="modal-title"
        ref={ref}
        tabIndex={-1}
        data-testid={testId}
        onKeyDown={(event) => {
          // Keep Tab inside the dialog.
          if (event.key !== "Tab" || !ref.current) return;
          const focusable = [...ref.current.querySelectorAll<HTMLElement>("input, button, a[href], [tabindex='0']")];
          const first = focusable[0];
          const last = focusable.at(-1);
          if (!first || !last) return;
          if (event.shiftKey && document.activeElement === first) {
            event.preventDefault();
            last.focus();
          } else if (!event.shiftKey && document.activeElement === last) {
            event.preventDefault();
            first.focus();
          }
        }}
      >
        <h2 id="modal-title">{title}</h2>
        {children}
        {onClose ? (
          <button type="button" className="modal-close" onClick={onClose} aria-label="Close">
            ✕
          </button>
        ) : null}
      </div>
    </div>
  );
}

/** Keys of a focused approval card (the card handles them itself). */
const APPROVAL_KEYS: Array<[string, string]> = [
  ["Y", "Allow (on a focused approval card)"],
  ["N", "Deny (on a focused approval card)"],
  ["A", "Always allow (on a focused approval card)"],
];

/** Every shortcut, written for this platform. */
export function HelpOverlay({ onClose, platform }: { onClose: () => void; platform: "mac" | "other" }) {
  return (
    <Modal title="Keyboard shortcuts" onClose={onClose} testId="help-overlay">
      <table className="shortcuts">
        <tbody>
          {SHORTCUTS.map((shortcut) => (
            <tr key={shortcut.action}>
              <td>
                <kbd>{formatKeys(shortcut.keys, platform)}</kbd>
              </td>
              <td>{shortcut.description}</td>
            </tr>
          ))}
          {APPROVAL_KEYS.map(([keys, description]) => (
            <tr key={keys}>
              <td>
                <kbd>{keys}</kbd>
              </td>
              <td>{description}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Modal>
  );
}

/**
 * Shown when the app has no token, its sign-in code could not be used, or the daemon refused the
 * token (another client restarted it and the token rotated). The way back is `opta app` (this tab
 * trades the code in the new URL, or takes the token another tab stored) or pasting the token; it
 * never fails in silence.
 */
export function AuthPrompt() {
  const controller = useController();
  const state = useAppState();
  const [token, setToken] = useState("");
  const missing = state.auth === "missing";
  return (
    <Modal title={missing ? "Connect to the Opta daemon" : "Reconnect to the Opta daemon"} testId="auth-prompt">
      <p>
        {state.authMessage ??
          (missing ? "This window has no daemon token yet." : "The daemon no longer accepts this window's token.")}{" "}
        Run <code>opta app</code> in a terminal: it opens Code Desktop signed in (with a single-use code, never the
        token), and this window takes the new token too, reconnects by itself and resumes where it stopped.
      </p>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          controller.setToken(token);
        }}
      >
        <label htmlFor="token-input">
          Or paste the token from <code>$OPTA_HOME/daemon/token</code>
        </label>
        <div className="token-row">
          <input
            id="token-input"
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={token}
            onChange={(event) => setToken(event.target.value)}
          />
          <button type="submit" className="button primary" disabled={!token.trim()}>
            Connect
          </button>
        </div>
      </form>
    </Modal>
  );
}
