/**
 * Markdown for the terminal: marked's lexer (GFM) parses, this module lays the tokens out as styled
 * lines at a given width. Headers, emphasis, inline code, fenced code with a language label and
 * highlighting, tables fitted to the width, blockquotes with a left border, lists, rules.
 *
 * Rendering is incremental: a streaming answer is re-lexed on each frame, but every block except
 * the last (the one still growing) is looked up by its source text in a cache, so only the tail is
 * laid out again.
 */
import { Lexer, type Token, type Tokens } from "marked";
import { highlight } from "./highlight.js";
import {
  type Line,
  lineWidth,
  padLine,
  prefixLines,
  type Span,
  type Style,
  sanitize,
  width as textWidth,
  withStyle,
  wrap,
  wrapPreformatted,
} from "./text.js";

const HEADING: Style = { color: "magenta", bold: true };
const CODE: Style = { color: "cyan" };
const BORDER: Style = { color: "cyan", dim: true };
const QUOTE_BORDER: Style = { color: "magenta" };
const MUTED: Style = { dim: true };

/** Lexes markdown into top-level blocks (blank-line tokens dropped). */
export function lexBlocks(text: string): Token[] {
  const tokens = new Lexer({ gfm: true }).lex(text);
  return tokens.filter((token) => token.type !== "space" && token.type !== "def");
}

/**
 * Renders markdown to lines at `width` columns. The text is the model's: escape sequences and
 * control characters in it are removed first (see `sanitize`), so none reaches the terminal.
 */
export function renderMarkdown(text: string, width: number): Line[] {
  return joinBlocks(lexBlocks(sanitize(text)).map((token) => renderBlock(token, width)));
}

/**
 * Renders a growing markdown text, re-using the lines of blocks it has rendered before (looked up
 * by their source). Use one per streaming text; `reset` when the width changes.
 */
export class IncrementalMarkdown {
  #width = 0;
  #cache = new Map<string, Line[]>();

  render(text: string, width: number): Line[] {
    if (width !== this.#width) {
      this.#cache.clear();
      this.#width = width;
    }
    // The whole text, not each delta: a sequence split across tokens is removed whole.
    const blocks = lexBlocks(sanitize(text));
    const rendered: Line[][] = [];
    const next = new Map<string, Line[]>();
    blocks.forEach((block, index) => {
      const last = index === blocks.length - 1;
      const cached = last ? undefined : this.#cache.get(block.raw);
      const lines = cached ?? renderBlock(block, width);
      if (!last) next.set(block.raw, lines);
      rendered.push(lines);
    });
    this.#cache = next;
    return joinBlocks(rendered);
  }
}

function joinBlocks(blocks: Line[][]): Line[] {
  const out: Line[] = [];
  blocks.forEach((lines, index) => {
    if (index > 0) out.push([]);
    out.push(...lines);
  });
  return out;
}

/** Inline tokens → spans. */
export function inlineSpans(tokens: Token[] | undefined, base: Style = {}): Span[] {
  const spans: Span[] = [];
  for (const token of tokens ?? []) {
    switch (token.type) {
      case "text": {
        const text = token as Tokens.Text;
        if (text.tokens && text.tokens.length > 0) spans.push(...inlineSpans(text.tokens, base));
        else spans.push({ text: text.text, style: base });
        break;
      }
      case "escape":
        spans.push({ text: (token as Tokens.Escape).text, style: base });
        break;
      case "strong":
        spans.push(...inlineSpans((token as Tokens.Strong).tokens, { ...base, bold: true }));
        break;
      case "em":
        spans.push(...inlineSpans((token as Tokens.Em).tokens, { ...base, italic: true }));
        break;
      case "del":
        spans.push(...inlineSpans((token as Tokens.Del).tokens, { ...base, strike: true }));
        break;
      case "codespan":
        spans.push({ text: (token as Tokens.Codespan).text, style: { ...base, ...CODE } });
        break;
      case "br":
        spans.push({ text: "\n" });
        break;
      case "link": {
        const link = token as Tokens.Link;
        const label = inlineSpans(link.tokens, { ...base, color: "blue", underline: true });
        spans.push(...label);
        if (!link.autolink && link.href && link.href !== link.text) {
          spans.push({ text: ` (${link.href})`, style: { ...base, dim: true } });
        }
        break;
      }
      case "image": {
        const image = token as Tokens.Image;
        spans.push({ text: `[image: ${image.text || image.href}]`, style: { ...base, dim: true } });
        break;
      }
      case "checkbox":
        spans.push({ text: (token as Tokens.Checkbox).checked ? "☑ " : "☐ ", style: base });
        break;
      case "html":
        spans.push({ text: (token as Tokens.HTML).text, style: base });
        break;
      default: {
        const generic = token as Tokens.Generic;
        if (Array.isArray(generic.tokens)) spans.push(...inlineSpans(generic.tokens, base));
        else if (typeof generic.text === "string") spans.push({ text: generic.text, style: base });
        else spans.push({ text: generic.raw, style: base });
      }
    }
  }
  return spans;
}

