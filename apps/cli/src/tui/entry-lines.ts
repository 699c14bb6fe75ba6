/**
 * Timeline entries → styled lines at a width. Finished entries are cached by (entry, revision,
 * width, display options), so scrolling and streaming only lay out what changed.
 *
 * Every string here came from the daemon (the model, tools, other clients): each is sanitized
 * before it becomes a span, so escape sequences and control characters never reach the terminal.
 */
import { IncrementalMarkdown, renderMarkdown } from "./markdown.js";
import {
  type Line,
  prefixLines,
  type Span,
  type Style,
  sanitize,
  sanitizeInline,
  sanitizeValue,
  truncateLine,
  withStyle,
  wrap,
  wrapPreformatted,
} from "./text.js";
import type { Entry, FallbackPart, HookPart, NoticeEntry, ThinkingPart, ToolPart, TurnEntry } from "./timeline.js";

/** What the user toggled: thinking and tool details shown or collapsed. */
export interface DisplayOptions {
  thinkingExpanded: boolean;
  toolsExpanded: boolean;
}

const ACCENT: Style = { color: "magenta" };
const MUTED: Style = { dim: true };
const INDENT: Span[] = [{ text: "  " }];
/** Lines of a tool's output shown when tool details are expanded. */
const TOOL_OUTPUT_LINES = 20;

/** "83ms", "1.2s", "2m 5s". */
export function formatElapsed(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
}

const PRIMARY_ARGS = ["command", "cmd", "pattern", "query", "url", "path", "file", "dir", "directory"];

function shortValue(value: unknown, max: number): string {
  const text = JSON.stringify(value) ?? String(value);
  const flat = text.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** `read_file("src/auth.ts")`, `edit_file("a.ts", …)`, `grep(pattern: "x", path: "src")`. */
export function formatToolCall(rawName: string, rawArgs: Record<string, unknown>): string {
  // Sanitized before JSON.stringify, which would show an escape sequence as "\u001b]0;…".
  const name = sanitizeInline(rawName);
  const args = sanitizeValue(rawArgs) as Record<string, unknown>;
  const keys = Object.keys(args).filter((key) => args[key] !== undefined);
  if (keys.length === 0) return `${name}()`;
  const primary = PRIMARY_ARGS.find((key) => typeof args[key] === "string");
  if (primary) return `${name}(${shortValue(args[primary], 60)}${keys.length > 1 ? ", …" : ""})`;
  if (keys.length === 1) return `${name}(${shortValue(args[keys[0]!], 60)})`;
  return `${name}(${keys
    .slice(0, 3)
    .map((key) => `${sanitizeInline(key)}: ${shortValue(args[key], 24)}`)
    .join(", ")}${keys.length > 3 ? ", …" : ""})`;
}

/** The outcome part of a tool line: `✓ 142 lines 83ms`, `✗ denied`, `⚠ waiting for approval`. */
export function toolStatus(tool: ToolPart, turnRunning: boolean): Span[] {
  const result = tool.result;
  if (result) {
    if (result.ok) {
      const summary = result.summary ? `${sanitizeInline(result.summary)} ` : "";
      return [
        { text: "✓ ", style: { color: "green" } },
        { text: `${summary}${formatElapsed(result.elapsedMs)}`, style: MUTED },
      ];
    }
    const denied = tool.permission?.decision === "deny";
    const message = denied
      ? `denied${tool.permission?.by && tool.permission.by !== "user" ? ` by ${tool.permission.by}` : ""}`
      : (result.error ?? "failed");
    return [{ text: `✗ ${sanitize(message).split("\n")[0]}`, style: { color: "red" } }];
  }
  if (tool.permission && !tool.permission.decision) {
    return [{ text: "⚠ waiting for approval", style: { color: "yellow" } }];
  }
  if (tool.permission?.decision === "deny") return [{ text: "✗ denied", style: { color: "red" } }];
  if (!turnRunning) return [{ text: "· not run", style: MUTED }];
  return [{ text: "… running", style: { color: "yellow" } }];
}

function toolLines(tool: ToolPart, width: number, running: boolean, expanded: boolean): Line[] {
  const head: Line = [
    { text: "▸ ", style: { color: "cyan" } },
    { text: formatToolCall(tool.name, tool.args), style: { bold: true } },
    { text: " " },
    ...toolStatus(tool, running),
  ];
  const lines: Line[] = [truncateLine(head, width)];
  if (!expanded) return lines;
  const detail: Line[] = [];
  const argsText = JSON.stringify(sanitizeValue(tool.args), null, 2) ?? "{}";
  detail.push(...wrapPreformatted([{ text: `args ${argsText}`, style: MUTED }], width - 4));
  if (tool.result) {
    const body = tool.result.ok
      ? resultText(sanitizeValue(tool.result.value))
      : sanitize(tool.result.error ?? "failed");
    const all = body.split("\n");
    const shown = all.slice(0, TOOL_OUTPUT_LINES).join("\n");
    detail.push(
      ...wrapPreformatted([{ text: shown, style: tool.result.ok ? {} : { color: "red" } }], width - 4).slice(
        0,
        TOOL_OUTPUT_LINES * 2,
      ),
    );
    if (all.length > TOOL_OUTPUT_LINES) {
      detail.push([{ text: `… ${all.length - TOOL_OUTPUT_LINES} more lines`, style: MUTED }]);
    }
  }
  lines.push(...prefixLines(detail, [{ text: "  │ ", style: { color: "cyan", dim: true } }]));
  return lines;
}

function resultText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") {
    const record = value as Record<string, unknown>;
    // Common shapes: { content }, { output }, { stdout, stderr }.
    for (const key of ["content", "output", "text"]) if (typeof record[key] === "string") return record[key] as string;
    if (typeof record.stdout === "string" || typeof record.stderr === "string") {
      return [record.stdout, record.stderr].filter((part) => typeof part === "string" && part).join("\n");
    }
  }
  return JSON.stringify(value, null, 2) ?? String(value);
}

