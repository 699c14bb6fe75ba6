import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { expandCustomCommand, loadCustomCommands, parseSlash } from "../../src/tui/commands.js";
import * as composer from "../../src/tui/composer.js";
import { orderModels } from "../../src/tui/controller.js";
import { EntryLayout, formatToolCall } from "../../src/tui/entry-lines.js";
import { fuzzyFilter } from "../../src/tui/fuzzy.js";
import { IncrementalMarkdown, renderMarkdown } from "../../src/tui/markdown.js";
import { paint, plain, setColor, width } from "../../src/tui/text.js";
import { Timeline } from "../../src/tui/timeline.js";
import { MODELS } from "./fake-client.js";

const text = (markdown: string, columns = 60) => renderMarkdown(markdown, columns).map(plain);

afterEach(() => setColor(false));

describe("markdown", () => {
  it("renders a fenced code block with its language label, a border and highlighting", () => {
    const source = "Before\n\n```typescript\nconst answer: number = 42; // why\n```\n\nAfter";
    const lines = text(source, 40);
    expect(lines[0]).toBe("Before");
    expect(lines[2]).toMatch(/^╭─ typescript ─+$/);
    expect(width(lines[2]!)).toBe(40);
    expect(lines[3]).toBe("│ const answer: number = 42; // why");
    expect(lines[4]).toMatch(/^╰─+$/);
    expect(lines[6]).toBe("After");
    setColor(true);
    const painted = renderMarkdown(source, 40).map(paint)[3]!;
    expect(painted).toContain("\u001b[35mconst\u001b[0m"); // keyword
    expect(painted).toContain("\u001b[34m42\u001b[0m"); // number
    expect(painted).toMatch(/\u001b\[3;90m\/\/ why/); // comment
  });

  it("wraps long code lines inside the border instead of overflowing", () => {
    const lines = text(`\`\`\`\n${"x".repeat(50)}\n\`\`\``, 30);
    for (const line of lines) expect(width(line)).toBeLessThanOrEqual(30);
    expect(lines.filter((line) => line.startsWith("│ x"))).toHaveLength(2);
  });

  it("pads table columns and fits the table to the width", () => {
    const source = "| Tool | Default |\n|:--|--:|\n| read_file | auto |\n| run_command | deny |";
    const lines = text(source, 60);
    expect(lines).toEqual([
      "┌─────────────┬─────────┐",
      "│ Tool        │ Default │",
      "├─────────────┼─────────┤",
      "│ read_file   │    auto │",
      "│ run_command │    deny │",
      "└─────────────┴─────────┘",
    ]);
    const wide = `| a | b |\n|--|--|\n| ${"word ".repeat(20)} | short |`;
    const narrow = text(wide, 40);
    for (const line of narrow) expect(width(line)).toBeLessThanOrEqual(40);
    const widths = new Set(narrow.map(width));
    expect(widths.size).toBe(1); // every row padded to the same width
    expect(narrow.length).toBeGreaterThan(5); // the long cell wrapped onto several lines
  });

  it("draws blockquotes with a left border, wrapping inside it", () => {
    const lines = text(`> ${"quoted words ".repeat(8)}\n>\n> second paragraph`, 30);
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(line.startsWith("│ ")).toBe(true);
    expect(lines).toContain("│ second paragraph");
  });

  it("renders headers, emphasis, inline code, links and nested lists", () => {
    const lines = text(
      "## Title\n\nSome **bold**, *italic* and `code` with [a link](https://x.dev).\n\n1. one\n2. two\n   - nested\n   - [x] done",
    );
    expect(lines).toEqual([
      "Title",
      "",
      "Some bold, italic and code with a link (https://x.dev).",
      "",
      "1. one",
      "2. two",
      "   ◦ nested",
      "   ◦ ☑ done",
    ]);
  });

  it("re-uses the lines of finished blocks while a text streams", () => {
    const renderer = new IncrementalMarkdown();
    const first = renderer.render("# Head\n\nparagraph one\n\npar", 40);
    const second = renderer.render("# Head\n\nparagraph one\n\nparagraph two grows", 40);
    // The heading's and the first paragraph's line objects are the very same (not laid out again).
    expect(second[0]).toBe(first[0]);
    expect(second[3]).toBe(first[3]);
    expect(second.map(plain).at(-1)).toBe("paragraph two grows");
    // An unclosed fence renders as code while it streams.
    const code = renderer.render("```js\nlet a = 1", 40).map(plain);
    expect(code[0]).toMatch(/^╭─ js/);
    expect(code[1]).toBe("│ let a = 1");
  });
});

describe("pieces", () => {
  it("formats tool calls as one short line", () => {
    expect(formatToolCall("read_file", { path: "src/auth.ts" })).toBe('read_file("src/auth.ts")');
    expect(formatToolCall("edit_file", { path: "a.ts", old: "x", new: "y" })).toBe('edit_file("a.ts", …)');
    expect(formatToolCall("run_command", { command: "npm test" })).toBe('run_command("npm test")');
    expect(formatToolCall("list_dir", {})).toBe("list_dir()");
    expect(formatToolCall("mcp_tool", { a: 1, b: true })).toBe("mcp_tool(a: 1, b: true)");
  });

  it("fuzzy-filters, best first, keeping the given order among equals", () => {
    const items = ["qwen2.5-coder-7b", "llama-3.1-8b", "gpt-4o", "coder-large"];
    expect(fuzzyFilter(items, "coder", (x) => x)).toEqual(["coder-large", "qwen2.5-coder-7b"]);
    expect(fuzzyFilter(items, "q7b", (x) => x)).toEqual(["qwen2.5-coder-7b"]);
    expect(fuzzyFilter(items, "", (x) => x)).toEqual(items);
    expect(fuzzyFilter(items, "zzz", (x) => x)).toEqual([]);
  });

  it("orders models: recent, then LMX when healthy, then the others; LMX last when it is down", () => {
    expect(orderModels(MODELS, []).map((m) => m.id)).toEqual([
      "qwen2.5-coder-7b",
      "llama-3.1-8b",
      "gpt-4o",
      "claude-sonnet",
    ]);
    expect(orderModels(MODELS, ["anthropic/claude-sonnet"]).map((m) => m.id)[0]).toBe("claude-sonnet");
    const down = {
      ...MODELS,
      providers: MODELS.providers.map((p) => (p.name === "lmx" ? { ...p, healthy: false } : p)),
    };
    expect(orderModels(down, []).map((m) => m.id)).toEqual([
      "gpt-4o",
      "claude-sonnet",
      "qwen2.5-coder-7b",
      "llama-3.1-8b",
    ]);
  });

  it("lays the composer out with the cursor, wrapping long lines", () => {
    let buffer = composer.insert(composer.EMPTY, "hello\nworld");
    expect(composer.layout(buffer, 20)).toEqual([{ text: "hello" }, { text: "world", cursorColumn: 5 }]);
    buffer = composer.lineEdge(buffer, "start");
    buffer = composer.backspace(buffer);
    expect(buffer).toEqual({ text: "helloworld", cursor: 5 });
    expect(composer.layout(composer.insert(composer.EMPTY, "abcdefgh"), 5).map((row) => row.text)).toEqual([
      "abcd",
      "efgh",
    ]);
    expect(composer.deleteWord({ text: "one two", cursor: 7 })).toEqual({ text: "one ", cursor: 4 });
  });

  it("parses slash commands and expands custom ones", () => {
    expect(parseSlash("/mode do")).toEqual({ name: "mode", args: "do" });
    expect(parseSlash("/export  out.md ")).toEqual({ name: "export", args: "out.md" });
    expect(parseSlash("not a command")).toBeUndefined();
    expect(expandCustomCommand("Review $ARGUMENTS now", "a.ts")).toBe("Review a.ts now");
    expect(expandCustomCommand("Summarise the diff", "")).toBe("Summarise the diff");
  });

  it("loads custom commands from $OPTA_HOME/commands/*.md", async () => {
    const home = await mkdtemp(join(tmpdir(), "opta-tui-commands-"));
    try {
      expect(await loadCustomCommands(home)).toEqual([]);
      await mkdir(join(home, "commands"));
      await writeFile(join(home, "commands", "review.md"), "---\ndescription: Review a file\n---\nReview $ARGUMENTS\n");
      await writeFile(join(home, "commands", "tests.md"), "# Write tests\nWrite tests for the last change.\n");
      await writeFile(join(home, "commands", "help.md"), "shadowing a built-in is ignored");
      await writeFile(join(home, "commands", "notes.txt"), "not a command");
      const commands = await loadCustomCommands(home);
      expect(commands.map((c) => [c.name, c.description])).toEqual([
        ["review", "Review a file"],
        ["tests", "Write tests"],
      ]);
      expect(commands[0]).toMatchObject({ kind: "custom", body: "Review $ARGUMENTS", takesArguments: true });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe("long sessions", () => {
  it("lays out a finished turn once, and only the running turn on each frame", () => {
    const timeline = new Timeline();
    let seq = 0;
    const base = { ts: "2026-03-06T14:23:14.556Z", sessionId: "s-1" };
    const apply = (event: Record<string, unknown>) =>
      timeline.apply({ ...base, seq: ++seq, ...event } as Parameters<Timeline["apply"]>[0]);
    for (let turn = 0; turn < 500; turn++) {
      const turnId = `t-${turn}`;
      apply({
        event: "turn.start",
        turnId,
        role: "user",
        text: `question ${turn}`,
        mode: "chat",
        model: "m",
        permission: "safe",
      });
      apply({
        event: "turn.token",
        turnId,
        delta: `## Answer ${turn}\n\n| a | b |\n|--|--|\n| 1 | 2 |\n\n\`\`\`ts\nconst x = ${turn};\n\`\`\``,
        model: "m",
      });
      apply({
        event: "turn.done",
        turnId,
        tokens: 10,
        thinkingTokens: 0,
        elapsed: 1,
        tokensPerSec: 10,
        toolCalls: 0,
        steps: 1,
        stopReason: "stop",
      });
    }
    apply({
      event: "turn.start",
      turnId: "t-live",
      role: "user",
      text: "live",
      mode: "chat",
      model: "m",
      permission: "safe",
    });
    const layout = new EntryLayout();
    const options = { thinkingExpanded: true, toolsExpanded: false };
    const first = timeline.entries.map((entry) => layout.lines(entry, 100, options));
    // What keeps a frame of a 500-turn session cheap is that finished entries are not laid out
    // again: the same cached array comes back. Asserted by identity, not by a per-frame time.
    for (let frame = 0; frame < 100; frame++) {
      apply({ event: "turn.token", turnId: "t-live", delta: `token ${frame} `, model: "m" });
      const lines = timeline.entries.map((entry) => layout.lines(entry, 100, options));
      expect(lines[0]).toBe(first[0]); // the same cached array: not laid out again
    }
    expect(layout.lines(timeline.entries.at(-1)!, 100, options).map(plain).join("\n")).toContain("token 99");
  });
});