/** One block token → lines at `width`. */
export function renderBlock(token: Token, width: number): Line[] {
  const w = Math.max(8, width);
  switch (token.type) {
    case "heading": {
      const heading = token as Tokens.Heading;
      const style: Style = heading.depth <= 2 ? HEADING : { bold: true };
      const lines = wrap(withStyle(inlineSpans(heading.tokens), style), w);
      if (heading.depth === 1)
        lines.push([{ text: "━".repeat(Math.min(w, lineWidth(lines[0] ?? []))), style: HEADING }]);
      return lines;
    }
    case "paragraph":
      return wrap(inlineSpans((token as Tokens.Paragraph).tokens), w);
    case "text": {
      const text = token as Tokens.Text;
      return wrap(text.tokens ? inlineSpans(text.tokens) : [{ text: text.text }], w);
    }
    case "code":
      return renderCode(token as Tokens.Code, w);
    case "blockquote": {
      const quote = token as Tokens.Blockquote;
      const inner = joinBlocks(quote.tokens.filter((t) => t.type !== "space").map((t) => renderBlock(t, w - 2))).map(
        (line) => withStyle(line, { italic: true }),
      );
      return prefixLines(inner, [{ text: "│ ", style: QUOTE_BORDER }]);
    }
    case "list":
      return renderList(token as Tokens.List, w, 0);
    case "table":
      return renderTable(token as Tokens.Table, w);
    case "hr":
      return [[{ text: "─".repeat(w), style: MUTED }]];
    case "html":
      return wrapPreformatted([{ text: (token as Tokens.HTML).text.replace(/\n$/, ""), style: MUTED }], w);
    default: {
      const generic = token as Tokens.Generic;
      if (Array.isArray(generic.tokens)) return wrap(inlineSpans(generic.tokens), w);
      return wrap([{ text: String(generic.text ?? generic.raw ?? "") }], w);
    }
  }
}

/** A fenced code block: a border with the language label, highlighted lines, a closing border. */
function renderCode(code: Tokens.Code, width: number): Line[] {
  const label = code.lang?.trim().split(/\s/)[0] ?? "";
  const top: Line = label
    ? [
        { text: "╭─ ", style: BORDER },
        { text: label, style: { color: "cyan", bold: true } },
        { text: ` ${"─".repeat(Math.max(0, width - textWidth(label) - 4))}`, style: BORDER },
      ]
    : [{ text: `╭${"─".repeat(width - 1)}`, style: BORDER }];
  const body = wrapPreformatted(highlight(code.text.replace(/\n$/, ""), label), width - 2);
  const bottom: Line = [{ text: `╰${"─".repeat(width - 1)}`, style: BORDER }];
  return [top, ...prefixLines(body, [{ text: "│ ", style: BORDER }]), bottom];
}

