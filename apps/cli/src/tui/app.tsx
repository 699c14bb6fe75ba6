/**
 * The Ink views of `opta tui`: header, timeline (with the streaming turn at its end), approvals,
 * composer with its hint line, status bar, and the overlays (model picker, menu, help, settings)
 * that take the timeline's place. All state lives in the TuiController; these only draw it.
 */
import { Box, Text, useInput, useStdout } from "ink";
import { useEffect, useRef, useState, useSyncExternalStore } from "react";
import { BUILTIN_COMMANDS } from "./commands.js";
import { layout as layoutComposer } from "./composer.js";
import {
  type ConnectionStatus,
  DECISIONS,
  type ModelChoice,
  type Overlay,
  paletteQuery,
  SETTINGS,
  type TuiController,
} from "./controller.js";
import { EntryLayout } from "./entry-lines.js";
import {
  type Line,
  lineWidth,
  padLine,
  paint,
  type Span,
  type Style,
  sanitize,
  sanitizeInline,
  sanitizeValue,
  width as textWidth,
  truncateLine,
  wrap,
  wrapPreformatted,
} from "./text.js";

const ACCENT: Style = { color: "magenta" };
const MUTED: Style = { dim: true };
/** Most rows the composer grows to before it scrolls. */
const COMPOSER_MAX_ROWS = 6;

/**
 * Size to draw at, following resizes (fixed when the caller passes one). One row short of the
 * terminal: Ink clears the whole screen before every frame that fills it, which would flicker.
 */
export function useTerminalSize(fixed?: { columns: number; rows: number }): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || 100, rows: (stdout.rows || 31) - 1 });
  const [size, setSize] = useState(read);
  const isFixed = fixed !== undefined;
  // biome-ignore lint/correctness/useExhaustiveDependencies: read() only uses stdout
  useEffect(() => {
    if (isFixed) return;
    const onResize = () => setSize(read());
    stdout.on("resize", onResize);
    return () => {
      stdout.off("resize", onResize);
    };
  }, [isFixed, stdout]);
  return fixed ?? size;
}

function Row({ line, width }: { line: Line; width: number }) {
  return <Text wrap="truncate-end">{paint(truncateLine(line, width))}</Text>;
}

/** Left and right parts on one row, the right one aligned to the edge. */
function split(left: Line, right: Line, width: number): Line {
  const room = width - lineWidth(right) - 1;
  if (room < 10) return truncateLine(left, width);
  const fitted = truncateLine(left, room);
  return [...padLine(fitted, width - lineWidth(right)), ...right];
}

const CONNECTION: Record<ConnectionStatus, Span> = {
  connecting: { text: "◌ connecting", style: { color: "yellow" } },
  connected: { text: "● connected", style: { color: "green" } },
  reconnecting: { text: "◌ reconnecting", style: { color: "yellow" } },
  disconnected: { text: "✗ disconnected", style: { color: "red" } },
  closed: { text: "✗ closed", style: { color: "red" } },
};

function modeLabel(mode: string): string {
  return mode === "do" ? "[Do]" : "[Chat]";
}

function Header({ controller, width }: { controller: TuiController; width: number }) {
  const session = controller.session;
  return (
    <Row
      line={headerLine(
        {
          id: sanitizeInline(session.id),
          title: session.title && session.title !== session.id ? sanitizeInline(session.title) : "",
          model: sanitizeInline(controller.currentModel),
          mode: controller.mode,
          connection: controller.connection,
          paused: controller.paused,
        },
        width,
      )}
      width={width}
    />
  );
}

/** Longest model name the header keeps once it runs short of room. */
const HEADER_MODEL_MAX = 18;

/**
 * The header row. The title is what tells sessions apart, so when the row is short everything else
 * gives way first: the "session" label, the connection's words (its dot stays), a long model name,
 * the session id, then the long badge; only then is the title itself cut, keeping what fits.
 */
