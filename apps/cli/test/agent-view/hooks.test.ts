import type { SessionEvent } from "@opta/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Timeline as DoTimeline } from "../../src/agent-view/timeline.js";
import { EntryLayout } from "../../src/tui/entry-lines.js";
import { plain } from "../../src/tui/text.js";
import { Timeline as TuiTimeline } from "../../src/tui/timeline.js";

/**
 * The user's hooks in `opta do`/`opta chat` and the TUI: a denial, a failure and the turn_end run
 * get a line; a pre_tool/post_tool hook that passed does not (one per call would bury the turn);
 * an unused hooks file says why. Escape sequences in what the daemon sends never reach the terminal.
 */
const base = { sessionId: "s-1", ts: "2026-01-01T00:00:00.000Z", turnId: "t-1" };
const ran = { ...base, event: "hook.ran", scope: "user", source: "hooks.yaml", stdout: "", stderr: "", elapsedMs: 40 };
function events(): SessionEvent[] {
  let seq = 0;
  const list = [
    { ...base, event: "turn.start", role: "user", text: "build", mode: "do", model: "m", permission: "safe" },
    { ...base, event: "tool.call", callId: "c-1", name: "run_command", args: { command: "make" } },
    {
      ...ran,
      hook: "pre_tool",
      command: "./check.sh",
      callId: "c-1",
      tool: "run_command",
      exitCode: 2,
      decision: "deny",
      reason: "use npm run build\u001b]0;PWNED\u0007",
      sandbox: "read-only",
    },
    {
      ...ran,
      hook: "post_tool",
      command: "prettier --write",
      callId: "c-2",
      tool: "write_file",
      exitCode: 0,
      sandbox: "workspace-write",
    },
    { ...ran, hook: "post_tool", command: "lint", exitCode: 1, stderr: "3 problems\nmore", sandbox: "workspace-write" },
    { ...base, event: "hook.skipped", scope: "project", file: "/repo/.opta/hooks.yaml", reason: "not trusted" },
    { ...ran, hook: "turn_end", command: "notify-send done", exitCode: 0, sandbox: "unavailable" },
  ];
  return list.map((event) => ({ ...event, seq: ++seq }) as SessionEvent);
}
const expected = [
  "hook pre_tool ./check.sh denied run_command: use npm run build",
  "hook post_tool lint exit 1: 3 problems",
  "hooks in /repo/.opta/hooks.yaml not used: not trusted",
  "hook turn_end notify-send done ✓ 40ms (unsandboxed)",
];

describe("hooks in the CLI views", () => {
  afterEach(() => vi.restoreAllMocks());

  it("opta do prints the notable runs on stderr, one line each, and nothing for a hook that passed", () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const timeline = new DoTimeline({ live: false, thinking: false });
    for (const event of events()) timeline.handle(event);
    const lines = written
      .join("")
      .split("\n")
      .filter((line) => line.startsWith("⚓"));
    expect(lines.map((line) => line.slice(2))).toEqual(expected);
    expect(written.join("")).not.toContain("prettier");
  });

  it("the TUI shows the same lines in the turn, sanitized", () => {
    const timeline = new TuiTimeline();
    for (const event of events()) timeline.apply(event);
    const layout = new EntryLayout();
    const text = timeline.entries
      .flatMap((entry) => layout.lines(entry, 120, { thinkingExpanded: false, toolsExpanded: false }))
      .map(plain)
      .join("\n");
    const shown = text
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line.startsWith("⚓"))
      .map((line) => line.slice(2));
    expect(shown).toEqual(expected);
    expect(text).not.toContain("PWNED");
    expect(text).not.toContain("prettier");
  });
});
