// @vitest-environment happy-dom
import type { SessionEvent } from "@opta/protocol";
import { unifiedDiff } from "@opta/protocol";
import { act } from "react";
import { createRoot } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyEvents, emptySessionView, type ToolView, type TurnView } from "../src/state/session-view.js";
import { ToolBody } from "../src/views/tool-cards.js";
import { TurnRow } from "../src/views/turn-row.js";
import { fakeClient, type Mounted, mountApp, sessionInfo, settle, setValue, setViewport } from "./harness.js";

const containers: HTMLElement[] = [];
afterEach(() => {
  for (const container of containers.splice(0)) container.remove();
});

function render(node: React.ReactNode): HTMLElement {
  const container = document.createElement("div");
  document.body.append(container);
  containers.push(container);
  act(() => createRoot(container).render(node));
  return container;
}

function tool(patch: Partial<ToolView> & Pick<ToolView, "name" | "args">): ToolView {
  return { callId: "c-1", status: "ok", startedAt: "2026-03-06T14:00:00.000Z", ...patch };
}

describe("tool cards render per tool, not raw JSON", () => {
  it("read_file: numbered, highlighted lines from the read's first line", () => {
    const body = render(
      <ToolBody
        tool={tool({
          name: "read_file",
          args: { path: "src/auth.ts" },
          // As read_file writes it: each line numbered for the model.
          result: {
            path: "src/auth.ts",
            content: "    10\tconst a = 1;\n    11\t// note\n    12\texport { a };",
            startLine: 10,
            endLine: 12,
          },
        })}
      />,
    );
    const lines = [...body.querySelectorAll(".code-line")];
    expect(lines.map((line) => line.querySelector(".line-number")?.textContent)).toEqual(["10", "11", "12"]);
    expect(lines[0]?.querySelector(".tok-keyword")?.textContent).toBe("const");
    expect(lines[1]?.querySelector(".tok-comment")?.textContent).toBe("// note");
    expect(lines[2]?.querySelector("code")?.textContent).toBe("export { a };");
    // Real newlines, no escaped "\n" anywhere.
    expect(body.querySelector("[data-testid=numbered-code]")?.textContent).not.toContain("\\n");
  });

  it("edit_file: a diff of old_string → new_string at the edited line", () => {
    const body = render(
      <ToolBody
        tool={tool({
          name: "edit_file",
          args: { path: "a.py", old_string: "x = 1\ny = 2", new_string: "x = 1\ny = 3" },
          result: { path: "a.py", replacements: 1, line: 40 },
        })}
      />,
    );
    const rows = [...body.querySelectorAll(".diff-line")].map((row) => [
      row.getAttribute("data-kind"),
      row.querySelectorAll(".line-number")[0]?.textContent,
      row.querySelectorAll(".line-number")[1]?.textContent,
      row.querySelector("code")?.textContent,
    ]);
    expect(rows).toEqual([
      ["context", "40", "40", "x = 1"],
      ["remove", "41", "", "y = 2"],
      ["add", "", "41", "y = 3"],
    ]);
    expect(body.querySelector(".diff-stats")?.textContent).toBe("+1 −1");
  });

  it("write_file: the daemon's diff of an overwrite; a new file is all added", () => {
    const diff = unifiedDiff("a\nb\nc\n", "a\nB\nc\n").text;
    const over = render(
      <ToolBody
        tool={tool({
          name: "write_file",
          args: { path: "f.txt", content: "a\nB\nc\n" },
          result: { path: "f.txt", created: false, diff },
        })}
      />,
    );
    expect([...over.querySelectorAll(".diff-line")].map((row) => row.getAttribute("data-kind"))).toEqual([
      "context",
      "remove",
      "add",
      "context",
    ]);
    const created = render(
      <ToolBody
        tool={tool({ name: "write_file", args: { path: "n.txt", content: "x\ny" }, result: { created: true } })}
      />,
    );
    expect([...created.querySelectorAll(".diff-line")].map((row) => row.getAttribute("data-kind"))).toEqual([
      "add",
      "add",
    ]);
  });

  it("run_command: a terminal block with the exit code and sandbox level", () => {
    const body = render(
      <ToolBody
        tool={tool({
          name: "run_command",
          args: { command: "npm test" },
          result: {
            command: "npm test",
            exitCode: 1,
            stdout: "1 failed\n",
            stderr: "boom\n",
            sandbox: "workspace-write",
          },
        })}
      />,
    );
    const terminal = body.querySelector("[data-testid=terminal]")!;
    expect(terminal.querySelector(".terminal-command")?.textContent).toBe("$ npm test");
    expect(terminal.querySelector(".terminal-err")?.textContent).toBe("boom\n");
    expect(terminal.querySelector("[data-testid=exit-code]")?.textContent).toBe("exit 1");
    expect(terminal.textContent).toContain("sandbox: workspace-write");
  });

  it("list_dir and grep: a listing and file:line: text matches; unknown tools: pretty JSON", () => {
    const listing = render(
      <ToolBody
        tool={tool({
          name: "list_dir",
          args: { path: "." },
          result: {
            entries: [
              { name: "src", type: "dir" },
              { name: "a.ts", type: "file", size: 2048 },
            ],
          },
        })}
      />,
    );
    expect([...listing.querySelectorAll(".listing-name")].map((item) => item.textContent)).toEqual(["src/", "a.ts"]);
    const grep = render(
      <ToolBody
        tool={tool({
          name: "grep",
          args: { pattern: "jwt" },
          result: { pattern: "jwt", matches: [{ file: "src/a.ts", line: 3, text: "jwt.verify()" }] },
        })}
      />,
    );
    expect(grep.querySelector(".match")?.textContent).toBe("src/a.ts:3: jwt.verify()");
    const other = render(<ToolBody tool={tool({ name: "mcp__x__y", args: { q: 1 }, result: { ok: true } })} />);
    expect(other.querySelector("[data-renderer=json]")?.textContent).toContain('"ok": true');
  });
});

