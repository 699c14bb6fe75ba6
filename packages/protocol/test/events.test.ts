import { describe, expect, it } from "vitest";
import { createId, isSafeId, SESSION_EVENT_NAMES, SessionEvent, SubmitTurnRequest } from "../src/index.js";

describe("protocol", () => {
  it("parses a contract example envelope", () => {
    const line =
      '{"seq":5,"event":"tool.call","ts":"2026-03-06T14:23:14.556Z","sessionId":"s-a8f2","turnId":"t-3","callId":"c-1","name":"read_file","args":{"path":"src/auth.ts"}}';
    const event = SessionEvent.parse(JSON.parse(line));
    expect(event.event).toBe("tool.call");
    if (event.event === "tool.call") expect(event.args).toEqual({ path: "src/auth.ts" });
  });

  it("rejects an unknown event and a bad seq", () => {
    expect(SessionEvent.safeParse({ seq: 1, event: "nope", ts: "x", sessionId: "s" }).success).toBe(false);
    expect(
      SessionEvent.safeParse({ seq: 0, event: "session.cancelled", ts: "x", sessionId: "s", turnId: "t" }).success,
    ).toBe(false);
  });

  it("derives the event name list from the registry", () => {
    expect(SESSION_EVENT_NAMES).toContain("turn.done");
    expect(SESSION_EVENT_NAMES).toContain("session.compacted");
    expect(new Set(SESSION_EVENT_NAMES).size).toBe(SESSION_EVENT_NAMES.length);
  });

  it("names the bad field of a turn body", () => {
    const result = SubmitTurnRequest.safeParse({ text: 42 });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(["text"]);
  });

  it("makes ids that sort in creation order", () => {
    const ids = Array.from({ length: 500 }, () => createId("s"));
    expect([...ids].sort()).toEqual(ids);
    expect(ids.every(isSafeId)).toBe(true);
    expect(isSafeId("../etc/passwd")).toBe(false);
  });
});
