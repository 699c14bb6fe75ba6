/**
 * Everything the app needs from its host: where the daemon is, where its token lives, and a few
 * window concerns. The browser implementation below is the only one today; a native shell (Tauri)
 * would implement the same interface with the OS keyring and its own window APIs.
 */
export interface Shell {
  /** Base URL of the daemon, e.g. `http://127.0.0.1:9999`. */
  daemonBaseUrl(): string;
  /** The stored daemon token, if any. */
  readToken(): string | undefined;
  /** Stores a token (a new one after a daemon restart replaces the old). */
  writeToken(token: string): void;
  /** Forgets the token. */
  clearToken(): void;
  /**
   * The key half of this window's client grant (the other half is an HttpOnly cookie the page never
   * sees), kept beside the token: with it the app trades for the daemon's current token after a
   * restart, a stop/start or a crash, without a new `opta app`.
   */
  readGrantKey(): string | undefined;
  /** Stores the grant key from a sign-in. */
  writeGrantKey(key: string): void;
  /** Forgets the grant key (the daemon refused the grant: revoked or expired). */
  clearGrantKey(): void;
  /** Copies text to the clipboard; false when the browser refused. */
  copyText(text: string): Promise<boolean>;
  /**
   * The single-use sign-in code the page was opened with (`#code=…` from `opta app`), already
   * removed from the address bar. Returned once; the caller trades it for the token.
   */
  takeSignInCode(): string | undefined;
  /**
   * Calls `listener` when a credential arrives from outside this view: a new `opta app` URL in this
   * tab (a sign-in code, or a token from an older `opta app`) or another tab storing a token.
   * Returns an unsubscribe function.
   */
  onCredential(listener: (credential: Credential) => void): () => void;
  /** Saves `content` as a file the user downloads. */
  download(fileName: string, content: string, mimeType: string): void;
  /** Sets the window title. */
  setTitle(title: string): void;
  /** "⌥" on macOS, "Alt" elsewhere: how shortcut hints are written. */
  readonly platform: "mac" | "other";
}

/** What can sign this window in: the token itself, or a single-use code to trade for it. */
export type Credential = { kind: "token"; token: string } | { kind: "code"; code: string };

const TOKEN_KEY = "opta.daemon.token";
const GRANT_KEY = "opta.daemon.grant";
const DAEMON_KEY = "opta.daemon.url";

/**
 * Reads a sign-in `code` (what `opta app` sends), a `token` (older `opta app`, or pasted by hand)
 * and, for `vite dev`, `daemon` from a fragment like `#code=…&daemon=…`.
 */
export function parseFragment(hash: string): { code?: string; token?: string; daemon?: string } {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const code = params.get("code")?.trim() || undefined;
  const token = params.get("token")?.trim() || undefined;
  const daemon = params.get("daemon")?.trim() || undefined;
  return { ...(code ? { code } : {}), ...(token ? { token } : {}), ...(daemon ? { daemon } : {}) };
}

/** Only loopback daemons: a fragment must not be able to point the app (and its token) elsewhere. */
export function isLoopbackUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      (url.protocol === "http:" || url.protocol === "https:") &&
      ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)
    );
  } catch {
    return false;
  }
}

/**
 * The browser shell: token in localStorage (per origin, so per daemon port), the fragment (a sign-in
 * code or a token) removed from the address bar as soon as it has been read, downloads through an
 * object URL.
 */
export function createBrowserShell(win: Window = window): Shell {
  const storage = safeStorage(win);
  let memoryToken: string | undefined;
  let memoryGrant: string | undefined;

  const takeFragment = (): Credential | undefined => {
    const { code, token, daemon } = parseFragment(win.location.hash);
    if (!code && !token && !daemon) return undefined;
    if (daemon && isLoopbackUrl(daemon)) storage?.setItem(DAEMON_KEY, daemon.replace(/\/+$/, ""));
    // Drop the fragment without a navigation, so the code or token is in neither the address bar nor history.
    win.history.replaceState(win.history.state, "", win.location.pathname + win.location.search);
    if (code) return { kind: "code", code };
    return token ? { kind: "token", token } : undefined;
  };

  const write = (token: string) => {
    memoryToken = token;
    storage?.setItem(TOKEN_KEY, token);
  };

  const initial = takeFragment();
  let initialCode = initial?.kind === "code" ? initial.code : undefined;
  if (initial?.kind === "token") write(initial.token);

  return {
    platform: /Mac|iPhone|iPad/.test(win.navigator.platform || win.navigator.userAgent) ? "mac" : "other",
    daemonBaseUrl() {
      // Served by the daemon: same origin. Under `vite dev` (port 5173): the daemon named in the
      // fragment, else the default port.
      const { origin, port } = win.location;
      if (port !== "5173") return origin;
      return storage?.getItem(DAEMON_KEY) ?? "http://127.0.0.1:9999";
    },
    readToken: () => storage?.getItem(TOKEN_KEY) ?? memoryToken,
    writeToken: write,
    clearToken() {
      memoryToken = undefined;
      storage?.removeItem(TOKEN_KEY);
    },
    readGrantKey: () => storage?.getItem(GRANT_KEY) ?? memoryGrant,
    writeGrantKey(key) {
      memoryGrant = key;
      storage?.setItem(GRANT_KEY, key);
    },
    clearGrantKey() {
      memoryGrant = undefined;
      storage?.removeItem(GRANT_KEY);
    },
    async copyText(text) {
      try {
        await win.navigator.clipboard.writeText(text);
        return true;
      } catch {
        // No Clipboard API (or refused): select a hidden textarea and copy the old way.
        const area = win.document.createElement("textarea");
        area.value = text;
        area.setAttribute("readonly", "");
        area.style.position = "fixed";
        area.style.opacity = "0";
        win.document.body.append(area);
        area.select();
        const copied = win.document.execCommand?.("copy") ?? false;
        area.remove();
        return copied;
      }
    },
    takeSignInCode() {
      const code = initialCode;
      initialCode = undefined;
      return code;
    },
    onCredential(listener) {
      const onHash = () => {
        const credential = takeFragment();
        if (!credential) return;
        if (credential.kind === "token") write(credential.token);
        listener(credential);
      };
      const onStorage = (event: StorageEvent) => {
        if (event.key === TOKEN_KEY && event.newValue) {
          memoryToken = event.newValue;
          listener({ kind: "token", token: event.newValue });
        }
      };
      win.addEventListener("hashchange", onHash);
      win.addEventListener("storage", onStorage);
      return () => {
        win.removeEventListener("hashchange", onHash);
        win.removeEventListener("storage", onStorage);
      };
    },
    download(fileName, content, mimeType) {
      const url = URL.createObjectURL(new Blob([content], { type: mimeType }));
      const anchor = win.document.createElement("a");
      anchor.href = url;
      anchor.download = fileName;
      anchor.rel = "noopener";
      win.document.body.append(anchor);
      anchor.click();
      anchor.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    },
    setTitle(title) {
      win.document.title = title;
    },
  };
}

/** localStorage, or undefined where it is disabled (then the token lives in memory only). */
function safeStorage(win: Window): Storage | undefined {
  try {
    const storage = win.localStorage;
    storage.getItem(TOKEN_KEY);
    return storage;
  } catch {
    return undefined;
  }
}