describe("turn rows", () => {
  const at = (ms: number) => new Date(Date.UTC(2026, 2, 6, 14, 0, 0) + ms).toISOString();
  let seq = 0;
  const event = (ms: number, body: Record<string, unknown>) =>
    ({ ...body, seq: ++seq, ts: at(ms), sessionId: "s-1" }) as unknown as SessionEvent;
  beforeEach(() => {
    seq = 0;
  });
  const start = (ms = 0) =>
    event(ms, {
      event: "turn.start",
      turnId: "t-1",
      role: "user",
      text: "go",
      mode: "do",
      model: "",
      permission: "safe",
    });

  it("a tool's time leaves out the wait for approval; the grep header shows the pattern", () => {
    const view = applyEvents(emptySessionView("s-1"), [
      start(),
      event(10, {
        event: "tool.call",
        turnId: "t-1",
        callId: "c-1",
        name: "grep",
        args: { pattern: "TODO", path: "src" },
      }),
      event(20, {
        event: "permission.request",
        turnId: "t-1",
        requestId: "r-1",
        callId: "c-1",
        name: "grep",
        args: {},
        risk: "read",
      }),
      event(60_020, { event: "permission.resolved", turnId: "t-1", requestId: "r-1", decision: "allow", by: "user" }),
      event(60_270, {
        event: "tool.result",
        turnId: "t-1",
        callId: "c-1",
        name: "grep",
        ok: true,
        elapsedMs: 60_260,
        result: { matches: [] },
      }),
    ]);
    const turn = view.items[0] as TurnView;
    expect(turn.tools["c-1"]?.elapsedMs).toBe(250);
    const row = render(<TurnRow turn={turn} />);
    expect(row.querySelector("[data-testid=tool-time]")?.textContent).toBe("250 ms");
    expect(row.querySelector(".tool-arg")?.textContent).toBe("/TODO/ in src");
  });

  it("names the model and provider that answered, and a fallback", () => {
    const view = applyEvents(emptySessionView("s-1"), [
      start(),
      event(5, {
        event: "provider.fallback",
        turnId: "t-1",
        from: "lmx/qwen",
        to: "anthropic/claude",
        reason: "refused",
      }),
      event(10, { event: "turn.token", turnId: "t-1", delta: "hi", model: "claude" }),
      event(20, {
        event: "turn.done",
        turnId: "t-1",
        tokens: 1,
        thinkingTokens: 0,
        elapsed: 0.1,
        tokensPerSec: 10,
        toolCalls: 0,
        steps: 1,
        stopReason: "stop",
        provider: "anthropic",
        model: "claude",
      }),
    ]);
    const row = render(<TurnRow turn={view.items[0] as TurnView} />);
    const by = row.querySelector("[data-testid=answered-by]");
    expect(by?.textContent).toContain("claude · anthropic");
    expect(row.querySelector("[data-testid=fallback]")?.textContent).toBe(
      "fallback: lmx/qwen failed, answered by anthropic/claude",
    );
  });
});

describe("composer overrides and drafts belong to their session", () => {
  let mounted: Mounted | undefined;
  beforeEach(() => {
    setViewport(1440);
    localStorage.clear();
  });
  afterEach(() => {
    mounted?.unmount();
    mounted = undefined;
    document.body.innerHTML = "";
  });

  it("restores each session's permission, model and draft, and sends B's settings from B", async () => {
    const fake = fakeClient({
      sessions: [
        sessionInfo({ id: "s-a", title: "A", status: "idle" }),
        sessionInfo({ id: "s-b", title: "B", status: "idle" }),
      ],
    });
    mounted = await mountApp({ fake });
    const { container, controller, client } = mounted;
    const permission = () => container.querySelector<HTMLSelectElement>("[data-testid=permission-pill]")!;
    const draft = () => container.querySelector<HTMLTextAreaElement>("#composer-input")!;
    await act(async () => controller.selectSession("s-a"));
    await setValue(permission(), "unrestricted");
    await setValue(draft(), "half-written for A");
    await act(async () => controller.selectSession("s-b"));
    await settle();
    expect(permission().value).toBe("");
    expect(draft().value).toBe("");
    await act(async () => controller.selectSession("s-a"));
    await settle();
    expect(permission().value).toBe("unrestricted");
    expect(draft().value).toBe("half-written for A");
    expect(JSON.parse(localStorage.getItem("opta.composer.s-a")!)).toMatchObject({ permission: "unrestricted" });

    await act(async () => controller.selectSession("s-b"));
    await setValue(draft(), "from B");
    await act(async () => {
      draft().dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", ctrlKey: true, bubbles: true }));
    });
    await settle();
    expect(client.submitTurn).toHaveBeenLastCalledWith("s-b", { text: "from B", mode: "chat" });
  });
});
