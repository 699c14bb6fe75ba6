import { type DiffLine, diffLines, parseUnifiedDiff } from "@opta/protocol";
import { memo, type ReactNode, useMemo } from "react";
import { bytes, payload } from "../format.js";
import { type HighlightToken, highlight } from "../markdown/highlight.js";
import type { ToolView } from "../state/session-view.js";

/** Lines a card renders at most; the rest is counted, not drawn (a 10 MB read must not freeze the window). */
const MAX_LINES = 2_000;

type Record_ = Record<string, unknown>;

function isRecord(value: unknown): value is Record_ {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** The highlighter's language for a file name, from its extension. */
export function languageOf(path: string | undefined): string | undefined {
  const match = /\.([A-Za-z0-9]+)$/.exec(path ?? "");
  return match?.[1]?.toLowerCase();
}

/**
 * read_file numbers its lines for the model (`     12\tcode`, as `cat -n` does): take the numbers
 * off so the code highlights as code, and start the gutter at the first one.
 */
export function unnumber(content: string, startLine: number): { code: string; firstLine: number } {
  const lines = content.split("\n");
  const parsed = lines.map((line) => /^ *(\d+)\t(.*)$/s.exec(line));
  if (lines.length === 0 || parsed.some((match) => match === null)) return { code: content, firstLine: startLine };
  return { code: parsed.map((match) => match![2]).join("\n"), firstLine: Number(parsed[0]![1]) };
}

/** Splits highlight tokens at newlines: one token list per line. */
function tokensByLine(tokens: HighlightToken[]): HighlightToken[][] {
  const lines: HighlightToken[][] = [[]];
  for (const token of tokens) {
    const parts = token.text.split("\n");
    parts.forEach((part, index) => {
      if (index > 0) lines.push([]);
      if (part) lines.at(-1)!.push({ kind: token.kind, text: part });
    });
  }
  return lines;
}

function Tokens({ tokens }: { tokens: HighlightToken[] }) {
  return (
    <>
      {tokens.map((token, index) =>
        token.kind === "plain" ? (
          token.text
        ) : (
          // biome-ignore lint/suspicious/noArrayIndexKey: tokens of one immutable line
          <span key={index} className={`tok-${token.kind}`}>
            {token.text}
          </span>
        ),
      )}
    </>
  );
}

function More({ hidden, what }: { hidden: number; what: string }) {
  return hidden > 0 ? (
    <div className="tool-more muted">
      … {hidden} more {what}
      {hidden === 1 ? "" : "s"} not shown
    </div>
  ) : null;
}

/** File content with line numbers and the markdown renderer's highlighting. */
export function NumberedCode({
  code,
  language,
  firstLine = 1,
}: {
  code: string;
  language?: string;
  firstLine?: number;
}) {
  const lines = useMemo(() => tokensByLine(highlight(code, language)), [code, language]);
  const shown = lines.slice(0, MAX_LINES);
  return (
    <>
      <pre className="code-lines" data-testid="numbered-code">
        {shown.map((tokens, index) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: lines of one immutable text
          <div key={index} className="code-line">
            <span className="line-number" aria-hidden="true">
              {firstLine + index}
            </span>
            <code>
              <Tokens tokens={tokens} />
            </code>
          </div>
        ))}
      </pre>
      <More hidden={lines.length - shown.length} what="line" />
    </>
  );
}

/** A unified diff view: old and new line numbers, removed and added lines marked (as opencode's web UI shows edits). */
export function DiffView({ lines, language }: { lines: Array<DiffLine | null>; language?: string }) {
  const shown = lines.slice(0, MAX_LINES);
  return (
    <>
      <div className="diff" data-testid="diff">
        {shown.map((line, index) =>
          line === null ? (
            // biome-ignore lint/suspicious/noArrayIndexKey: rows of one immutable diff
            <div key={index} className="diff-gap">
              <span>⋯</span>
            </div>
          ) : (
            // biome-ignore lint/suspicious/noArrayIndexKey: rows of one immutable diff
            <div key={index} className={`diff-line diff-${line.kind}`} data-kind={line.kind}>
              <span className="line-number">{line.oldLine ?? ""}</span>
              <span className="line-number">{line.newLine ?? ""}</span>
              <span className="diff-sign">
                <span aria-hidden="true">{line.kind === "add" ? "+" : line.kind === "remove" ? "−" : " "}</span>
                <span className="visually-hidden">{SIGN_LABEL[line.kind]}</span>
              </span>
              <code>
                <Tokens tokens={highlight(line.text, language)} />
              </code>
            </div>
          ),
        )}
      </div>
      <More hidden={lines.length - shown.length} what="diff line" />
    </>
  );
}

