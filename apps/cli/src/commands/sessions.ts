import { writeFile } from "node:fs/promises";
import type { SessionEvent, SessionInfo, SystemPromptSummary } from "@opta/protocol";
import { connect } from "../connection.js";
import { UsageError } from "../output/errors.js";
import { ago, bold, dim, print, red, table, truncate } from "../output/terminal.js";

/** `opta sessions list [--query Q] [--limit N] [--json]`. */
export async function list(options: { query?: string; limit?: string; json?: boolean }): Promise<number> {
  const limit = options.limit === undefined ? undefined : Number(options.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) {
    throw new UsageError(`--limit must be a whole number from 1 to 1000; got '${options.limit}'`);
  }
  const client = await connect();
  const { sessions } = await client.listSessions({ q: options.query, limit });
  if (options.json) {
    print(JSON.stringify(sessions, null, 2));
    return 0;
  }
  if (sessions.length === 0) {
    print(options.query ? `No sessions match '${options.query}'.` : "No sessions yet. Start one with `opta chat`.");
    return 0;
  }
  table(
    ["ID", "STATUS", "TURNS", "UPDATED", "TITLE"],
    sessions.map((session) => [
      session.id,
      session.status,
      String(session.turnCount),
      ago(session.updatedAt),
      `${session.pinned ? "* " : ""}${truncate(session.title || "(untitled)", 60)}`,
    ]),
  );
  return 0;
}

/** `opta sessions rename <id> <title>`: recorded as a `session.renamed` event. */
export async function rename(id: string, title: string, options: { json?: boolean } = {}): Promise<number> {
  if (!title.trim()) throw new UsageError("the new title must not be empty");
  const client = await connect();
  const session = await client.renameSession(id, title.trim());
  if (options.json) print(JSON.stringify(session, null, 2));
  else print(`Renamed ${session.id} to "${session.title}".`);
  return 0;
}

/** `opta sessions delete <id> [--purge]`: archived gzipped (restorable) unless purged. */
export async function remove(id: string, options: { purge?: boolean; json?: boolean }): Promise<number> {
  const client = await connect();
  const result = await client.deleteSession(id, { purge: options.purge === true });
  if (options.json) {
    print(JSON.stringify(result, null, 2));
    return 0;
  }
  const { deleted } = result;
  print(
    deleted.archivedTo
      ? `Deleted ${deleted.id} ("${deleted.title}"); archived to ${deleted.archivedTo} (gunzip it back into the sessions folder to restore).`
      : `Purged ${deleted.id} ("${deleted.title}"); nothing was kept.`,
  );
  return 0;
}

const DURATION_UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** `30d`, `12h`, `90m`, `2w` → milliseconds. */
export function parseAge(value: string): number {
  const match = /^(\d+)([mhdw])$/.exec(value.trim());
  if (!match) throw new UsageError(`--older-than takes a number and a unit (m, h, d or w), e.g. 30d; got '${value}'`);
  return Number(match[1]) * DURATION_UNITS[match[2]!]!;
}

/** `opta sessions prune [--older-than 30d] [--dry-run] [--purge] [--json]`. */
export async function prune(options: {
  olderThan?: string;
  dryRun?: boolean;
  purge?: boolean;
  json?: boolean;
}): Promise<number> {
  const olderThanMs = parseAge(options.olderThan ?? "30d");
  const client = await connect();
  const result = await client.pruneSessions({
    olderThanMs,
    dryRun: options.dryRun === true,
    purge: options.purge === true,
  });
  if (options.json) {
    print(JSON.stringify(result, null, 2));
    return 0;
  }
  const age = options.olderThan ?? "30d";
  if (result.sessions.length === 0) {
    print(`No session is older than ${age}.`);
  } else {
    const verb = result.dryRun ? "Would prune" : result.purged ? "Purged" : "Archived";
    print(
      `${verb} ${result.sessions.length} session${result.sessions.length === 1 ? "" : "s"} not updated for ${age}:`,
    );
    table(
      ["ID", "UPDATED", "TITLE"],
      result.sessions.map((session) => [
        session.id,
        ago(session.updatedAt),
        truncate(session.title || "(untitled)", 60),
      ]),
    );
    if (!result.dryRun && !result.purged) print(dim("Archives are in the sessions folder's archive/ (gzipped JSONL)."));
    if (result.dryRun) print(dim("Nothing was changed (--dry-run)."));
  }
  for (const kept of result.kept) {
    print(dim(`Kept ${kept.id}: ${kept.reason === "running" ? "a turn is running" : "it is pinned"}.`));
  }
  return 0;
}