export function headerLine(
  parts: { id: string; title: string; model: string; mode: string; connection: ConnectionStatus; paused?: boolean },
  width: number,
): Line {
  const connection = CONNECTION[parts.connection];
  const modeSpan: Span = { text: modeLabel(parts.mode), style: { color: parts.mode === "do" ? "yellow" : "green" } };
  const shortModel =
    textWidth(parts.model) > HEADER_MODEL_MAX ? `${parts.model.slice(0, HEADER_MODEL_MAX - 1)}…` : parts.model;
  const title: Span[] = parts.title
    ? [
        { text: " · ", style: MUTED },
        { text: parts.title, style: MUTED },
      ]
    : [];
  // A paused turn is the state that needs the user: it stays in every variant.
  const paused: Span[] = parts.paused
    ? [
        { text: "⏸ Paused", style: { color: "yellow", bold: true } },
        { text: " · ", style: MUTED },
      ]
    : [];
  const right = (model: string, words: boolean): Line => [
    ...paused,
    { text: model, style: { color: "cyan" } },
    { text: " · ", style: MUTED },
    modeSpan,
    { text: " · ", style: MUTED },
    words ? connection : { text: connection.text.slice(0, 1), style: connection.style },
    { text: " " },
  ];
  const badge: Span = { text: " opta tui ", style: { ...ACCENT, inverse: true, bold: true } };
  const shortBadge: Span = { text: " opta ", style: { ...ACCENT, inverse: true, bold: true } };
  const id: Span = { text: parts.id, style: { bold: true } };
  const variants: Array<[Line, Line]> = [
    [[badge, { text: " session ", style: MUTED }, id, ...title], right(parts.model, true)],
    [[badge, { text: " " }, id, ...title], right(parts.model, true)],
    [[badge, { text: " " }, id, ...title], right(parts.model, false)],
    [[badge, { text: " " }, id, ...title], right(shortModel, false)],
    [[badge, ...(parts.title ? [{ text: " " }, title[1]!] : [{ text: " " }, id])], right(shortModel, false)],
    [[shortBadge, ...(parts.title ? [{ text: " " }, title[1]!] : [{ text: " " }, id])], right(shortModel, false)],
  ];
  const fits = variants.find(([left, rightPart]) => lineWidth(left) + 1 + lineWidth(rightPart) <= width);
  const [left, rightPart] = fits ?? variants.at(-1)!;
  return split(left, rightPart, width);
}

/** The timeline window: finished entries (cached lines) and the running turn at the end. */
function Timeline({
  controller,
  layout,
  width,
  rows,
}: {
  controller: TuiController;
  layout: EntryLayout;
  width: number;
  rows: number;
}) {
  const blocks = controller.timeline.entries.map((entry) => layout.lines(entry, width - 1, controller.display));
  let total = 0;
  for (const block of blocks) total += block.length;
  // New lines at the end while scrolled up: move with them so the text being read stays put.
  if (controller.scroll > 0 && total > controller.totalLines) controller.scroll += total - controller.totalLines;
  controller.totalLines = total;
  const indicator = controller.scroll > 0 ? 1 : 0;
  const visibleRows = Math.max(1, rows - indicator);
  controller.viewportRows = visibleRows;
  controller.scroll = Math.min(controller.scroll, Math.max(0, total - visibleRows));
  const end = total - controller.scroll;
  const start = Math.max(0, end - visibleRows);
  const visible: Line[] = [];
  let index = 0;
  for (const block of blocks) {
    if (index + block.length > start && index < end) {
      visible.push(...block.slice(Math.max(0, start - index), Math.min(block.length, end - index)));
    }
    index += block.length;
    if (index >= end) break;
  }
  if (!controller.replayed && total === 0) visible.push([{ text: "Loading the session…", style: MUTED }]);
  const lines = visible.map((line) => paint(truncateLine(line, width)));
  while (lines.length < visibleRows) lines.push("");
  if (indicator) {
    const live = controller.running ? " · ● streaming below" : "";
    lines.push(
      paint([{ text: `↓ ${controller.scroll} more lines${live} · Esc jumps to the end`, style: { color: "yellow" } }]),
    );
  }
  return (
    <Box height={rows} flexDirection="column" overflow="hidden">
      <Text>{lines.join("\n")}</Text>
    </Box>
  );
}