const SIGN_LABEL: Record<DiffLine["kind"], string> = { add: "added", remove: "removed", context: "unchanged" };

function DiffStats({ lines }: { lines: Array<DiffLine | null> }) {
  let added = 0;
  let removed = 0;
  for (const line of lines) {
    if (line?.kind === "add") added++;
    else if (line?.kind === "remove") removed++;
  }
  return (
    <div className="diff-stats">
      <span className="diff-added">+{added}</span> <span className="diff-removed">−{removed}</span>
    </div>
  );
}

/** The lines an edit_file call changed, numbered from where the daemon says the match was. */
export function editDiff(args: Record_, result: unknown): DiffLine[] {
  const before = text(args.old_string) ?? "";
  const after = text(args.new_string) ?? "";
  const at = (isRecord(result) ? num(result.line) : undefined) ?? 1;
  return diffLines(before, after).map((line) => ({
    ...line,
    ...(line.oldLine !== undefined ? { oldLine: line.oldLine + at - 1 } : {}),
    ...(line.newLine !== undefined ? { newLine: line.newLine + at - 1 } : {}),
  }));
}

/** What a write_file call changed: the daemon's diff of an overwrite, else the new content as added lines. */
export function writeDiff(args: Record_, result: unknown): { lines: Array<DiffLine | null>; note?: string } {
  const diff = isRecord(result) ? text(result.diff) : undefined;
  if (diff !== undefined && isRecord(result) && result.created === false) {
    return {
      lines: parseUnifiedDiff(diff),
      ...(result.diffTruncated ? { note: "The diff was cut to its first 16,000 characters." } : {}),
    };
  }
  const lines = diffLines("", text(args.content) ?? "");
  const created = isRecord(result) ? result.created : undefined;
  return {
    lines,
    ...(created === false
      ? { note: "The previous content is not known (a large or binary file): new content shown." }
      : {}),
  };
}

function Section({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <div className="tool-section-label">{label}</div>
      {children}
    </>
  );
}

function Terminal({ tool, result }: { tool: ToolView; result: Record_ }) {
  const command = text(result.command) ?? text(tool.args.command) ?? "";
  const stdout = text(result.stdout) ?? "";
  const stderr = text(result.stderr) ?? "";
  const exitCode = num(result.exitCode);
  const signal = text(result.signal);
  const sandbox = text(result.sandbox);
  return (
    <div className="terminal" data-testid="terminal">
      <div className="terminal-command">
        <span className="terminal-prompt" aria-hidden="true">
          $
        </span>{" "}
        {command}
      </div>
      {stdout ? <pre className="terminal-out">{stdout}</pre> : null}
      {stderr ? <pre className="terminal-err">{stderr}</pre> : null}
      {!stdout && !stderr ? <div className="terminal-out muted">(no output)</div> : null}
      <div className="terminal-status">
        <span className={`exit-code ${exitCode === 0 ? "exit-ok" : "exit-fail"}`} data-testid="exit-code">
          {signal ? `killed by ${signal}` : `exit ${exitCode ?? "?"}`}
        </span>
        {sandbox ? <span className="pill">sandbox: {sandbox}</span> : null}
        {text(result.cwd) ? <span className="muted">in {text(result.cwd)}</span> : null}
        {isRecord(result.truncated) ? <span className="muted">output truncated</span> : null}
      </div>
    </div>
  );
}

function Listing({ result }: { result: Record_ }) {
  const entries = Array.isArray(result.entries) ? result.entries.filter(isRecord) : [];
  const shown = entries.slice(0, MAX_LINES);
  return (
    <>
      <ul className="listing" data-testid="listing">
        {shown.map((entry) => {
          const type = text(entry.type) ?? "file";
          const name = text(entry.name) ?? "";
          const size = num(entry.size);
          return (
            <li key={name} className={`listing-${type}`}>
              <span className="listing-icon" aria-hidden="true">
                {type === "dir" ? "▸" : type === "symlink" ? "↪" : "·"}
              </span>
              <span className="listing-name">
                {name}
                {type === "dir" ? "/" : ""}
              </span>
              {size !== undefined ? <span className="muted listing-size">{bytes(size)}</span> : null}
            </li>
          );
        })}
      </ul>
      <More hidden={(num(result.totalEntries) ?? entries.length) - shown.length} what="entry" />
    </>
  );
}

