import type { SessionEvent, SessionInfo } from "@opta/protocol";

/** Renders a session as a readable Markdown transcript. */
export function sessionToMarkdown(session: SessionInfo, events: readonly SessionEvent[]): string {
  const out: string[] = [];
  out.push(`# ${session.title}`, "");
  out.push(`- Session: \`${session.id}\``);
  out.push(`- Working directory: \`${session.cwd}\``);
  out.push(`- Mode: ${session.mode} · Model: ${session.model || "default"} · Status: ${session.status}`);
  out.push(`- Created: ${session.createdAt} · Updated: ${session.updatedAt} · Turns: ${session.turnCount}`, "");
  let assistant = "";
  let thinking = "";
  let turnNumber = 0;
  const flush = () => {
    if (thinking) {
      out.push("<details><summary>Thinking</summary>", "", thinking.trim(), "", "</details>", "");
      thinking = "";
    }
    if (assistant) {
      out.push("### Assistant", "", assistant.trim(), "");
      assistant = "";
    }
  };
  for (const event of events) {
    switch (event.event) {
      case "turn.start":
        flush();
        turnNumber += 1;
        out.push(`## Turn ${turnNumber}`, "", `### User (${event.mode} mode)`, "", event.text, "");
        break;
      case "turn.thinking":
        thinking += event.delta;
        break;
      case "turn.token":
        assistant += event.delta;
        break;
      case "tool.call":
        flush();
        out.push(`**Tool call** \`${event.name}\``, "", "```json", JSON.stringify(event.args, null, 2), "```", "");
        break;
      case "permission.resolved":
        out.push(`_Permission ${event.decision} by ${event.by}_`, "");
        break;
      case "tool.result": {
        const body = event.ok ? event.result : event.error;
        const text = typeof body === "string" ? body : JSON.stringify(body, null, 2);
        out.push(
          `**Tool result** \`${event.name}\` ${event.ok ? "ok" : "failed"} · ${Math.round(event.elapsedMs)} ms`,
          "",
          "```",
          truncate(text ?? "", 4000),
          "```",
          "",
        );
        break;
      }
      case "turn.done":
        flush();
        out.push(
          `_${event.tokens} tokens · ${event.tokensPerSec} tok/s · ${event.elapsed}s · ${event.toolCalls} tool calls · ${event.stopReason}_`,
          "",
        );
        break;
      case "turn.error":
        flush();
        out.push(`> **Error** (${event.code}): ${event.message}`, "");
        break;
      case "session.cancelled":
        flush();
        out.push("> _Cancelled_", "");
        break;
      case "session.compacted":
        flush();
        out.push("> **Context compacted**", ">", ...event.summary.split("\n").map((line) => `> ${line}`), "");
        break;
      default:
        break;
    }
  }
  flush();
  return `${out.join("\n").trimEnd()}\n`;
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}\n… (${text.length - max} more characters)` : text;
}