/** An approval's arguments as (key, text) rows, sanitized (the model wrote them). */
function approvalArgs(args: Record<string, unknown>): Array<[string, string]> {
  return Object.entries(sanitizeValue(args) as Record<string, unknown>).map(([key, value]) => [
    sanitizeInline(key),
    typeof value === "string" ? value : (JSON.stringify(value) ?? String(value)),
  ]);
}

function ApprovalBox({ controller, width }: { controller: TuiController; width: number }) {
  const approvals = controller.timeline.approvals;
  const approval = approvals[0];
  if (!approval) return null;
  const inner = width - 4;
  const lines: Line[] = [];
  lines.push([
    { text: "⚙ ", style: { color: "yellow" } },
    { text: sanitizeInline(approval.name), style: { bold: true } },
    { text: ` · ${sanitizeInline(approval.risk)}`, style: { color: approval.risk === "read" ? "green" : "yellow" } },
    { text: approvals.length > 1 ? ` · 1 of ${approvals.length}` : "", style: MUTED },
  ]);
  const args = approvalArgs(approval.args);
  for (const [key, text] of args.slice(0, 6)) {
    const wrapped = wrapPreformatted([{ text: `${key}: `, style: MUTED }, { text }], inner);
    lines.push(...wrapped.slice(0, 4));
    if (wrapped.length > 4) lines.push([{ text: `  … ${wrapped.length - 4} more lines`, style: MUTED }]);
  }
  if (args.length > 6) lines.push([{ text: `… ${args.length - 6} more arguments`, style: MUTED }]);
  if (approval.reason) lines.push(...wrap([{ text: sanitize(approval.reason), style: MUTED }], inner));
  const labels = { allow: "Allow", deny: "Deny", always: "Always allow" } as const;
  const buttons: Line = [];
  DECISIONS.forEach((decision, index) => {
    const selected = index === controller.approvalChoice;
    buttons.push({ text: ` ${labels[decision]} `, style: selected ? { inverse: true, bold: true } : {} });
    buttons.push({ text: "  " });
  });
  buttons.push({ text: "y allow · n deny · a always · ←→ Enter", style: MUTED });
  lines.push(buttons);
  return (
    <Box borderStyle="round" borderColor="yellow" flexDirection="column" width={width} paddingX={1}>
      <Text>{lines.map((line) => paint(truncateLine(line, inner))).join("\n")}</Text>
    </Box>
  );
}

