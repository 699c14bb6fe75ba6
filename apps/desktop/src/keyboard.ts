/**
 * Keyboard shortcuts. Browsers keep Ctrl/⌘+N, +T, +W… for themselves, so app shortcuts use Alt (⌥)
 * with a letter; matching `event.code` makes them work whatever character ⌥ types on a Mac. Send is
 * Ctrl/⌘+Enter in the composer; cancel is also Ctrl/⌘+. .
 */
export type ShortcutAction =
  | "send"
  | "cancel"
  | "new-session"
  | "toggle-mode"
  | "search"
  | "focus-composer"
  | "export-json"
  | "export-md"
  | "daemon-panel"
  | "telemetry-panel"
  | "help"
  | "close";

export interface ShortcutSpec {
  action: ShortcutAction;
  /** As the help overlay writes it; "Alt" is replaced by ⌥ and "Mod" by ⌘ or Ctrl. */
  keys: string;
  description: string;
}

export const SHORTCUTS: ShortcutSpec[] = [
  { action: "send", keys: "Mod+Enter", description: "Send the message" },
  {
    action: "cancel",
    keys: "Alt+.",
    description: "Pause a running Do turn, again to cancel; cancel a Chat turn (also Ctrl/⌘+.)",
  },
  { action: "new-session", keys: "Alt+N", description: "New session" },
  { action: "toggle-mode", keys: "Alt+M", description: "Toggle Chat / Do" },
  { action: "search", keys: "Alt+K", description: "Search sessions" },
  { action: "focus-composer", keys: "Alt+L", description: "Focus the composer" },
  { action: "export-json", keys: "Alt+E", description: "Export the session as JSON" },
  { action: "export-md", keys: "Alt+Shift+E", description: "Export the session as Markdown" },
  { action: "daemon-panel", keys: "Alt+D", description: "Open the daemon panel" },
  { action: "telemetry-panel", keys: "Alt+T", description: "Open the telemetry panel" },
  { action: "help", keys: "?", description: "Show these shortcuts (Alt+/ while typing)" },
  { action: "close", keys: "Esc", description: "Close an overlay" },
];

const ALT_CODES: Record<string, ShortcutAction> = {
  KeyN: "new-session",
  KeyM: "toggle-mode",
  KeyK: "search",
  KeyL: "focus-composer",
  KeyD: "daemon-panel",
  KeyT: "telemetry-panel",
  Period: "cancel",
  Slash: "help",
};

/** The subset of KeyboardEvent the matcher reads. */
export interface KeyInput {
  key: string;
  code: string;
  altKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
  /** True when focus is in a text field ("?" is then text, not a shortcut). */
  typing: boolean;
}

/** The action a key press triggers, if any. */
export function matchShortcut(input: KeyInput): ShortcutAction | undefined {
  const mod = input.ctrlKey || input.metaKey;
  if (input.key === "Escape") return "close";
  if (mod && !input.altKey && input.code === "Period") return "cancel";
  if (input.altKey && !mod) {
    if (input.code === "KeyE") return input.shiftKey ? "export-md" : "export-json";
    return ALT_CODES[input.code];
  }
  if (!mod && !input.altKey && !input.typing && input.key === "?") return "help";
  return undefined;
}

/** Writes a shortcut for this platform: "⌥N" on a Mac, "Alt+N" elsewhere. */
export function formatKeys(keys: string, platform: "mac" | "other"): string {
  if (platform === "mac") {
    return keys.replace("Mod+", "⌘").replace("Alt+", "⌥").replace("Shift+", "⇧").replace("Enter", "↩");
  }
  return keys.replace("Mod+", "Ctrl+");
}