function GrepMatches({ result }: { result: Record_ }) {
  const matches = Array.isArray(result.matches) ? result.matches.filter(isRecord) : [];
  const shown = matches.slice(0, MAX_LINES);
  if (matches.length === 0) return <p className="muted">No matches.</p>;
  return (
    <>
      <pre className="matches" data-testid="matches">
        {shown.map((match, index) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: rows of one immutable result
          <div key={index} className="match">
            <span className="match-file">{text(match.file)}</span>
            <span className="match-line">:{num(match.line)}:</span> <span>{text(match.text)}</span>
          </div>
        ))}
      </pre>
      <More hidden={matches.length - shown.length} what="match" />
    </>
  );
}

function FileList({ result }: { result: Record_ }) {
  const files = Array.isArray(result.files) ? result.files.filter((file) => typeof file === "string") : [];
  if (files.length === 0) return <p className="muted">No files match.</p>;
  return (
    <ul className="listing" data-testid="listing">
      {files.slice(0, MAX_LINES).map((file) => (
        <li key={file}>
          <span className="listing-icon" aria-hidden="true">
            ·
          </span>
          <span className="listing-name">{file}</span>
        </li>
      ))}
    </ul>
  );
}

/** The header's argument: the pattern for searches, else the path or command. */
export function headerArgument(tool: ToolView): string | undefined {
  const args = tool.args;
  const path = text(args.path);
  if (tool.name === "grep" || tool.name === "search_files") {
    const pattern = text(args.pattern);
    if (pattern)
      return `${tool.name === "grep" ? `/${pattern}/` : pattern}${path && path !== "." ? ` in ${path}` : ""}`;
  }
  for (const key of ["path", "command", "pattern", "query", "url", "file", "dir", "glob"]) {
    const value = args[key];
    if (typeof value === "string" && value) return value;
  }
  const first = Object.values(args).find((value) => typeof value === "string");
  return typeof first === "string" ? first : undefined;
}

/** The rendered result of one tool, by tool; an unknown tool (MCP and the like) gets its JSON. */
export const ToolBody = memo(function ToolBody({ tool }: { tool: ToolView }) {
  const result = tool.result;
  const record = isRecord(result) ? result : undefined;
  const path = text(tool.args.path) ?? (record ? text(record.path) : undefined);
  let rendered: ReactNode = null;
  switch (tool.name) {
    case "read_file":
      if (record && typeof record.content === "string") {
        const { code, firstLine } = unnumber(record.content, num(record.startLine) || 1);
        rendered = <NumberedCode code={code} language={languageOf(path)} firstLine={firstLine} />;
      }
      break;
    case "write_file":
    case "edit_file":
      // A diff even before the result: the arguments say what the call will change (what approval shows).
      if (tool.status !== "denied") {
        const diff = tool.name === "edit_file" ? { lines: editDiff(tool.args, result) } : writeDiff(tool.args, result);
        rendered = (
          <>
            <DiffStats lines={diff.lines} />
            <DiffView lines={diff.lines} language={languageOf(path)} />
            {"note" in diff && diff.note ? <p className="muted">{diff.note}</p> : null}
          </>
        );
      }
      break;
    case "list_dir":
      if (record) rendered = <Listing result={record} />;
      break;
    case "grep":
      if (record) rendered = <GrepMatches result={record} />;
      break;
    case "search_files":
      if (record) rendered = <FileList result={record} />;
      break;
    case "run_command":
      if (record) rendered = <Terminal tool={tool} result={record} />;
      break;
  }
  const known = rendered !== null;
  return (
    <div className="tool-body-content" data-renderer={known ? tool.name : "json"}>
      {known ? rendered : null}
      {!known ? (
        <>
          <Section label="Arguments">
            <pre>{payload(tool.args)}</pre>
          </Section>
          {result !== undefined ? (
            <Section label="Result">
              <pre>{payload(result)}</pre>
            </Section>
          ) : null}
        </>
      ) : null}
      {tool.error ? (
        <Section label="Error">
          <pre className="tool-error">{tool.error}</pre>
        </Section>
      ) : null}
      {result === undefined && !tool.error && !known ? <p className="muted">No result yet.</p> : null}
      {known ? (
        <details className="tool-raw">
          <summary>Raw arguments and result</summary>
          <pre>{payload({ args: tool.args, ...(result !== undefined ? { result } : {}) })}</pre>
        </details>
      ) : null}
    </div>
  );
});