function Composer({ controller, width }: { controller: TuiController; width: number }) {
  const inner = width - 2;
  const busy = controller.timeline.approvals.length > 0 || controller.overlay !== undefined;
  const buffer = controller.buffer;
  let rows: Line[];
  if (buffer.text === "") {
    const cursor: Span = { text: " ", style: { inverse: true } };
    const placeholder = controller.running
      ? `A turn is running… (Ctrl+C ${controller.timeline.activeTurn?.mode === "do" ? "pauses" : "cancels"})`
      : controller.paused
        ? "Paused — Enter resumes the turn, Ctrl+C cancels it"
        : "Type a message…";
    rows = [[busy ? { text: " " } : cursor, { text: placeholder, style: MUTED }]];
  } else {
    const laid = layoutComposer(buffer, inner);
    const cursorRow = Math.max(
      0,
      laid.findIndex((row) => row.cursorColumn !== undefined),
    );
    const first = Math.max(0, Math.min(cursorRow - COMPOSER_MAX_ROWS + 1, laid.length - COMPOSER_MAX_ROWS));
    rows = laid.slice(first, first + COMPOSER_MAX_ROWS).map((row) => {
      if (row.cursorColumn === undefined || busy) return [{ text: row.text }];
      let before = "";
      let at: string | undefined;
      let after = "";
      let column = 0;
      for (const { segment } of new Intl.Segmenter().segment(row.text)) {
        if (at === undefined && column >= row.cursorColumn) at = segment;
        else if (at === undefined) before += segment;
        else after += segment;
        column += textWidth(segment);
      }
      return [{ text: before }, { text: at ?? " ", style: { inverse: true } }, { text: after }];
    });
  }
  const prompt: Span = { text: "▌ ", style: ACCENT };
  const lines = rows.map((row, index) => [index === 0 ? prompt : { text: "  " }, ...row]);
  const modeSpan: Span = {
    text: modeLabel(controller.mode),
    style: { color: controller.mode === "do" ? "yellow" : "green", bold: true },
  };
  const hint: Line = [{ text: "  Tab: model · Ctrl+K: menu · ", style: MUTED }, modeSpan];
  const hintRight: Line = [{ text: "Shift+Tab: mode · Enter: send · Ctrl+J: newline ", style: MUTED }];
  const flash = controller.flash;
  const flashStyle: Style =
    flash?.tone === "error" ? { color: "red" } : flash?.tone === "warn" ? { color: "yellow" } : { color: "cyan" };
  return (
    <Box flexDirection="column">
      {flash ? <Row line={[{ text: `  ${sanitizeInline(flash.text)}`, style: flashStyle }]} width={width} /> : null}
      <Row line={[{ text: "─".repeat(width), style: { ...ACCENT, dim: true } }]} width={width} />
      <Text>{lines.map((line) => paint(truncateLine(line, width))).join("\n")}</Text>
      <Row line={lineWidth(hint) + lineWidth(hintRight) < width ? split(hint, hintRight, width) : hint} width={width} />
    </Box>
  );
}

/** Height the composer block takes (flash line, border, rows, hint). */
function composerHeight(controller: TuiController, width: number): number {
  const rows =
    controller.buffer.text === ""
      ? 1
      : Math.min(COMPOSER_MAX_ROWS, layoutComposer(controller.buffer, width - 2).length);
  return (controller.flash ? 1 : 0) + 1 + rows + 1;
}

/** Height of the approval box: border, the lines, border. */
function approvalHeight(controller: TuiController, width: number): number {
  const approval = controller.timeline.approvals[0];
  if (!approval) return 0;
  const inner = width - 4;
  let lines = 2; // title + buttons
  const args = approvalArgs(approval.args);
  for (const [key, text] of args.slice(0, 6)) {
    const wrapped = wrapPreformatted([{ text: `${key}: ${text}` }], inner).length;
    lines += Math.min(4, wrapped) + (wrapped > 4 ? 1 : 0);
  }
  if (args.length > 6) lines += 1;
  if (approval.reason) lines += wrap([{ text: sanitize(approval.reason) }], inner).length;
  return lines + 2;
}

function StatusBar({ controller, width }: { controller: TuiController; width: number }) {
  const done = controller.timeline.lastDone;
  const left: Line = [
    { text: " model ", style: MUTED },
    { text: sanitizeInline(controller.currentModel), style: { color: "cyan" } },
  ];
  if (done) {
    left.push({
      text: ` · ${done.tokens} tok · ${done.tokensPerSec.toFixed(1)} tok/s · ${done.elapsed.toFixed(1)}s`,
      style: MUTED,
    });
    if (done.toolCalls > 0) {
      left.push({ text: ` · ${done.toolCalls} tool${done.toolCalls === 1 ? "" : "s"}`, style: MUTED });
    }
    if (done.thinkingTokens > 0) left.push({ text: ` · thinking ${done.thinkingTokens}`, style: MUTED });
    if (done.promptTokens) left.push({ text: ` · context ${done.promptTokens}`, style: MUTED });
  }
  const right: Line = controller.running
    ? [
        {
          text: `● running · Ctrl+C ${controller.timeline.activeTurn?.mode === "do" ? "pauses" : "cancels"} `,
          style: { color: "yellow" },
        },
      ]
    : controller.paused
      ? [{ text: "⏸ Paused · Enter resumes · Ctrl+C cancels ", style: { color: "yellow" } }]
      : [{ text: `${controller.permission ? `permission ${controller.permission} · ` : ""}/help `, style: MUTED }];
  return <Row line={split(left, right, width)} width={width} />;
}

