import type { ModelsResponse, SessionInfo } from "@opta/protocol";
import { render } from "ink-testing-library";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { App, headerLine } from "../../src/tui/app.js";
import type { PaletteCommand } from "../../src/tui/commands.js";
import { TuiController } from "../../src/tui/controller.js";
import { RecentStore } from "../../src/tui/recent.js";
import { lineWidth, setColor } from "../../src/tui/text.js";
import { fakeClient, MODELS, sessionInfo, stripAnsi, waitFor } from "./fake-client.js";

const KEYS = {
  enter: "\r",
  ctrlJ: "\n",
  shiftEnter: "\u001b[13;2u",
  shiftTab: "\u001b[Z",
  tab: "\t",
  esc: "\u001b",
  ctrlC: "\u0003",
  ctrlK: "\u000b",
  ctrlT: "\u0014",
  ctrlO: "\u000f",
  up: "\u001b[A",
  down: "\u001b[B",
  right: "\u001b[C",
  pageUp: "\u001b[5~",
  pageDown: "\u001b[6~",
  backspace: "\u007f",
  pasteStart: "\u001b[200~",
  pasteEnd: "\u001b[201~",
};

beforeAll(() => setColor(false));

const mounted: Array<{ unmount: () => void; controller: TuiController }> = [];
afterEach(() => {
  for (const { unmount, controller } of mounted.splice(0)) {
    controller.stop();
    unmount();
  }
});

