import type { SessionEvent } from "@opta/protocol";
import { isRewound, rewoundRanges } from "../checkpoint/history.js";
import type { ChatMessage } from "../provider/types.js";

/**
 * Rebuilds the model's message history from a session's events, so a resumed session (after a
 * restart, from another client) continues with exactly what the log says happened. Cancelled and
 * interrupted turns keep their partial output (a paused one drops the answer the pause cut off); a tool call that never got a result is answered
 * with a note, because the chat format requires every call to have a reply. Turns a rewind took
 * out of the conversation (`session.rewound`) are skipped, with any compaction made meanwhile.
 */
export function buildConversation(events: readonly SessionEvent[]): ChatMessage[] {
  let messages: ChatMessage[] = [];
  let assistant: ChatMessage | undefined;
  const unanswered = new Map<string, string>();
  // Where each turn's user message sits, so a compaction that covers only earlier turns keeps later ones.
  const turnStarts: Array<{ turnId: string; index: number }> = [];

  const closeAssistant = () => {
    if (assistant && (assistant.content || assistant.tool_calls?.length)) messages.push(assistant);
    assistant = undefined;
  };
  const answerOpenCalls = (note: string) => {
    for (const [callId, name] of unanswered) {
      messages.push({ role: "tool", tool_call_id: callId, name, content: note });
    }
    unanswered.clear();
  };

  // A conversation rewind takes everything from its target turn's start to itself out of the history.
  const rewound = rewoundRanges(events);
  for (const event of events) {
    if (rewound.length > 0 && isRewound(event.seq, rewound)) continue;
    switch (event.event) {
      case "turn.start":
        closeAssistant();
        answerOpenCalls("not run: the turn ended first");
        turnStarts.push({ turnId: event.turnId, index: messages.length });
        messages.push({ role: "user", content: event.text });
        break;
      case "turn.token":
        // Text after a tool-call phase starts a new assistant message.
        if (assistant?.tool_calls?.length) closeAssistant();
        if (!assistant) assistant = { role: "assistant", content: "" };
        assistant.content = (assistant.content ?? "") + event.delta;
        break;
      case "tool.call":
        if (!assistant) assistant = { role: "assistant", content: "" };
        assistant.tool_calls = [
          ...(assistant.tool_calls ?? []),
          { id: event.callId, type: "function", function: { name: event.name, arguments: JSON.stringify(event.args) } },
        ];
        unanswered.set(event.callId, event.name);
        break;
      case "tool.result":
        closeAssistant();
        if (unanswered.delete(event.callId)) {
          messages.push({
            role: "tool",
            tool_call_id: event.callId,
            name: event.name,
            // The same text the live loop sent, so a resumed session sees what the model saw.
            content: event.ok
              ? stringifyResult(event.result)
              : `Error${event.code ? ` (${event.code})` : ""}: ${event.error ?? "tool failed"}`,
          });
        }
        break;
      case "turn.paused":
        // An answer still open here was cut by the pause; its step does not count and the resumed
        // run asks again, so the model does not see half an answer. Every tool call has its result.
        if (!assistant?.tool_calls?.length) assistant = undefined;
        closeAssistant();
        answerOpenCalls("not run: the turn was paused");
        break;
      case "turn.done":
      case "turn.error":
      case "session.cancelled":
        closeAssistant();
        answerOpenCalls(event.event === "turn.done" ? "no result" : "not run: the turn was stopped");
        break;
      case "session.compacted": {
        const covered = new Set(event.turnIds ?? turnStarts.map((start) => start.turnId));
        const firstKept = turnStarts.find((start) => !covered.has(start.turnId));
        if (!firstKept) {
          closeAssistant();
          answerOpenCalls("not run");
        }
        const kept = firstKept ? messages.slice(firstKept.index) : [];
        messages = [
          { role: "user", content: `Summary of the conversation so far:\n${event.summary}` },
          { role: "assistant", content: "Understood. I will continue from that summary." },
        ];
        turnStarts.length = 0;
        if (firstKept) turnStarts.push({ turnId: firstKept.turnId, index: messages.length });
        messages.push(...kept);
        break;
      }
      default:
        break;
    }
  }
  closeAssistant();
  return messages;
}

/** Serialises a tool result for the model: strings as they are, anything else as JSON. */
export function stringifyResult(result: unknown): string {
  if (typeof result === "string") return result;
  if (result === undefined) return "";
  return JSON.stringify(result);
}