/** A bordered panel listing items, windowed around the selection. */
function ListPanel({
  title,
  query,
  items,
  selected,
  width,
  rows,
  footer,
  empty,
}: {
  title: string;
  query?: string;
  items: Line[];
  selected: number;
  width: number;
  rows: number;
  footer: string;
  empty: string;
}) {
  const inner = width - 4;
  const header: Line[] = [[{ text: title, style: { ...ACCENT, bold: true } }]];
  if (query !== undefined)
    header.push([{ text: "› ", style: ACCENT }, { text: query }, { text: " ", style: { inverse: true } }]);
  const room = Math.max(1, rows - 2 - header.length - 1);
  const first = Math.max(0, Math.min(selected - Math.floor(room / 2), items.length - room));
  const shown = items.slice(first, first + room).map((line, index) => {
    const isSelected = first + index === selected;
    const marker: Span = isSelected ? { text: "❯ ", style: ACCENT } : { text: "  " };
    const body = truncateLine(line, inner - 2);
    return [marker, ...(isSelected ? body.map((span) => ({ ...span, style: { ...span.style, bold: true } })) : body)];
  });
  if (items.length === 0) shown.push([{ text: empty, style: MUTED }]);
  while (shown.length < room) shown.push([]);
  const lines = [...header, ...shown, [{ text: footer, style: MUTED }]];
  return (
    <Box borderStyle="round" borderColor="magenta" flexDirection="column" width={width} height={rows} paddingX={1}>
      <Text>{lines.map((line) => paint(truncateLine(line, inner))).join("\n")}</Text>
    </Box>
  );
}

function modelLine(model: ModelChoice, current: string | undefined): Line {
  const line: Line = [
    { text: sanitizeInline(model.id), style: model.healthy ? {} : MUTED },
    { text: ` · ${sanitizeInline(model.label)}`, style: MUTED },
  ];
  if (!model.healthy) line.push({ text: " · offline", style: { color: "red" } });
  if (model.recent) line.push({ text: " · recent", style: { color: "cyan", dim: true } });
  if (current && (model.ref === current || model.id === current)) line.push({ text: " ✓", style: { color: "green" } });
  return line;
}

export const HELP_LINES: string[] = [
  "Keys",
  "  Enter            send the message (or run a /command)",
  "  Shift+Enter      new line (also Ctrl+J, Alt+Enter)",
  "  Tab              model picker",
  "  Shift+Tab        switch Chat / Do",
  "  Ctrl+K  or  /    menu (command palette); / only in an empty composer",
  "  ↑ ↓ PgUp PgDn    scroll the timeline (the composer keeps focus); Esc jumps to the end",
  "  Ctrl+T           expand / collapse thinking",
  "  Ctrl+O           expand / collapse tool details",
  "  Ctrl+C           cancel the running turn (a Do turn: pause it, a second press cancels); when idle, twice to exit (also Ctrl+D twice)",
  "  Enter (empty)    resume the paused turn (also /resume)",
  "  ← → Ctrl+A Ctrl+E Ctrl+U Ctrl+W   edit the composer",
  "",
  "Approvals",
  "  y allow · n deny · a always allow (writes a policy) · ←→ and Enter",
  "",
  "Commands",
  ...BUILTIN_COMMANDS.map((command) => `  /${command.name.padEnd(16)} ${command.description}`),
  "  Custom commands: $OPTA_HOME/commands/<name>.md (the body is the prompt; $ARGUMENTS is replaced)",
];