function mount(
  options: {
    columns?: number;
    rows?: number;
    customCommands?: PaletteCommand[];
    model?: string;
    now?: () => number;
    /** Minimum time between updates (default here 0; the real default is 33 ms). */
    frameMs?: number;
    session?: Partial<SessionInfo>;
    models?: ModelsResponse;
  } = {},
) {
  const fake = fakeClient({ models: options.models, session: options.session });
  const onExit = vi.fn();
  const controller = new TuiController({
    client: fake.client,
    session: sessionInfo(options.session),
    model: options.model,
    recent: new RecentStore(),
    customCommands: options.customCommands,
    frameMs: "frameMs" in options ? options.frameMs : 0,
    onExit,
    now: options.now,
  });
  const size = { columns: options.columns ?? 100, rows: options.rows ?? 30 };
  const app = render(<App controller={controller} size={size} />);
  controller.start();
  mounted.push({ unmount: app.unmount, controller });
  const frame = () => stripAnsi(app.lastFrame());
  /** Writes keys one at a time, letting Ink process each. */
  const press = async (...keys: string[]) => {
    for (const key of keys) {
      app.stdin.write(key);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  return { ...fake, controller, app, frame, press, onExit };
}

function turn(fake: ReturnType<typeof fakeClient>, text: string, answer: string[], turnId = "t-1") {
  fake.emit(
    { event: "turn.start", turnId, role: "user", text, mode: "chat", model: "scripted-model", permission: "safe" },
    ...answer.map((delta) => ({ event: "turn.token" as const, turnId, delta, model: "scripted-model" })),
  );
}

function done(fake: ReturnType<typeof fakeClient>, turnId = "t-1", extra: Record<string, number> = {}) {
  fake.emit({
    event: "turn.done",
    turnId,
    tokens: 12,
    thinkingTokens: 0,
    elapsed: 0.5,
    tokensPerSec: 24,
    toolCalls: 0,
    steps: 1,
    stopReason: "stop",
    ...extra,
  });
}

describe("layout", () => {
  it("shows the header, the hint line and the status bar, and fits the terminal", async () => {
    const ui = mount({ columns: 100, rows: 24 });
    await waitFor(() => expect(ui.frame()).toContain("● connected"));
    const lines = ui.frame().split("\n");
    expect(lines).toHaveLength(24);
    expect(lines[0]).toContain("opta tui");
    expect(lines[0]).toContain("s-test1");
    expect(lines[0]).toContain("scripted-model");
    expect(lines[0]).toContain("[Chat]");
    expect(ui.frame()).toContain("Tab: model · Ctrl+K: menu · [Chat]");
    expect(lines.at(-1)).toContain("model scripted-model");
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(100);
  });

  it("shows the connection state as it changes", async () => {
    const ui = mount();
    await waitFor(() => expect(ui.frame()).toContain("● connected"));
    ui.status("reconnecting");
    await waitFor(() => expect(ui.frame()).toContain("◌ reconnecting"));
    ui.status("connected");
    await waitFor(() => expect(ui.frame()).toContain("● connected"));
  });

  it("streams an answer as markdown, then shows the turn's stats in the timeline and status bar", async () => {
    const ui = mount();
    turn(ui, "explain auth", ["## Auth", "\n\nUse **jose** and ", "`jwtVerify`", "."]);
    await waitFor(() => expect(ui.frame()).toContain("Use jose and jwtVerify."));
    expect(ui.frame()).toContain("› explain auth");
    expect(ui.frame()).toContain("◈ Assistant");
    expect(ui.frame()).toContain("Auth");
    expect(ui.frame()).not.toContain("**");
    expect(ui.frame()).toContain("● running · Ctrl+C cancels");
    done(ui);
    await waitFor(() => expect(ui.frame()).toContain("12 tok · 24.0 tok/s · 0.5s"));
    expect(ui.frame().split("\n").at(-1)).toContain("12 tok · 24.0 tok/s");
  });

  it("re-lays out the timeline at a new width", async () => {
    const ui = mount({ columns: 100 });
    turn(ui, "q", ["word ".repeat(40)]);
    done(ui);
    await waitFor(() => expect(ui.frame()).toContain("12 tok"));
    ui.app.rerender(<App controller={ui.controller} size={{ columns: 40, rows: 30 }} />);
    await waitFor(() => {
      for (const line of ui.frame().split("\n")) expect(line.length).toBeLessThanOrEqual(40);
      expect(
        ui
          .frame()
          .split("\n")
          .filter((line) => line.includes("word")).length,
      ).toBeGreaterThan(4);
    });
  });
});

describe("header", () => {
  const plain = (line: ReturnType<typeof headerLine>) => line.map((span) => span.text).join("");

  it("shows the title the daemon gives the session after its first turn", async () => {
    const ui = mount({ session: { title: "Untitled session" } });
    await waitFor(() => expect(ui.frame().split("\n")[0]).toContain("Untitled session"));
    // The daemon titles the session from the first message when it records turn.start.
    ui.setInfo("s-test1", { title: "fix the login redirect" });
    turn(ui, "fix the login redirect", ["On it."]);
    done(ui);
    await waitFor(() => expect(ui.frame().split("\n")[0]).toContain("fix the login redirect"));
    expect(ui.frame().split("\n")[0]).not.toContain("Untitled session");
  });

  it("after a resume names the model the last turn asked for, and the next turn is sent with it", async () => {
    const ui = mount({ session: { model: "lmx/qwen2.5-coder-7b" } });
    // History: the last turn asked for anthropic/claude-sonnet; a fallback provider answered.
    ui.emit(
      {
        event: "turn.start",
        turnId: "t-0",
        role: "user",
        text: "earlier",
        mode: "chat",
        model: "anthropic/claude-sonnet",
        permission: "safe",
      },
      { event: "turn.token", turnId: "t-0", delta: "ok", model: "openai/gpt-4o" },
    );
    done(ui, "t-0");
    await waitFor(() => expect(ui.frame()).toContain("12 tok"));
    const header = ui.frame().split("\n")[0]!;
    expect(header).toContain("anthropic/claude-sonnet");
    expect(header).not.toContain("gpt-4o");
    await ui.press(..."next", "\r");
    await waitFor(() => expect(ui.calls.submitted).toHaveLength(1));
    expect(ui.calls.submitted[0]!.request.model).toBe("anthropic/claude-sonnet");
  });

  it("at 80 columns keeps the whole title and shortens the rest first", async () => {
    const title = "Refactor the auth middleware to use jose";
    const ui = mount({ columns: 80, session: { title, model: "lmx/qwen2.5-coder-7b-instruct-q4" } });
    await waitFor(() => expect(ui.frame()).toContain("●"));
    const header = ui.frame().split("\n")[0]!;
    expect(header).toContain(title);
    expect(header.length).toBeLessThanOrEqual(80);
    expect(header).toContain("[Chat]");
  });

  it("cuts only the title's end when even the shortest header is too wide", () => {
    const parts = {
      id: "s-0mx93znm6000j6wyd",
      title: "A very long session title that cannot possibly fit into forty columns",
      model: "scripted-model",
      mode: "chat",
      connection: "connected" as const,
    };
    const narrow = plain(headerLine(parts, 60));
    expect(lineWidth(headerLine(parts, 60))).toBeLessThanOrEqual(60);
    expect(narrow).toContain("A very long session");
    expect(narrow).toContain("…");
    expect(narrow).toContain("scripted-model");
    // With room, everything is there.
    expect(plain(headerLine(parts, 200))).toContain(`session ${parts.id} · ${parts.title}`);
    expect(plain(headerLine(parts, 200))).toContain("● connected");
  });
});

describe("thinking and tools", () => {
  it("shows thinking muted with its token count and collapses it with Ctrl+T", async () => {
    const ui = mount();
    ui.emit(
      { event: "turn.start", turnId: "t-1", role: "user", text: "plan", mode: "chat", model: "m", permission: "safe" },
      { event: "turn.thinking", turnId: "t-1", delta: "The user wants " },
      { event: "turn.thinking", turnId: "t-1", delta: "a refactor. " },
      { event: "turn.thinking", turnId: "t-1", delta: "Plan first." },
      { event: "turn.token", turnId: "t-1", delta: "Here is the plan.", model: "m" },
    );
    done(ui, "t-1", { thinkingTokens: 3 });
    await waitFor(() => expect(ui.frame()).toContain("◈ thinking · 3 tokens"));
    expect(ui.frame()).toContain("The user wants a refactor. Plan first.");
    expect(ui.frame()).toContain("thinking 3");
    await ui.press(KEYS.ctrlT);
    await waitFor(() => expect(ui.frame()).not.toContain("The user wants"));
    expect(ui.frame()).toContain("(Ctrl+T to expand)");
    expect(ui.frame()).toContain("Here is the plan.");
    await ui.press(KEYS.ctrlT);
    await waitFor(() => expect(ui.frame()).toContain("The user wants"));
  });

  it("shows a tool call as one line and expands its details with Ctrl+O", async () => {
    const ui = mount();
    ui.emit(
      { event: "turn.start", turnId: "t-1", role: "user", text: "read", mode: "do", model: "m", permission: "safe" },
      { event: "tool.call", turnId: "t-1", callId: "c-1", name: "read_file", args: { path: "src/auth.ts" } },
    );
    await waitFor(() => expect(ui.frame()).toContain('▸ read_file("src/auth.ts") … running'));
    expect(ui.frame()).toContain("[Do]");
    ui.emit({
      event: "tool.result",
      turnId: "t-1",
      callId: "c-1",
      name: "read_file",
      ok: true,
      result: { content: "export const login = 1;\nexport const logout = 2;" },
      elapsedMs: 83,
      summary: "142 lines",
    });
    await waitFor(() => expect(ui.frame()).toContain('▸ read_file("src/auth.ts") ✓ 142 lines 83ms'));
    expect(ui.frame()).not.toContain("export const login");
    await ui.press(KEYS.ctrlO);
    await waitFor(() => expect(ui.frame()).toContain("export const login = 1;"));
    expect(ui.frame()).toContain('"path": "src/auth.ts"');
  });

  it("marks a failed or denied tool call", async () => {
    const ui = mount();
    ui.emit(
      { event: "turn.start", turnId: "t-1", role: "user", text: "x", mode: "chat", model: "m", permission: "safe" },
      { event: "tool.call", turnId: "t-1", callId: "c-1", name: "grep", args: { pattern: "(", path: "src" } },
      { event: "tool.result", turnId: "t-1", callId: "c-1", name: "grep", ok: false, error: "bad regex", elapsedMs: 2 },
    );
    await waitFor(() => expect(ui.frame()).toContain('▸ grep("(", …) ✗ bad regex'));
  });
});

describe("approvals", () => {
  it("asks inline with the tool's arguments and sends allow / deny / always", async () => {
    const ui = mount();
    ui.emit(
      { event: "turn.start", turnId: "t-1", role: "user", text: "test", mode: "chat", model: "m", permission: "safe" },
      { event: "tool.call", turnId: "t-1", callId: "c-1", name: "run_command", args: { command: "npm test" } },
      {
        event: "permission.request",
        turnId: "t-1",
        requestId: "p-1",
        callId: "c-1",
        name: "run_command",
        args: { command: "npm test" },
        risk: "execute",
        reason: "run_command asks by default",
      },
    );
    await waitFor(() => expect(ui.frame()).toContain("⚙ run_command · execute"));
    expect(ui.frame()).toContain("command: npm test");
    expect(ui.frame()).toContain("run_command asks by default");
    expect(ui.frame()).toMatch(/Allow\s+Deny\s+Always allow/);
    expect(ui.frame()).toContain("⚠ waiting for approval");
    // Typing goes to the approval, not the composer.
    await ui.press("y");
    await waitFor(() => expect(ui.calls.decisions).toEqual([{ requestId: "p-1", decision: "allow" }]));
    ui.emit(
      { event: "permission.resolved", turnId: "t-1", requestId: "p-1", decision: "allow", by: "user" },
      {
        event: "permission.request",
        turnId: "t-1",
        requestId: "p-2",
        callId: "c-2",
        name: "write_file",
        args: { path: "a.txt", content: "hi" },
        risk: "write",
      },
    );
    await waitFor(() => expect(ui.frame()).toContain("⚙ write_file · write"));
    await ui.press(KEYS.right, KEYS.right, KEYS.enter);
    await waitFor(() => expect(ui.calls.decisions.at(-1)).toEqual({ requestId: "p-2", decision: "always" }));
    ui.emit({ event: "permission.resolved", turnId: "t-1", requestId: "p-2", decision: "always", by: "user" });
    await waitFor(() => expect(ui.frame()).not.toContain("⚙ write_file"));
    ui.emit({
      event: "permission.request",
      turnId: "t-1",
      requestId: "p-3",
      callId: "c-3",
      name: "edit_file",
      args: { path: "b.txt" },
      risk: "write",
    });
    await waitFor(() => expect(ui.frame()).toContain("⚙ edit_file"));
    await ui.press("n");
    await waitFor(() => expect(ui.calls.decisions.at(-1)).toEqual({ requestId: "p-3", decision: "deny" }));
    expect(ui.controller.buffer.text).toBe("");
  });

  it("drops an approval another client answered", async () => {
    const ui = mount();
    ui.emit(
      { event: "turn.start", turnId: "t-1", role: "user", text: "x", mode: "chat", model: "m", permission: "safe" },
      {
        event: "permission.request",
        turnId: "t-1",
        requestId: "p-1",
        callId: "c-1",
        name: "write_file",
        args: { path: "a" },
        risk: "write",
      },
    );
    await waitFor(() => expect(ui.frame()).toContain("⚙ write_file"));
    ui.emit({ event: "permission.resolved", turnId: "t-1", requestId: "p-1", decision: "deny", by: "desktop" });
    await waitFor(() => expect(ui.frame()).not.toContain("⚙ write_file"));
    expect(ui.frame()).toContain("✗ denied");
  });
});

describe("keys", () => {
  it("Enter sends; Ctrl+J and Shift+Enter insert newlines; Shift+Tab switches to Do", async () => {
    const ui = mount();
    await ui.press("hello", KEYS.ctrlJ, "multi", KEYS.shiftEnter, "line");
    await waitFor(() => expect(ui.frame()).toContain("multi"));
    expect(ui.controller.buffer.text).toBe("hello\nmulti\nline");
    await ui.press(KEYS.enter);
    await waitFor(() => expect(ui.calls.submitted).toHaveLength(1));
    expect(ui.calls.submitted[0]!.request).toMatchObject({
      text: "hello\nmulti\nline",
      mode: "chat",
      interactive: true,
    });
    expect(ui.controller.buffer.text).toBe("");
    await ui.press(KEYS.shiftTab);
    await waitFor(() => expect(ui.frame()).toContain("Tab: model · Ctrl+K: menu · [Do]"));
    await ui.press("go", KEYS.enter);
    await waitFor(() => expect(ui.calls.submitted).toHaveLength(2));
    expect(ui.calls.submitted[1]!.request.mode).toBe("do");
  });

  it("edits with backspace and arrows, and keeps the text while a turn runs", async () => {
    const ui = mount();
    await ui.press("helo", KEYS.backspace, "lo", "\u001b[D", "\u001b[D", "X");
    expect(ui.controller.buffer.text).toBe("helXlo");
    turn(ui, "earlier", ["streaming"]);
    await waitFor(() => expect(ui.frame()).toContain("streaming"));
    await ui.press(KEYS.enter);
    await waitFor(() => expect(ui.frame()).toContain("A turn is running"));
    expect(ui.calls.submitted).toHaveLength(0);
    expect(ui.controller.buffer.text).toBe("helXlo");
  });

  it("Ctrl+C cancels a running turn; leaving takes two more presses once idle, however soon", async () => {
    // The clock stands still: every press below falls inside the exit window of the one before.
    const now = 1000;
    const ui = mount({ now: () => now });
    turn(ui, "long task", ["working"]);
    await waitFor(() => expect(ui.frame()).toContain("working"));
    await ui.press(KEYS.ctrlC);
    await waitFor(() => expect(ui.calls.stopped).toBe(1));
    expect(ui.frame()).toContain("Cancelling the turn…");
    // A second press while the cancel is under way neither stops again nor arms the exit.
    await ui.press(KEYS.ctrlC);
    await waitFor(() => expect(ui.frame()).toContain("Cancelling… press Ctrl+C again when idle to exit"));
    expect(ui.calls.stopped).toBe(1);
    ui.emit({ event: "session.cancelled", turnId: "t-1" });
    await waitFor(() => expect(ui.frame()).toContain("⊘ cancelled"));
    // The first press once idle only arms the exit, with a hint.
    await ui.press(KEYS.ctrlC);
    await waitFor(() => expect(ui.frame()).toContain("Press Ctrl+C again to exit"));
    expect(ui.onExit).not.toHaveBeenCalled();
    await ui.press(KEYS.ctrlC);
    await waitFor(() => expect(ui.onExit).toHaveBeenCalledWith(0));
  });

  it("a Ctrl+C press arms the exit only for a while", async () => {
    let now = 1000;
    const ui = mount({ now: () => now });
    await ui.press(KEYS.ctrlC);
    await waitFor(() => expect(ui.frame()).toContain("Press Ctrl+C again to exit"));
    now += 10_000;
    await ui.press(KEYS.ctrlC);
    expect(ui.onExit).not.toHaveBeenCalled();
    await ui.press(KEYS.ctrlC);
    await waitFor(() => expect(ui.onExit).toHaveBeenCalledWith(0));
  });

  it('text and Enter in one read: the text is sent (tmux send-keys "xyz" Enter)', async () => {
    const ui = mount();
    await ui.press("abc\r");
    await waitFor(() => expect(ui.calls.submitted).toHaveLength(1));
    expect(ui.calls.submitted[0]!.request.text).toBe("abc");
    expect(ui.controller.buffer.text).toBe("");
    // Also with text already in the composer, and for a /command.
    await ui.press("say ", "more\r");
    await waitFor(() => expect(ui.calls.submitted).toHaveLength(2));
    expect(ui.calls.submitted[1]!.request.text).toBe("say more");
    await ui.press("/mode do\r\r");
    await waitFor(() => expect(ui.controller.mode).toBe("do"));
    expect(ui.controller.buffer.text).toBe("");
    // An unbracketed multi-line read (an old terminal's paste) keeps its inner line breaks.
    await ui.press("one\rtwo\r");
    await waitFor(() => expect(ui.calls.submitted).toHaveLength(3));
    expect(ui.calls.submitted[2]!.request.text).toBe("one\ntwo");
  });

  it("a bracketed paste is text: its line breaks are inserted, nothing is sent", async () => {
    const ui = mount();
    await ui.press("note: ");
    await ui.press(`${KEYS.pasteStart}first line\rsecond line\r${KEYS.pasteEnd}`);
    await waitFor(() => expect(ui.controller.buffer.text).toBe("note: first line\nsecond line\n"));
    expect(ui.calls.submitted).toHaveLength(0);
    expect(ui.frame()).toContain("second line");
    // A paste split over several reads, with a lone \r and a tab read on their own.
    await ui.press(KEYS.pasteStart, "a", "\r", "b\r\nc", KEYS.tab, "d", KEYS.pasteEnd);
    await waitFor(() => expect(ui.controller.buffer.text).toBe("note: first line\nsecond line\na\nb\nc\td"));
    expect(ui.calls.submitted).toHaveLength(0);
    // Enter after the paste sends all of it.
    await ui.press(KEYS.enter);
    await waitFor(() => expect(ui.calls.submitted).toHaveLength(1));
    expect(ui.calls.submitted[0]!.request.text).toBe("note: first line\nsecond line\na\nb\nc\td");
  });

  it("a paste filters an overlay on one line, and never answers an approval", async () => {
    const ui = mount();
    await ui.press(KEYS.ctrlK);
    await waitFor(() => expect(ui.frame()).toContain("OPTA MENU"));
    await ui.press(`${KEYS.pasteStart}hel\r${KEYS.pasteEnd}`);
    await waitFor(() => expect(ui.frame()).toContain("/hel"));
    expect(ui.frame()).toContain("OPTA MENU"); // the \r did not run the selection
    await ui.press(KEYS.esc);
    ui.emit(
      { event: "turn.start", turnId: "t-1", role: "user", text: "x", mode: "chat", model: "m", permission: "safe" },
      {
        event: "permission.request",
        turnId: "t-1",
        requestId: "p-1",
        callId: "c-1",
        name: "write_file",
        args: { path: "a" },
        risk: "write",
      },
    );
    await waitFor(() => expect(ui.frame()).toContain("⚙ write_file"));
    await ui.press(`${KEYS.pasteStart}y\r${KEYS.pasteEnd}`);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(ui.calls.decisions).toEqual([]);
    expect(ui.controller.buffer.text).toBe("");
  });

  it("arrows and PageUp/PageDown scroll the timeline while the composer keeps its text", async () => {
    const ui = mount({ rows: 20 });
    const lines = Array.from({ length: 60 }, (_, i) => `line ${i}`).join("\n\n");
    turn(ui, "many", [lines]);
    done(ui);
    await waitFor(() => expect(ui.frame()).toContain("line 59"));
    await ui.press("draft");
    await ui.press(KEYS.pageUp);
    await waitFor(() => expect(ui.frame()).toMatch(/↓ \d+ more lines/));
    expect(ui.frame()).not.toContain("line 59");
    await ui.press(KEYS.up, KEYS.up);
    const scrolled = ui.controller.scroll;
    await ui.press(KEYS.down);
    expect(ui.controller.scroll).toBe(scrolled - 1);
    await ui.press(KEYS.pageDown, KEYS.pageDown);
    await waitFor(() => expect(ui.frame()).toContain("line 59"));
    expect(ui.controller.buffer.text).toBe("draft");
    await ui.press(KEYS.pageUp, KEYS.esc);
    await waitFor(() => expect(ui.controller.scroll).toBe(0));
  });

  it("keeps a scrolled view still while new tokens arrive", async () => {
    const ui = mount({ rows: 20 });
    turn(ui, "many", [Array.from({ length: 40 }, (_, i) => `row ${i}`).join("\n\n")]);
    await waitFor(() => expect(ui.frame()).toContain("row 39"));
    await ui.press(KEYS.pageUp);
    await waitFor(() => expect(ui.frame()).toContain("more lines"));
    const before = ui.frame().split("\n").slice(1, 8).join("\n");
    ui.emit({ event: "turn.token", turnId: "t-1", delta: "\n\nmore\n\nand more", model: "m" });
    await waitFor(() => expect(ui.controller.timeline.activeTurn?.revision).toBeGreaterThan(1));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(ui.frame().split("\n").slice(1, 8).join("\n")).toBe(before);
  });
});

describe("model picker", () => {
  it("opens with Tab, lists LMX first when healthy, filters fuzzily, and applies to this session", async () => {
    const ui = mount();
    await ui.press(KEYS.tab);
    await waitFor(() => expect(ui.frame()).toContain("SELECT MODEL"));
    await waitFor(() => expect(ui.frame()).toContain("qwen2.5-coder-7b · LMX local"));
    const order = ["qwen2.5-coder-7b", "llama-3.1-8b", "gpt-4o", "claude-sonnet"].map((id) => ui.frame().indexOf(id));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    await ui.press("gpt");
    await waitFor(() => expect(ui.frame()).not.toContain("qwen2.5-coder-7b"));
    expect(ui.frame()).toContain("gpt-4o · openai");
    await ui.press(KEYS.enter);
    await waitFor(() => expect(ui.frame()).not.toContain("SELECT MODEL"));
    expect(ui.frame().split("\n")[0]).toContain("openai/gpt-4o");
    await ui.press("hi", KEYS.enter);
    await waitFor(() => expect(ui.calls.submitted).toHaveLength(1));
    expect(ui.calls.submitted[0]!.request.model).toBe("openai/gpt-4o");
    // Recently used comes first next time.
    await ui.press(KEYS.tab);
    await waitFor(() => expect(ui.frame()).toContain("gpt-4o · openai · recent"));
    expect(ui.frame().indexOf("gpt-4o")).toBeLessThan(ui.frame().indexOf("qwen2.5-coder-7b"));
    await ui.press(KEYS.esc);
    await waitFor(() => expect(ui.frame()).not.toContain("SELECT MODEL"));
  });
});

describe("menu", () => {
  const custom: PaletteCommand[] = [
    {
      kind: "custom",
      name: "review",
      description: "Review a file",
      body: "Review $ARGUMENTS for bugs",
      takesArguments: true,
      file: "/x/review.md",
    },
  ];

  it("opens with Ctrl+K and with / in an empty composer, filters, and runs the selection", async () => {
    const ui = mount({ customCommands: custom });
    await ui.press(KEYS.ctrlK);
    await waitFor(() => expect(ui.frame()).toContain("OPTA MENU"));
    for (const name of ["/clear", "/compact", "/model", "/mode", "/settings", "/export", "/help", "/review"]) {
      expect(ui.frame()).toContain(name);
    }
    await ui.press("hel");
    await waitFor(() => expect(ui.frame()).not.toContain("/compact"));
    await ui.press(KEYS.enter);
    await waitFor(() => expect(ui.frame()).toContain("HELP"));
    expect(ui.frame()).toContain("Ctrl+T");
    await ui.press(KEYS.esc);
    await waitFor(() => expect(ui.frame()).not.toContain("HELP"));
    // "/" in an empty composer opens it too; the recently used command comes first.
    await ui.press("/");
    await waitFor(() => expect(ui.frame()).toContain("OPTA MENU"));
    const frame = ui.frame();
    expect(frame.indexOf("/help")).toBeLessThan(frame.indexOf("/clear"));
    await ui.press("mode do", KEYS.enter);
    await waitFor(() => expect(ui.frame()).toContain("[Do]"));
  });

  it("runs a custom command with $ARGUMENTS, typed or picked", async () => {
    const ui = mount({ customCommands: custom });
    await ui.press("/");
    await ui.press("rev", KEYS.enter);
    await waitFor(() => expect(ui.controller.buffer.text).toBe("/review "));
    await ui.press("src/auth.ts", KEYS.enter);
    await waitFor(() => expect(ui.calls.submitted).toHaveLength(1));
    expect(ui.calls.submitted[0]!.request.text).toBe("Review src/auth.ts for bugs");
  });

  it("/clear starts a new session and keeps the old one; /compact and unknown commands", async () => {
    const ui = mount();
    turn(ui, "old question", ["old answer"]);
    done(ui);
    await waitFor(() => expect(ui.frame()).toContain("old answer"));
    ui.controller.buffer = { text: "/clear", cursor: 6 };
    await ui.press(KEYS.enter);
    await waitFor(() => expect(ui.frame()).toContain("s-new1"));
    expect(ui.calls.created).toEqual([{ cwd: "/tmp", mode: "chat", model: "scripted-model" }]);
    expect(ui.calls.subscribed).toEqual(["s-test1", "s-new1"]);
    expect(ui.frame()).not.toContain("old answer");
    expect(ui.frame()).toContain("opta tui --session s-test1");
    ui.controller.buffer = { text: "/compact", cursor: 8 };
    await ui.press(KEYS.enter);
    await waitFor(() => expect(ui.calls.compacted).toBe(1));
    ui.controller.buffer = { text: "/nope", cursor: 5 };
    await ui.press(KEYS.enter);
    await waitFor(() => expect(ui.frame()).toContain("Unknown command /nope"));
  });
});

describe("text from the daemon never drives the terminal", () => {
  const OSC_TITLE = "\u001b]0;PWNED\u0007";
  const OSC_CLIPBOARD = "\u001b]52;c;cm0gLXJmIH4=\u0007";
  const CSI_CLEAR = "\u001b[2J\u001b[H";
  const C1 = "\u009d0;PWNED\u009c\u009b2J";
  const ALL = `${OSC_TITLE}${OSC_CLIPBOARD}${CSI_CLEAR}${C1}`;
  /** Control characters a frame may hold: none but \n (colour is off in these tests). */
  const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

  it("strips OSC, CSI and C1 sequences from every string before it is drawn", async () => {
    const ui = mount({
      session: { title: `evil title${OSC_TITLE}` },
      models: {
        ...MODELS,
        models: [{ id: `bad-model${C1}`, provider: "lmx", ref: `lmx/bad-model${C1}` }, ...MODELS.models],
      },
    });
    ui.emit(
      {
        event: "turn.start",
        turnId: "t-1",
        role: "user",
        text: `read it${CSI_CLEAR}`,
        mode: "do",
        model: `m${C1}`,
        permission: "safe",
      },
      { event: "provider.fallback", turnId: "t-1", from: `lmx/a${OSC_TITLE}`, to: "openai/b", reason: `down${C1}` },
      { event: "turn.thinking", turnId: "t-1", delta: `thinking ${ALL}` },
      { event: "turn.token", turnId: "t-1", delta: `hello ${OSC_CLIPBOARD}world`, model: "m" },
      { event: "tool.call", turnId: "t-1", callId: "c-1", name: "read_file", args: { path: `evil${ALL}.txt` } },
      {
        event: "tool.result",
        turnId: "t-1",
        callId: "c-1",
        name: "read_file",
        ok: true,
        result: { content: `file says ${ALL} bye` },
        summary: `1 line${OSC_TITLE}`,
        elapsedMs: 3,
      },
      {
        event: "permission.request",
        turnId: "t-1",
        requestId: "p-1",
        callId: "c-2",
        name: `write_file${C1}`,
        args: { path: `x${OSC_TITLE}`, content: `multi\nline${ALL}` },
        risk: "write",
        reason: `because${CSI_CLEAR}`,
      },
    );
    await waitFor(() => expect(ui.frame()).toContain("⚙ write_file · write"));
    await ui.press(KEYS.ctrlO);
    await waitFor(() => expect(ui.frame()).toContain("file says  bye"));
    expect(ui.frame()).toContain("hello world");
    expect(ui.frame()).toContain("evil title");
    expect(ui.frame()).toContain("lmx/a failed (down) · continuing with openai/b");
    expect(ui.frame()).toContain("content: multi");
    ui.emit(
      { event: "permission.resolved", turnId: "t-1", requestId: "p-1", decision: "deny", by: "user" },
      {
        event: "turn.error",
        turnId: "t-1",
        message: `provider broke${OSC_CLIPBOARD}`,
        code: "E_PROVIDER",
        retryable: false,
      },
    );
    await waitFor(() => expect(ui.frame()).toContain("✗ provider broke (E_PROVIDER)"));
    await ui.press(KEYS.tab);
    await waitFor(() => expect(ui.frame()).toContain("bad-model · LMX local"));
    // Every frame Ink wrote, not only the last one.
    expect(ui.app.frames.length).toBeGreaterThan(3);
    for (const frame of ui.app.frames) {
      expect(frame).not.toMatch(CONTROL);
      expect(frame).not.toContain("PWNED");
      expect(frame).not.toContain("cm0gLXJmIH4=");
    }
  });

  it("with colour on, the only escape sequences are the TUI's own SGR styles", async () => {
    setColor(true);
    try {
      const ui = mount();
      turn(ui, `q${OSC_TITLE}`, [`# Title${C1}\n\n**bold**${OSC_CLIPBOARD} and \`code${CSI_CLEAR}\``]);
      done(ui);
      await waitFor(() => expect(stripAnsi(ui.app.lastFrame())).toContain("bold and code"));
      for (const frame of ui.app.frames) {
        const withoutSgr = frame.replace(/\u001b\[[0-9;]*m/g, "");
        expect(withoutSgr).not.toMatch(CONTROL);
      }
    } finally {
      setColor(false);
    }
  });
});

describe("timeline extras", () => {
  it("shows a provider fallback as a muted line in its turn", async () => {
    const ui = mount({ columns: 140 });
    ui.emit(
      { event: "turn.start", turnId: "t-1", role: "user", text: "hi", mode: "chat", model: "auto", permission: "safe" },
      {
        event: "provider.fallback",
        turnId: "t-1",
        from: "lmx/qwen2.5-coder-7b",
        to: "openai/gpt-4o",
        reason: "connect ECONNREFUSED 127.0.0.1:1234",
      },
      { event: "turn.token", turnId: "t-1", delta: "Hello.", model: "gpt-4o" },
    );
    await waitFor(() => expect(ui.frame()).toContain("Hello."));
    const lines = ui.frame().split("\n");
    const fallback = lines.findIndex((line) =>
      line.includes(
        "↪ lmx/qwen2.5-coder-7b failed (connect ECONNREFUSED 127.0.0.1:1234) · continuing with openai/gpt-4o",
      ),
    );
    expect(fallback).toBeGreaterThan(0);
    expect(fallback).toBeLessThan(lines.findIndex((line) => line.includes("Hello.")));
  });

  it("counts tools in the status bar in the singular and the plural", async () => {
    const ui = mount();
    turn(ui, "one", ["a"]);
    done(ui, "t-1", { toolCalls: 1 });
    await waitFor(() => expect(ui.frame().split("\n").at(-1)).toContain("· 1 tool"));
    expect(ui.frame()).not.toContain("1 tools");
    turn(ui, "two", ["b"], "t-2");
    done(ui, "t-2", { toolCalls: 2 });
    await waitFor(() => expect(ui.frame().split("\n").at(-1)).toContain("· 2 tools"));
  });
});

describe("streaming", () => {
  it("draws at most ~30 frames a second however fast tokens arrive", async () => {
    const ui = mount({ frameMs: undefined }); // the real frame interval (33 ms)
    await waitFor(() => expect(ui.frame()).toContain("● connected"));
    let updates = 0;
    ui.controller.onChange(() => updates++);
    // The frame interval is a timer: drive it with fake time, so the count does not depend on how
    // busy the machine is.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    let fakeElapsed = 0;
    try {
      ui.emit({
        event: "turn.start",
        turnId: "t-1",
        role: "user",
        text: "burst",
        mode: "chat",
        model: "m",
        permission: "safe",
      });
      // 300 tokens, three every 4 ms: 400 ms of streaming.
      const words = Array.from({ length: 300 }, (_, i) => `w${i}`);
      for (let i = 0; i < words.length; i += 3) {
        ui.emit(
          ...words
            .slice(i, i + 3)
            .map((word) => ({ event: "turn.token" as const, turnId: "t-1", delta: `${word} `, model: "m" })),
        );
        vi.advanceTimersByTime(4);
        fakeElapsed += 4;
      }
      vi.advanceTimersByTime(50);
      fakeElapsed += 50;
    } finally {
      vi.useRealTimers();
    }
    // It streamed (several updates, not one at the end), at no more than one per 33 ms.
    expect(updates).toBeGreaterThanOrEqual(5);
    expect(updates).toBeLessThanOrEqual(Math.ceil(fakeElapsed / 33) + 2);
    await waitFor(() => expect(ui.frame()).toContain("w299"));
  });

  it("after a dropped connection, resumes after the last seq and shows every token once", async () => {
    const ui = mount({ columns: 160, rows: 40 });
    const words = Array.from({ length: 30 }, (_, i) => `t${String(i).padStart(2, "0")}`);
    const token = (word: string) => ({ event: "turn.token" as const, turnId: "t-1", delta: `${word} `, model: "m" });
    ui.emit(
      { event: "turn.start", turnId: "t-1", role: "user", text: "count", mode: "chat", model: "m", permission: "safe" },
      ...words.slice(0, 10).map(token),
    );
    await waitFor(() => expect(ui.frame()).toContain("t09"));
    const before = ui.delivered;
    ui.drop();
    await waitFor(() => expect(ui.frame()).toContain("◌ reconnecting"));
    // The turn goes on in the daemon meanwhile.
    ui.emit(...words.slice(10, 20).map(token));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ui.frame()).not.toContain("t10");
    // The daemon replays from the SDK's afterSeq, here with the last five events once more
    // (at-least-once delivery): the TUI applies each seq once.
    ui.reconnect(before - 5);
    ui.emit(...words.slice(20).map(token));
    done(ui);
    await waitFor(() => expect(ui.frame()).toContain("● connected"));
    await waitFor(() => expect(ui.frame()).toContain("12 tok"));
    const text = ui.frame();
    expect(text).toContain(words.join(" "));
    for (const word of words) expect(text.split(word).length - 1).toBe(1);
    expect(ui.controller.timeline.entries).toHaveLength(1);
  });
});
