/**
 * Styled text for the TUI: a line is a list of spans, each with a style. Everything the timeline
 * shows is laid out as lines at the terminal's width here (wrapping, padding), then painted to ANSI
 * once; Ink only places finished lines, so a long session never re-lays-out old turns.
 */
import stringWidth from "string-width";

/** Colours the TUI uses (the 16 ANSI colours, so every terminal theme maps them). */
export type Color = "red" | "green" | "yellow" | "blue" | "magenta" | "cyan" | "white" | "gray";

/** How a span looks. */
export interface Style {
  color?: Color;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  strike?: boolean;
  inverse?: boolean;
}

/** A run of text in one style. */
export interface Span {
  text: string;
  style?: Style;
}

/** One terminal row. */
export type Line = Span[];

const COLOR_CODES: Record<Color, number> = {
  red: 31,
  green: 32,
  yellow: 33,
  blue: 34,
  magenta: 35,
  cyan: 36,
  white: 37,
  gray: 90,
};

let colorEnabled = !process.env.NO_COLOR;

/** Turns ANSI styling on or off for everything painted afterwards (NO_COLOR turns it off). */
export function setColor(enabled: boolean): void {
  colorEnabled = enabled;
}

/** Whether spans are painted with ANSI codes. */
export function colorIsEnabled(): boolean {
  return colorEnabled;
}

/** Any C0 control but \n and \t, DEL, or any C1 control: text that needs `sanitize`. */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/**
 * Escape sequences, 7-bit (ESC …) and 8-bit (C1): CSI (cursor moves, screen clears, SGR, mode
 * switches); the string commands OSC, DCS, SOS, PM and APC (window titles, OSC 52 clipboard
 * writes, hyperlinks) up to their terminator — BEL or ST — or, unterminated, up to the end of the
 * line; and the short ESC sequences (charset switches, RIS full reset, keypad modes…).
 */
const ESCAPE_SEQUENCE =
  /(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]?|(?:\u001b[\]PX^_]|[\u0090\u0098\u009d\u009e\u009f])[^\u0007\u001b\u009c\n]*(?:\u0007|\u001b\\|\u009c)?|\u001b[ -/]*[0-~]?/g;
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
/** Anything `sanitizeInline` changes. */
const INLINE_UNSAFE = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Makes text from the daemon (model output, tool arguments and results, errors, titles, model
 * names) safe to put on the terminal: every escape sequence is removed whole, line breaks become
 * \n (a lone \r too: progress output keeps its steps), and every other C0/C1 control is dropped.
 * \n and \t stay (layout handles them). Text without controls is returned as it is.
 */
export function sanitize(text: string): string {
  if (!UNSAFE.test(text)) return text;
  return text.replace(ESCAPE_SEQUENCE, "").replace(/\r\n?/g, "\n").replace(CONTROL, "");
}