function thinkingLines(part: ThinkingPart, width: number, expanded: boolean, live: boolean): Line[] {
  const header: Line = [
    { text: "◈ thinking", style: { color: "magenta", dim: true } },
    { text: ` · ${part.tokens} tokens`, style: MUTED },
    ...(expanded ? [] : [{ text: "  (Ctrl+T to expand)", style: MUTED }]),
  ];
  const body = wrap([{ text: sanitize(part.text).trim(), style: { dim: true, italic: true } }], width - 4);
  if (expanded) return [header, ...prefixLines(body, [{ text: "  ┊ ", style: { color: "magenta", dim: true } }])];
  // Collapsed: while it streams, the last line shows that something is happening.
  if (live && body.length > 0) {
    return [header, ...prefixLines(body.slice(-1), [{ text: "  ┊ ", style: { color: "magenta", dim: true } }])];
  }
  return [header];
}

/** `↪ lmx/qwen2.5 failed (connection refused) · continuing with openai/gpt-4o`, muted. */
function fallbackLines(part: FallbackPart, width: number): Line[] {
  const reason = sanitizeInline(part.reason).trim();
  const text = `${sanitizeInline(part.from)} failed${reason ? ` (${reason})` : ""} · continuing with ${sanitizeInline(part.to)}`;
  return prefixLines(
    wrap([{ text, style: MUTED }], width - 2),
    [{ text: "  " }],
    [{ text: "↪ ", style: { color: "yellow", dim: true } }],
  );
}

function hookLines(part: HookPart, width: number): Line[] {
  const color = part.tone === "error" ? "red" : part.tone === "warn" ? "yellow" : undefined;
  return prefixLines(
    wrap([{ text: sanitizeInline(part.text), style: color ? { color } : MUTED }], width - 2),
    [{ text: "  " }],
    [{ text: "⚓ ", style: MUTED }],
  );
}

/** Stats line of a finished turn: `428 tok · 134.0 tok/s · 3.2s · 2 tools · thinking 312`. */
export function turnStats(turn: TurnEntry): string {
  const done = turn.done;
  if (!done) return "";
  const parts = [`${done.tokens} tok`, `${done.tokensPerSec.toFixed(1)} tok/s`, `${done.elapsed.toFixed(1)}s`];
  if (done.toolCalls > 0) parts.push(`${done.toolCalls} tool${done.toolCalls === 1 ? "" : "s"}`);
  if (done.steps > 1) parts.push(`${done.steps} steps`);
  if (done.thinkingTokens > 0) parts.push(`thinking ${done.thinkingTokens}`);
  if (done.stopReason !== "stop" && done.stopReason !== "tool_calls") parts.push(`stop: ${done.stopReason}`);
  return parts.join(" · ");
}

/**
 * Lays out one turn. `markdown` holds the incremental renderers of a running turn's text parts
 * (one per part index); a finished turn is rendered without them.
 */
