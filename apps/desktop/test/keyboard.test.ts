import { describe, expect, it } from "vitest";
import { formatKeys, type KeyInput, matchShortcut } from "../src/keyboard.js";

const key = (input: Partial<KeyInput>): KeyInput => ({
  key: "",
  code: "",
  altKey: false,
  ctrlKey: false,
  metaKey: false,
  shiftKey: false,
  typing: false,
  ...input,
});

describe("shortcuts", () => {
  it("maps Alt+letter by physical key, so ⌥ on a Mac works too", () => {
    expect(matchShortcut(key({ key: "ñ", code: "KeyN", altKey: true }))).toBe("new-session");
    expect(matchShortcut(key({ code: "KeyM", altKey: true }))).toBe("toggle-mode");
    expect(matchShortcut(key({ code: "KeyK", altKey: true }))).toBe("search");
    expect(matchShortcut(key({ code: "KeyL", altKey: true }))).toBe("focus-composer");
    expect(matchShortcut(key({ code: "KeyE", altKey: true }))).toBe("export-json");
    expect(matchShortcut(key({ code: "KeyE", altKey: true, shiftKey: true }))).toBe("export-md");
    expect(matchShortcut(key({ code: "KeyD", altKey: true }))).toBe("daemon-panel");
    expect(matchShortcut(key({ code: "Period", metaKey: true }))).toBe("cancel");
  });

  it("treats ? as text while typing and as help otherwise", () => {
    expect(matchShortcut(key({ key: "?", typing: true }))).toBeUndefined();
    expect(matchShortcut(key({ key: "?" }))).toBe("help");
    expect(matchShortcut(key({ key: "n", code: "KeyN" }))).toBeUndefined();
  });

  it("writes keys for the platform", () => {
    expect(formatKeys("Alt+Shift+E", "mac")).toBe("⌥⇧E");
    expect(formatKeys("Mod+Enter", "mac")).toBe("⌘↩");
    expect(formatKeys("Mod+Enter", "other")).toBe("Ctrl+Enter");
  });
});