/** `opta sessions show <id> [--json] [--system]`: metadata and the transcript, or the system prompt. */
export async function show(id: string, options: { json?: boolean; system?: boolean }): Promise<number> {
  const client = await connect();
  if (options.system) {
    const prompt = await client.systemPrompt(id);
    if (options.json) {
      print(JSON.stringify(prompt, null, 2));
      return 0;
    }
    // The text alone on stdout (to diff or pipe); what it is made of on stderr.
    process.stdout.write(prompt.text.endsWith("\n") ? prompt.text : `${prompt.text}\n`);
    for (const line of systemPromptSummary(prompt)) process.stderr.write(`${dim(line)}\n`);
    return 0;
  }
  const session = await client.getSession(id);
  const { events } = await client.events(id);
  if (options.json) {
    print(JSON.stringify({ session, events }, null, 2));
    return 0;
  }
  printHeader(session);
  print();
  for (const line of transcript(events)) print(line);
  return 0;
}

/** `opta sessions export <id> [--format md|json] [--output FILE]`. */
export async function exportSession(id: string, options: { format?: string; output?: string }): Promise<number> {
  const format = options.format ?? "md";
  if (format !== "md" && format !== "json") throw new UsageError(`--format must be md or json; got '${format}'`);
  const client = await connect();
  const text =
    format === "md"
      ? await client.exportSession(id, { format: "md" })
      : `${JSON.stringify(await client.exportSession(id, { format: "json" }), null, 2)}\n`;
  if (options.output) {
    await writeFile(options.output, text);
    process.stderr.write(`Wrote ${options.output}\n`);
  } else process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  return 0;
}

/** What a system prompt is made of: its parts, then each instruction file (cut or left out, and why). */
export function systemPromptSummary(prompt: SystemPromptSummary & { mode?: string }): string[] {
  const parts = prompt.parts.map((part) => `${part.name} ${part.bytes} B`).join(", ");
  const lines = [`system prompt ${prompt.bytes} B, hash ${prompt.hash}: ${parts}`];
  for (const source of prompt.sources) {
    const state = source.skipped
      ? `left out: ${source.skipped}`
      : source.totalBytes !== undefined
        ? `${source.bytes} of ${source.totalBytes} B (truncated)`
        : `${source.bytes} B`;
    lines.push(`  ${source.scope} ${source.path} · ${state}`);
  }
  return lines;
}

function printHeader(session: SessionInfo): void {
  print(bold(session.title || "(untitled)"));
  const rows: [string, string][] = [
    ["id", session.id],
    ["status", session.status],
    ["model", session.model],
    ["mode", session.mode],
    ["cwd", session.cwd],
    ["turns", String(session.turnCount)],
    ["created", `${session.createdAt} (${ago(session.createdAt)})`],
    ["updated", `${session.updatedAt} (${ago(session.updatedAt)})`],
  ];
  for (const [key, value] of rows) print(`  ${dim(key.padEnd(8))} ${value}`);
}

/** Folds the event log into readable lines: the user's text, the model's answer, tools, outcomes. */
function transcript(events: SessionEvent[]): string[] {
  const lines: string[] = [];
  let answer = "";
  const flush = () => {
    if (answer) lines.push(answer.trimEnd(), "");
    answer = "";
  };
  for (const event of events) {
    switch (event.event) {
      case "turn.start":
        flush();
        lines.push(bold(`› ${event.text}`), "");
        break;
      case "turn.token":
        answer += event.delta;
        break;
      case "tool.call":
        flush();
        lines.push(dim(`[tool] ${event.name} ${truncate(JSON.stringify(event.args), 120)}`));
        break;
      case "tool.result":
        lines.push(dim(`[tool] ${event.name} ${event.ok ? "ok" : `failed: ${event.error ?? ""}`}`));
        break;
      case "turn.done":
        flush();
        lines.push(
          dim(`[${event.tokens} tokens · ${event.tokensPerSec.toFixed(1)} tok/s · ${event.elapsed.toFixed(1)}s]`),
          "",
        );
        break;
      case "turn.error":
        flush();
        lines.push(red(`error: ${event.message}`), "");
        break;
      case "session.cancelled":
        flush();
        lines.push(dim("[cancelled]"), "");
        break;
      case "turn.paused":
        flush();
        lines.push(
          dim(
            `[paused after ${event.steps} step${event.steps === 1 ? "" : "s"}, ${event.remainingSteps} left · resume with: opta do --session ${event.sessionId} --resume]`,
          ),
          "",
        );
        break;
      case "turn.resumed":
        lines.push(dim("[resumed]"));
        break;
      case "session.rewound":
        flush();
        lines.push(
          dim(
            `[rewound to before ${event.toTurnId} (${event.scope}): ${event.turnIds.length} turns out of the conversation, ${event.files.filter((file) => file.action !== "unchanged").length} files put back]`,
          ),
          "",
        );
        break;
      case "session.forked":
        lines.push(dim(`[forked from ${event.from}, ${event.turns} turns copied]`), "");
        break;
      default:
        break;
    }
  }
  flush();
  return lines;
}