function OverlayView({
  controller,
  overlay,
  width,
  rows,
}: {
  controller: TuiController;
  overlay: Overlay;
  width: number;
  rows: number;
}) {
  switch (overlay.kind) {
    case "picker": {
      const items = controller.pickerItems(overlay);
      const empty = overlay.error
        ? `Could not list models: ${sanitizeInline(overlay.error)}`
        : overlay.models
          ? "No model matches"
          : "Loading models…";
      return (
        <ListPanel
          title="SELECT MODEL · for this session"
          query={overlay.query}
          items={items.map((model) => modelLine(model, controller.model ?? controller.currentModel))}
          selected={Math.min(overlay.selected, Math.max(0, items.length - 1))}
          width={width}
          rows={rows}
          footer="type to filter · ↑↓ choose · Enter use · Esc close"
          empty={empty}
        />
      );
    }
    case "palette": {
      const items = controller.paletteItems(paletteQuery(overlay.query).name);
      const recent = new Set(controller.recent.state.commands);
      return (
        <ListPanel
          title="OPTA MENU"
          query={`/${overlay.query}`}
          items={items.map((command) => [
            {
              text: `/${sanitizeInline(command.name)}`,
              style: { color: command.kind === "custom" ? "yellow" : "cyan" },
            },
            { text: ` · ${sanitizeInline(command.description)}`, style: MUTED },
            ...(recent.has(command.name) ? [{ text: " · recent", style: { color: "cyan", dim: true } as Style }] : []),
          ])}
          selected={Math.min(overlay.selected, Math.max(0, items.length - 1))}
          width={width}
          rows={rows}
          footer="type to filter · ↑↓ choose · Enter run · Esc close"
          empty="No command matches"
        />
      );
    }
    case "help": {
      const room = Math.max(1, rows - 4);
      const first = Math.min(overlay.scroll, Math.max(0, HELP_LINES.length - room));
      overlay.scroll = first;
      const lines = HELP_LINES.slice(first, first + room).map(
        (text): Line => [{ text, style: /^\S/.test(text) ? { ...ACCENT, bold: true } : {} }],
      );
      return (
        <ListPanel
          title="HELP"
          items={lines}
          selected={-1}
          width={width}
          rows={rows}
          footer="↑↓ scroll · Esc close"
          empty=""
        />
      );
    }
    case "settings": {
      const values: Record<(typeof SETTINGS)[number], [string, string]> = {
        mode: ["Mode", controller.mode === "do" ? "Do" : "Chat"],
        model: ["Model (this session)", sanitizeInline(controller.currentModel)],
        permission: ["Permission level for turns", controller.permission ?? "daemon default"],
        thinking: ["Thinking blocks", controller.display.thinkingExpanded ? "expanded" : "collapsed"],
        tools: ["Tool details", controller.display.toolsExpanded ? "expanded" : "collapsed"],
      };
      return (
        <ListPanel
          title="SETTINGS"
          items={SETTINGS.map((key) => [
            { text: values[key][0].padEnd(30) },
            { text: values[key][1], style: { color: "cyan" } },
          ])}
          selected={overlay.selected}
          width={width}
          rows={rows}
          footer="↑↓ choose · Enter change · Esc close · defaults: opta config set …"
          empty=""
        />
      );
    }
  }
}

/** The whole screen. `size` fixes the terminal size (tests); otherwise it follows the terminal. */
export function App({ controller, size }: { controller: TuiController; size?: { columns: number; rows: number } }) {
  useSyncExternalStore(
    (listener) => controller.onChange(listener),
    () => controller.version,
  );
  const { columns, rows } = useTerminalSize(size);
  const layout = useRef(new EntryLayout()).current;
  useInput((input, key) => controller.handleInput(input, key));
  const width = Math.max(20, columns);
  const height = Math.max(8, rows);
  const bottom = approvalHeight(controller, width) + composerHeight(controller, width) + 1;
  const timelineRows = Math.max(1, height - 1 - bottom);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Header controller={controller} width={width} />
      {controller.overlay ? (
        <OverlayView controller={controller} overlay={controller.overlay} width={width} rows={timelineRows} />
      ) : (
        <Timeline controller={controller} layout={layout} width={width} rows={timelineRows} />
      )}
      <ApprovalBox controller={controller} width={width} />
      <Composer controller={controller} width={width} />
      <StatusBar controller={controller} width={width} />
    </Box>
  );
}