export function turnLines(
  turn: TurnEntry,
  width: number,
  options: DisplayOptions,
  markdown?: Map<number, IncrementalMarkdown>,
): Line[] {
  const w = Math.max(20, width);
  const running = turn.status === "running";
  const lines: Line[] = [];
  const modeTag: Span[] = turn.mode === "do" ? [{ text: " [Do]", style: { color: "yellow" } }] : [];
  const userLines = wrap([{ text: sanitize(turn.text) }], w - 2);
  lines.push(
    ...prefixLines(userLines, [{ text: "  " }], [{ text: "› ", style: { color: "cyan", bold: true } }]).map(
      (line, index) => (index === 0 && modeTag.length > 0 ? [...line, ...modeTag] : line),
    ),
  );
  lines.push([]);
  const label = ` ${sanitizeInline(turn.model) || "assistant"} `;
  lines.push([
    { text: "◈ ", style: ACCENT },
    { text: "Assistant", style: { ...ACCENT, bold: true } },
    { text: label, style: MUTED },
    { text: "─".repeat(Math.max(0, w - 12 - label.length)), style: { ...ACCENT, dim: true } },
  ]);
  const inner = w - 2;
  turn.parts.forEach((part, index) => {
    const last = index === turn.parts.length - 1;
    if (part.kind === "text") {
      if (!part.text.trim()) return;
      let body: Line[];
      if (running && markdown) {
        let renderer = markdown.get(index);
        if (!renderer) {
          renderer = new IncrementalMarkdown();
          markdown.set(index, renderer);
        }
        body = renderer.render(part.text, inner);
      } else body = renderMarkdown(part.text, inner);
      lines.push(...prefixLines(body, INDENT));
    } else if (part.kind === "thinking") {
      lines.push(...prefixLines(thinkingLines(part, inner, options.thinkingExpanded, running && last), INDENT));
    } else if (part.kind === "fallback") {
      lines.push(...prefixLines(fallbackLines(part, inner), INDENT));
    } else if (part.kind === "hook") {
      lines.push(...prefixLines(hookLines(part, inner), INDENT));
    } else {
      lines.push(...prefixLines(toolLines(part, inner, running, options.toolsExpanded), INDENT));
    }
  });
  if (running && turn.parts.length === 0) lines.push([...INDENT, { text: "…", style: MUTED }]);
  if (turn.status === "done") lines.push([...INDENT, { text: turnStats(turn), style: MUTED }]);
  if (turn.status === "error" && turn.error) {
    lines.push(
      ...prefixLines(
        wrap(
          [{ text: `✗ ${sanitize(turn.error.message)} (${sanitizeInline(turn.error.code)})`, style: { color: "red" } }],
          inner,
        ),
        INDENT,
      ),
    );
  }
  if (turn.status === "cancelled") lines.push([...INDENT, { text: "⊘ cancelled", style: { color: "yellow" } }]);
  if (turn.status === "paused" && turn.paused) {
    const { steps, remainingSteps } = turn.paused;
    lines.push([
      ...INDENT,
      {
        text: `⏸ Paused after ${steps} step${steps === 1 ? "" : "s"} (${remainingSteps} left) · Enter resumes · Ctrl+C cancels`,
        style: { color: "yellow" },
      },
    ]);
  }
  lines.push([]);
  return lines;
}

const NOTICE_STYLES: Record<NoticeEntry["tone"], Style> = {
  info: { color: "cyan" },
  error: { color: "red" },
  muted: { dim: true },
  success: { color: "green" },
};

function noticeLines(entry: NoticeEntry, width: number): Line[] {
  return [...wrap(withStyle([{ text: sanitize(entry.text) }], NOTICE_STYLES[entry.tone]), Math.max(10, width)), []];
}

interface Cached {
  revision: number;
  width: number;
  key: string;
  lines: Line[];
}

/** Lays out entries, caching finished ones. One per timeline view. */
export class EntryLayout {
  #cache = new WeakMap<Entry, Cached>();
  #live = new WeakMap<Entry, Map<number, IncrementalMarkdown>>();

  lines(entry: Entry, width: number, options: DisplayOptions): Line[] {
    const key = `${options.thinkingExpanded ? 1 : 0}${options.toolsExpanded ? 1 : 0}`;
    const cached = this.#cache.get(entry);
    if (cached && cached.revision === entry.revision && cached.width === width && cached.key === key) {
      return cached.lines;
    }
    let lines: Line[];
    if (entry.kind === "notice") lines = noticeLines(entry, width);
    else if (entry.status === "running") {
      let markdown = this.#live.get(entry);
      if (!markdown) {
        markdown = new Map();
        this.#live.set(entry, markdown);
      }
      lines = turnLines(entry, width, options, markdown);
    } else {
      this.#live.delete(entry);
      lines = turnLines(entry, width, options);
    }
    this.#cache.set(entry, { revision: entry.revision, width, key, lines });
    return lines;
  }
}
