import type { Mode, PermissionLevel } from "@opta/protocol";

/** What the composer holds for one session: its per-turn overrides and the unsent draft. */
export interface ComposerMemory {
  /** Chat or Do; undefined follows the session's own mode. */
  mode?: Mode;
  /** Model ref, or "" for the session's model. */
  model: string;
  /** Permission level, or "" to send none (the daemon's configured default). */
  permission: PermissionLevel | "";
  draft: string;
}

/** A session nobody has touched the composer of: the session's mode, model and the daemon's permission. */
export const DEFAULT_COMPOSER: ComposerMemory = { model: "", permission: "", draft: "" };

const PREFIX = "opta.composer.";
const MODES = new Set(["chat", "do"]);
const LEVELS = new Set(["", "safe", "standard", "unrestricted"]);

function storage(): Storage | undefined {
  try {
    return typeof localStorage === "undefined" ? undefined : localStorage;
  } catch {
    return undefined; // storage disabled (private mode, sandboxed frame): memory only
  }
}

/**
 * Overrides and drafts belong to their session: keyed by session id in localStorage, so switching
 * sessions restores each one's own, a reload keeps them, and a turn never goes out with another
 * session's permission or model. Sessions with nothing set have no key at all.
 */
export class ComposerStore {
  readonly #memory = new Map<string, ComposerMemory>();

  /** The composer of `sessionId` (undefined: the not-yet-created session, kept in memory only). */
  get(sessionId: string | undefined): ComposerMemory {
    const key = sessionId ?? "";
    const cached = this.#memory.get(key);
    if (cached) return cached;
    const loaded = sessionId ? read(sessionId) : undefined;
    const value = loaded ?? DEFAULT_COMPOSER;
    this.#memory.set(key, value);
    return value;
  }

  /** Changes part of a session's composer and stores it (removes the key when back to defaults). */
  set(sessionId: string | undefined, patch: Partial<ComposerMemory>): ComposerMemory {
    const next = { ...this.get(sessionId), ...patch };
    if (patch.mode === undefined && "mode" in patch) delete next.mode;
    const key = sessionId ?? "";
    this.#memory.set(key, next);
    if (sessionId) write(sessionId, next);
    return next;
  }

  /** Forgets a session's composer (the session was deleted). */
  forget(sessionId: string): void {
    this.#memory.delete(sessionId);
    storage()?.removeItem(PREFIX + sessionId);
  }
}

function read(sessionId: string): ComposerMemory | undefined {
  const raw = storage()?.getItem(PREFIX + sessionId);
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as Record<string, unknown>;
    // Whatever is stored is checked: a bad permission must never reach a turn.
    return {
      ...(typeof value.mode === "string" && MODES.has(value.mode) ? { mode: value.mode as Mode } : {}),
      model: typeof value.model === "string" ? value.model.slice(0, 256) : "",
      permission:
        typeof value.permission === "string" && LEVELS.has(value.permission)
          ? (value.permission as PermissionLevel | "")
          : "",
      draft: typeof value.draft === "string" ? value.draft : "",
    };
  } catch {
    return undefined;
  }
}

function write(sessionId: string, value: ComposerMemory): void {
  const store = storage();
  if (!store) return;
  const empty = value.mode === undefined && !value.model && !value.permission && !value.draft;
  try {
    if (empty) store.removeItem(PREFIX + sessionId);
    else store.setItem(PREFIX + sessionId, JSON.stringify(value));
  } catch {
    // Quota exceeded: the in-memory copy still serves this window.
  }
}
