import type { SessionEvent, SessionEventInput } from "@opta/protocol";
import { describe, expect, it } from "vitest";
import { buildConversation } from "../../src/agent/conversation.js";

function log(...inputs: SessionEventInput[]): SessionEvent[] {
  return inputs.map((input, index) =>
    Object.assign({ seq: index + 1, event: input.event, ts: new Date(0).toISOString(), sessionId: "s-1" }, input),
  ) as SessionEvent[];
}
const start = (turnId: string, text: string): SessionEventInput => ({
  event: "turn.start",
  turnId,
  role: "user",
  text,
  mode: "do",
  model: "m",
  permission: "safe",
});
const token = (turnId: string, delta: string): SessionEventInput => ({
  event: "turn.token",
  turnId,
  delta,
  model: "m",
});
const done = (turnId: string): SessionEventInput => ({
  event: "turn.done",
  turnId,
  tokens: 1,
  thinkingTokens: 0,
  elapsed: 1,
  tokensPerSec: 1,
  toolCalls: 0,
  steps: 1,
  stopReason: "stop",
});

describe("buildConversation", () => {
  it("turns tool calls and results into the chat format, text after tools as a new message", () => {
    const messages = buildConversation(
      log(
        start("t-1", "read it"),
        token("t-1", "Reading"),
        { event: "tool.call", turnId: "t-1", callId: "c-1", name: "read_file", args: { path: "a" } },
        { event: "tool.result", turnId: "t-1", callId: "c-1", name: "read_file", ok: true, result: "A", elapsedMs: 1 },
        token("t-1", "It says A"),
        done("t-1"),
      ),
    );
    expect(messages).toEqual([
      { role: "user", content: "read it" },
      {
        role: "assistant",
        content: "Reading",
        tool_calls: [{ id: "c-1", type: "function", function: { name: "read_file", arguments: '{"path":"a"}' } }],
      },
      { role: "tool", tool_call_id: "c-1", name: "read_file", content: "A" },
      { role: "assistant", content: "It says A" },
    ]);
  });

  it("answers a call left without a result by a cancelled turn, so the format stays valid", () => {
    const messages = buildConversation(
      log(
        start("t-1", "run"),
        { event: "tool.call", turnId: "t-1", callId: "c-1", name: "run_command", args: { command: "sleep 9" } },
        { event: "session.cancelled", turnId: "t-1" },
        start("t-2", "continue"),
      ),
    );
    expect(messages.map((message) => message.role)).toEqual(["user", "assistant", "tool", "user"]);
    expect(messages[2]?.content).toMatch(/not run/);
  });

  it("keeps a partially streamed answer of an interrupted turn", () => {
    const messages = buildConversation(
      log(start("t-1", "hi"), token("t-1", "Hel"), {
        event: "turn.error",
        turnId: "t-1",
        code: "TURN_INTERRUPTED",
        message: "x",
        retryable: true,
      }),
    );
    expect(messages).toEqual([
      { role: "user", content: "hi" },
      { role: "assistant", content: "Hel" },
    ]);
  });

  it("replaces covered turns with the summary and keeps turns the compaction did not cover", () => {
    const messages = buildConversation(
      log(
        start("t-1", "old"),
        token("t-1", "old answer"),
        done("t-1"),
        start("t-2", "new task"),
        { event: "session.compacted", summary: "S", turnIds: ["t-1"] },
        token("t-2", "new answer"),
        done("t-2"),
      ),
    );
    expect(messages).toEqual([
      { role: "user", content: "Summary of the conversation so far:\nS" },
      { role: "assistant", content: "Understood. I will continue from that summary." },
      { role: "user", content: "new task" },
      { role: "assistant", content: "new answer" },
    ]);
  });
});