function renderList(list: Tokens.List, width: number, depth: number): Line[] {
  const out: Line[] = [];
  const start = typeof list.start === "number" ? list.start : 1;
  const bullets = ["•", "◦", "▪"];
  const markers = list.items.map((_, index) =>
    list.ordered ? `${start + index}.` : (bullets[depth % bullets.length] ?? "•"),
  );
  const markerWidth = Math.max(...markers.map((marker) => textWidth(marker))) + 1;
  list.items.forEach((item, index) => {
    if (index > 0 && list.loose) out.push([]);
    const inner: Line[] = [];
    let pendingInline: Span[] = [];
    const flush = () => {
      if (pendingInline.length > 0) inner.push(...wrap(pendingInline, width - markerWidth));
      pendingInline = [];
    };
    for (const child of item.tokens) {
      if (child.type === "checkbox") {
        pendingInline.push({ text: (child as Tokens.Checkbox).checked ? "☑ " : "☐ " });
      } else if (child.type === "text") {
        const text = child as Tokens.Text;
        pendingInline.push(...(text.tokens ? inlineSpans(text.tokens) : [{ text: text.text }]));
      } else if (child.type === "list") {
        flush();
        inner.push(...renderList(child as Tokens.List, width - markerWidth, depth + 1));
      } else if (child.type === "space") {
        flush();
      } else {
        flush();
        if (inner.length > 0 && item.loose) inner.push([]);
        inner.push(...renderBlock(child, width - markerWidth));
      }
    }
    flush();
    if (inner.length === 0) inner.push([]);
    const marker = markers[index]!;
    const markerStyle: Style = list.ordered ? { color: "magenta" } : { color: "magenta" };
    out.push(
      ...prefixLines(
        inner,
        [{ text: " ".repeat(markerWidth) }],
        [{ text: marker, style: markerStyle }, { text: " ".repeat(markerWidth - textWidth(marker)) }],
      ),
    );
  });
  return out;
}

/**
 * A table with box borders. Columns take their natural width when the table fits; otherwise the
 * widest columns shrink until it does and their cells wrap onto more lines.
 */
function renderTable(table: Tokens.Table, width: number): Line[] {
  const columns = table.header.length;
  if (columns === 0) return [];
  const cellSpans = (cell: Tokens.TableCell, header: boolean) =>
    withStyle(inlineSpans(cell.tokens), header ? { bold: true } : {});
  const header = table.header.map((cell) => cellSpans(cell, true));
  const rows = table.rows.map((row) => row.map((cell) => cellSpans(cell, false)));
  const natural = Array.from({ length: columns }, (_, column) =>
    Math.max(1, ...[header, ...rows].map((row) => lineWidth(row[column] ?? []))),
  );
  // Borders and padding: "│ " + cells joined by " │ " + " │".
  const chrome = 3 * columns + 1;
  const widths = [...natural];
  const available = Math.max(columns, width - chrome);
  while (widths.reduce((a, b) => a + b, 0) > available) {
    const widest = widths.indexOf(Math.max(...widths));
    if (widths[widest]! <= 1) break;
    widths[widest]! -= 1;
  }
  const align = table.align;
  const border = (left: string, middle: string, right: string): Line => [
    { text: left + widths.map((w) => "─".repeat(w + 2)).join(middle) + right, style: MUTED },
  ];
  const renderRow = (row: Span[][]): Line[] => {
    const cells = widths.map((w, column) => wrap(row[column] ?? [], w));
    const height = Math.max(...cells.map((cell) => cell.length));
    const lines: Line[] = [];
    for (let index = 0; index < height; index++) {
      const line: Line = [{ text: "│ ", style: MUTED }];
      widths.forEach((w, column) => {
        if (column > 0) line.push({ text: " │ ", style: MUTED });
        line.push(...padLine(cells[column]![index] ?? [], w, align[column] ?? "left"));
      });
      line.push({ text: " │", style: MUTED });
      lines.push(line);
    }
    return lines;
  };
  return [
    border("┌", "┬", "┐"),
    ...renderRow(header),
    border("├", "┼", "┤"),
    ...rows.flatMap((row) => renderRow(row)),
    border("└", "┴", "┘"),
  ];
}
