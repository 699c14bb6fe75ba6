import { afterEach, describe, expect, it } from "vitest";
import { EntryLayout } from "../../src/tui/entry-lines.js";
import { IncrementalMarkdown, renderMarkdown } from "../../src/tui/markdown.js";
import { type Line, paint, plain, sanitize, sanitizeInline, setColor } from "../../src/tui/text.js";
import { Timeline } from "../../src/tui/timeline.js";

/**
 * Text from the model, tools and other clients must never drive the terminal: escape sequences
 * (OSC titles and clipboard writes, CSI cursor moves and clears, DCS, C1 forms) and control
 * characters are removed before anything is drawn.
 */

/** Any control character but \n (tabs are laid out as spaces; ESC, BEL, C1 must never appear). */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
/** A painted line may hold SGR styling (ours) and nothing else. */
const ONLY_SGR = /^(?:[^\u0000-\u001f\u007f-\u009f]|\u001b\[[0-9;]*m)*$/;

const ATTACKS: Record<string, string> = {
  "OSC 0 title, BEL": "\u001b]0;PWNED\u0007",
  "OSC 52 clipboard, BEL": "\u001b]52;c;cm0gLXJmIH4=\u0007",
  "OSC 8 hyperlink, ST": "\u001b]8;;https://evil.example\u001b\\",
  "8-bit OSC, 8-bit ST": "\u009d0;PWNED\u009c",
  "CSI clear screen": "\u001b[2J\u001b[H",
  "CSI cursor up": "\u001b[10A",
  "8-bit CSI": "\u009b2J",
  DCS: "\u001bPq#0;2;0;0;0\u001b\\",
  APC: "\u001b_Gf=100;AAAA\u001b\\",
  "RIS full reset": "\u001bc",
  "charset switch": "\u001b(0",
  "bare controls": "\u0007\u0008\u007f\u0085\u0000",
};

function expectClean(lines: Line[]): void {
  for (const line of lines) {
    for (const span of line) expect(span.text).not.toMatch(CONTROL);
  }
  setColor(true);
  try {
    for (const line of lines) expect(paint(line)).toMatch(ONLY_SGR);
  } finally {
    setColor(false);
  }
}

afterEach(() => setColor(false));

describe("sanitize", () => {
  it.each(Object.entries(ATTACKS))("removes %s whole", (_name, attack) => {
    const out = sanitize(`before ${attack} after`);
    expect(out).not.toMatch(CONTROL);
    expect(out).not.toContain("PWNED");
    expect(out).not.toContain("evil.example");
    expect(out.startsWith("before ")).toBe(true);
    expect(out.endsWith(" after")).toBe(true);
  });

  it("keeps text, \\n and \\t; turns \\r\\n and a lone \\r into \\n", () => {
    expect(sanitize("plain — ünïcode 漢字 🙂")).toBe("plain — ünïcode 漢字 🙂");
    expect(sanitize("a\tb\nc")).toBe("a\tb\nc");
    expect(sanitize("a\r\nb\rc")).toBe("a\nb\nc");
    expect(sanitizeInline("a\tb\nc\u001b[31m")).toBe("a  b c");
  });

  it("removes an unterminated string command up to the end of its line only", () => {
    expect(sanitize("x\u001b]0;never ends\nnext line")).toBe("x\nnext line");
    expect(sanitize("tail \u001b[")).toBe("tail ");
  });

  it("paints only the SGR codes it adds, whatever a span holds", () => {
    setColor(true);
    const painted = paint([{ text: `hi ${ATTACKS["OSC 52 clipboard, BEL"]}\u009b2J`, style: { bold: true } }]);
    expect(painted).toBe("\u001b[1mhi \u001b[0m");
    setColor(false);
    expect(paint([{ text: "a\u001b]0;t\u0007b" }])).toBe("ab");
  });
});

describe("sanitized layout", () => {
  it("renderMarkdown drops OSC, CSI and C1 sequences in paragraphs, code, tables and quotes", () => {
    const attacks = Object.values(ATTACKS).join("");
    const source = [
      `hello ${ATTACKS["OSC 52 clipboard, BEL"]} world`,
      `\`\`\`sh\necho ${attacks}\n\`\`\``,
      `| a | b |\n|---|---|\n| ${ATTACKS["8-bit CSI"]}x | \`${ATTACKS["OSC 0 title, BEL"]}\` |`,
      `> quoted ${ATTACKS["CSI clear screen"]}`,
      `- item ${ATTACKS["8-bit OSC, 8-bit ST"]}`,
    ].join("\n\n");
    const lines = renderMarkdown(source, 60);
    expectClean(lines);
    const text = lines.map(plain).join("\n");
    expect(text).toContain("hello  world");
    expect(text).not.toContain("PWNED");
    expect(text).not.toContain("cm0gLXJmIH4=");
  });

  it("a sequence split across streamed tokens is removed whole", () => {
    const renderer = new IncrementalMarkdown();
    let text = "";
    for (const delta of ["Hi \u001b]0;PW", "NED\u0007 the", "re \u001b[2", "J done"]) {
      text += delta;
      expectClean(renderer.render(text, 40));
    }
    expect(renderer.render(text, 40).map(plain)).toEqual(["Hi  there  done"]);
  });

  it("entry lines sanitize thinking, tool calls and results, errors, model names and notices", () => {
    const evil = ATTACKS["OSC 0 title, BEL"]!;
    const c1 = ATTACKS["8-bit OSC, 8-bit ST"]!;
    const timeline = new Timeline();
    const base = { sessionId: "s", ts: "2026-01-01T00:00:00.000Z" };
    let seq = 0;
    const apply = (event: Record<string, unknown>) =>
      timeline.apply({ ...base, seq: ++seq, ...event } as Parameters<Timeline["apply"]>[0]);
    apply({
      event: "turn.start",
      turnId: "t",
      role: "user",
      text: `q${evil}`,
      mode: "do",
      model: `m${c1}`,
      permission: "safe",
    });
    apply({
      event: "provider.fallback",
      turnId: "t",
      from: `lmx/a${evil}`,
      to: `openai/b${c1}`,
      reason: `down${evil}`,
    });
    apply({ event: "turn.thinking", turnId: "t", delta: `think ${evil}` });
    apply({
      event: "tool.call",
      turnId: "t",
      callId: "c1",
      name: `read_file${c1}`,
      args: { path: `a${c1}.ts`, [`k${c1}`]: 1 },
    });
    apply({
      event: "tool.result",
      turnId: "t",
      callId: "c1",
      name: "read_file",
      ok: true,
      result: { content: `line ${evil}\nline ${c1}` },
      summary: `2 lines${evil}`,
      elapsedMs: 5,
    });
    apply({ event: "tool.call", turnId: "t", callId: "c2", name: "grep", args: { pattern: "x" } });
    apply({
      event: "tool.result",
      turnId: "t",
      callId: "c2",
      name: "grep",
      ok: false,
      error: `bad${evil}`,
      elapsedMs: 1,
    });
    apply({ event: "turn.error", turnId: "t", message: `boom${evil}`, code: `E${c1}` });
    apply({ event: "session.compacted", summary: `sum${evil}` });
    timeline.notice(`✗ error from the daemon${c1}`, "error");
    const layout = new EntryLayout();
    for (const options of [
      { thinkingExpanded: true, toolsExpanded: true },
      { thinkingExpanded: false, toolsExpanded: false },
    ]) {
      const lines = timeline.entries.flatMap((entry) => layout.lines(entry, 80, options));
      expectClean(lines);
      expect(lines.map(plain).join("\n")).not.toContain("PWNED");
    }
    const text = timeline.entries
      .flatMap((entry) => layout.lines(entry, 80, { thinkingExpanded: true, toolsExpanded: true }))
      .map(plain)
      .join("\n");
    expect(text).toContain("↪ lmx/a failed (down) · continuing with openai/b");
    expect(text).toContain("✗ boom (E)");
    expect(text).toContain("│ line");
  });
});