/** What `terminalSafe` keeps: SGR styling and the "\r ESC[K" that rewrites a running tool's line. */
const KEPT = /^(?:\u001b\[[0-9;]*m|\r\u001b\[K)$/;
const TERMINAL_UNSAFE = new RegExp(
  `${ESCAPE_SEQUENCE.source}|\\r\\u001b\\[K|[\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]`,
  "g",
);

/**
 * For text already styled (the line views of `opta do` and `opta chat`): removes every escape
 * sequence and control character but SGR styles and the line rewrite, so what the model or a tool
 * printed can neither move the cursor, set the title nor write the clipboard (OSC 52). Safe on
 * streamed pieces: a sequence split across two writes loses its ESC and prints as plain text.
 */
export function terminalSafe(text: string): string {
  if (!UNSAFE.test(text)) return text;
  return text.replace(TERMINAL_UNSAFE, (match) => (KEPT.test(match) ? match : ""));
}

/** A JSON-like value with every string in it (keys too) sanitized, for display. */
export function sanitizeValue(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return sanitize(value);
  if (value === null || typeof value !== "object" || depth > 64) return value;
  if (Array.isArray(value)) return value.map((item) => sanitizeValue(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[sanitize(key)] = sanitizeValue(item, depth + 1);
  return out;
}

/** `sanitize` for one terminal row: line breaks and tabs become spaces as well. */
export function sanitizeInline(text: string): string {
  return sanitize(text).replace(/\t/g, "  ").replace(/\n/g, " ");
}

/**
 * One span as ANSI text. The span's text is sanitized here too, whatever laid it out: this is the
 * last step before the terminal, so no control character gets past it; the only escape sequences
 * painted are the SGR styles this function adds.
 */
export function paintSpan(span: Span): string {
  const style = span.style;
  const text = INLINE_UNSAFE.test(span.text) ? sanitizeInline(span.text) : span.text;
  if (!colorEnabled || !style || text === "") return text;
  const codes: number[] = [];
  if (style.bold) codes.push(1);
  if (style.dim) codes.push(2);
  if (style.italic) codes.push(3);
  if (style.underline) codes.push(4);
  if (style.inverse) codes.push(7);
  if (style.strike) codes.push(9);
  if (style.color) codes.push(COLOR_CODES[style.color]);
  if (codes.length === 0) return text;
  return `\u001b[${codes.join(";")}m${text}\u001b[0m`;
}

/** A line as ANSI text. */
export function paint(line: Line): string {
  let out = "";
  for (const span of line) out += paintSpan(span);
  return out;
}

/** The text of a line without styling. */
export function plain(line: Line): string {
  let out = "";
  for (const span of line) out += span.text;
  return out;
}

/** Display width of text (wide characters count 2, ANSI codes 0). */
export function width(text: string): number {
  return stringWidth(text);
}

/** Display width of a line. */
export function lineWidth(line: Line): number {
  let total = 0;
  for (const span of line) total += stringWidth(span.text);
  return total;
}

/** Merges a base style under each span's own style. */
export function withStyle(spans: Span[], base: Style): Span[] {
  return spans.map((span) => ({ text: span.text, style: { ...base, ...span.style } }));
}

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** Splits text into graphemes (so an emoji or a combined character is never cut in half). */
function graphemes(text: string): string[] {
  return Array.from(segmenter.segment(text), (segment) => segment.segment);
}

/** Cuts a line to at most `max` columns, ending with "…" when something was cut. */
export function truncateLine(line: Line, max: number): Line {
  if (lineWidth(line) <= max) return line;
  const out: Line = [];
  let used = 0;
  const budget = Math.max(0, max - 1);
  for (const span of line) {
    let text = "";
    for (const grapheme of graphemes(span.text)) {
      const w = stringWidth(grapheme);
      if (used + w > budget) break;
      text += grapheme;
      used += w;
    }
    if (text) out.push({ text, style: span.style });
    if (used >= budget || text.length < span.text.length) break;
  }
  if (max > 0) out.push({ text: "…", style: { dim: true } });
  return out;
}

/** Pads a line with spaces to `target` columns. */
export function padLine(line: Line, target: number, align: "left" | "right" | "center" = "left"): Line {
  const missing = target - lineWidth(line);
  if (missing <= 0) return line;
  if (align === "right") return [{ text: " ".repeat(missing) }, ...line];
  if (align === "center") {
    const left = Math.floor(missing / 2);
    return [{ text: " ".repeat(left) }, ...line, { text: " ".repeat(missing - left) }];
  }
  return [...line, { text: " ".repeat(missing) }];
}

interface Piece {
  text: string;
  style?: Style;
  space: boolean;
}

/**
 * Word-wraps styled text to `max` columns. Newlines in the text start new lines; words longer
 * than a line are broken by grapheme. Spaces at a wrap point are dropped.
 */
export function wrap(spans: Span[], max: number): Line[] {
  const limit = Math.max(1, max);
  const lines: Line[] = [];
  let current: Line = [];
  let used = 0;
  let soft = false;
  const pushLine = (wrapped = true) => {
    soft = wrapped;
    // Trailing spaces at a soft wrap are invisible noise.
    while (current.length > 0 && current.at(-1)!.text.trim() === "") {
      used -= stringWidth(current.pop()!.text);
    }
    lines.push(current);
    current = [];
    used = 0;
  };
  const add = (piece: Piece) => {
    const w = stringWidth(piece.text);
    if (piece.space) {
      if (used === 0 && soft) return; // no leading space after a soft wrap
      if (used + w > limit) {
        pushLine();
        return;
      }
      current.push({ text: piece.text, style: piece.style });
      used += w;
      return;
    }
    if (used + w <= limit) {
      current.push({ text: piece.text, style: piece.style });
      used += w;
      return;
    }
    if (w <= limit && used > 0) {
      pushLine();
      current.push({ text: piece.text, style: piece.style });
      used = w;
      return;
    }
    // Longer than a whole line: break it by grapheme.
    let chunk = "";
    for (const grapheme of graphemes(piece.text)) {
      const gw = stringWidth(grapheme);
      if (used + stringWidth(chunk) + gw > limit) {
        if (chunk) current.push({ text: chunk, style: piece.style });
        pushLine();
        chunk = "";
      }
      chunk += grapheme;
    }
    if (chunk) {
      current.push({ text: chunk, style: piece.style });
      used += stringWidth(chunk);
    }
  };

  let started = false;
  for (const span of spans) {
    const parts = span.text.split("\n");
    parts.forEach((part, index) => {
      if (index > 0) pushLine(false);
      started = true;
      for (const match of part.matchAll(/(\s+)|(\S+)/g)) {
        const text = match[0];
        add({ text: text.replace(/\t/g, "  "), style: span.style, space: match[1] !== undefined });
      }
    });
  }
  if (current.length > 0 || !started || lines.length === 0) pushLine();
  return lines.map(mergeSpans);
}

/** Breaks preformatted text (code, tool output) at `max` columns, keeping every space. */
export function wrapPreformatted(spans: Span[], max: number): Line[] {
  const limit = Math.max(1, max);
  const lines: Line[] = [];
  let current: Line = [];
  let used = 0;
  const pushLine = () => {
    lines.push(mergeSpans(current));
    current = [];
    used = 0;
  };
  for (const span of spans) {
    span.text.split("\n").forEach((part, index) => {
      if (index > 0) pushLine();
      let chunk = "";
      for (const grapheme of graphemes(part.replace(/\t/g, "  "))) {
        const w = stringWidth(grapheme);
        if (used + w > limit) {
          if (chunk) current.push({ text: chunk, style: span.style });
          chunk = "";
          pushLine();
        }
        chunk += grapheme;
        used += w;
      }
      if (chunk) current.push({ text: chunk, style: span.style });
    });
  }
  pushLine();
  return lines;
}

/** Joins neighbouring spans of the same style (fewer ANSI codes per line). */
function mergeSpans(line: Line): Line {
  const out: Line = [];
  for (const span of line) {
    const last = out.at(-1);
    if (last && sameStyle(last.style, span.style)) last.text += span.text;
    else out.push({ text: span.text, style: span.style });
  }
  return out;
}

function sameStyle(a: Style | undefined, b: Style | undefined): boolean {
  if (a === b) return true;
  const keys = new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})]) as Set<keyof Style>;
  for (const key of keys) if (a?.[key] !== b?.[key]) return false;
  return true;
}

/** Prefixes every line (a border, an indent); the first line may get a different prefix. */
export function prefixLines(lines: Line[], prefix: Span[], firstPrefix: Span[] = prefix): Line[] {
  return lines.map((line, index) => [...(index === 0 ? firstPrefix : prefix), ...line]);
}
