import { describe, expect, it } from "vitest";
import { SessionStore } from "../src/state/session-store.js";
import { applyEvents, emptySessionView, liveTokensPerSecond, type TurnView } from "../src/state/session-view.js";
import { eventFactory } from "./events.js";

function turnOf(view: ReturnType<typeof emptySessionView>, index = -1): TurnView {
  const item = view.items.at(index);
  if (item?.kind !== "turn") throw new Error("no turn");
  return item;
}

describe("applyEvents", () => {
  it("folds a streamed turn: text, thinking and tools in order, then stats", () => {
    const e = eventFactory();
    const view = applyEvents(emptySessionView("s-test"), [
      e({ event: "session.start", title: "auth", cwd: "/w", mode: "chat", model: "m" }),
      e({ event: "turn.start", turnId: "t-1", role: "user", text: "hi", mode: "do", model: "m", permission: "safe" }),
      e({ event: "turn.thinking", turnId: "t-1", delta: "plan" }),
      e({ event: "turn.thinking", turnId: "t-1", delta: " more" }),
      e({ event: "turn.token", turnId: "t-1", delta: "Hel", model: "m" }),
      e({ event: "turn.token", turnId: "t-1", delta: "lo", model: "m" }),
      e({ event: "tool.call", turnId: "t-1", callId: "c-1", name: "read_file", args: { path: "a.ts" } }),
      e({
        event: "tool.result",
        turnId: "t-1",
        callId: "c-1",
        name: "read_file",
        ok: true,
        result: "x",
        elapsedMs: 82,
        summary: "1 line",
      }),
      e({ event: "turn.token", turnId: "t-1", delta: "Done", model: "m" }),
      e({
        event: "turn.done",
        turnId: "t-1",
        tokens: 3,
        thinkingTokens: 2,
        elapsed: 1.5,
        tokensPerSec: 2,
        toolCalls: 1,
        steps: 2,
        stopReason: "stop",
        promptTokens: 900,
      }),
    ]);
    expect(view.title).toBe("auth");
    const turn = turnOf(view);
    expect(turn.parts).toEqual([
      { kind: "thinking", text: "plan more" },
      { kind: "text", text: "Hello" },
      { kind: "tool", callId: "c-1" },
      { kind: "text", text: "Done" },
    ]);
    expect(turn.tools["c-1"]).toMatchObject({ status: "ok", elapsedMs: 82, summary: "1 line" });
    expect(turn.status).toBe("done");
    expect(turn.stats?.steps).toBe(2);
    expect(view.lastPromptTokens).toBe(900);
    expect(view.activeTurnId).toBeUndefined();
    expect(view.lastSeq).toBe(10);
  });

  it("ignores events it already has, so a resumed stream never shows anything twice", () => {
    const e = eventFactory();
    const events = [
      e({ event: "turn.start", turnId: "t-1", role: "user", text: "hi", mode: "chat", model: "m", permission: "safe" }),
      e({ event: "turn.token", turnId: "t-1", delta: "a", model: "m" }),
      e({ event: "turn.token", turnId: "t-1", delta: "b", model: "m" }),
    ];
    const once = applyEvents(emptySessionView("s-test"), events);
    const twice = applyEvents(once, events);
    expect(twice).toBe(once);
    const overlapping = applyEvents(once, [
      events[2]!,
      e({ event: "turn.token", turnId: "t-1", delta: "c", model: "m" }),
    ]);
    expect(turnOf(overlapping).parts).toEqual([{ kind: "text", text: "abc" }]);
  });

  it("tracks approvals until permission.resolved clears them, from whichever client", () => {
    const e = eventFactory();
    let view = applyEvents(emptySessionView("s-test"), [
      e({ event: "turn.start", turnId: "t-1", role: "user", text: "w", mode: "chat", model: "m", permission: "safe" }),
      e({ event: "tool.call", turnId: "t-1", callId: "c-1", name: "write_file", args: { path: "a" } }),
      e({
        event: "permission.request",
        turnId: "t-1",
        requestId: "p-1",
        callId: "c-1",
        name: "write_file",
        args: { path: "a" },
        risk: "write",
      }),
    ]);
    expect(view.approvals.map((request) => request.requestId)).toEqual(["p-1"]);
    expect(turnOf(view).tools["c-1"]?.status).toBe("awaiting");
    view = applyEvents(view, [
      e({ event: "permission.resolved", turnId: "t-1", requestId: "p-1", decision: "deny", by: "cli" }),
    ]);
    expect(view.approvals).toEqual([]);
    expect(turnOf(view).tools["c-1"]).toMatchObject({ status: "denied", permission: { decision: "deny", by: "cli" } });
  });

  it("drops a turn's approvals when the turn is cancelled", () => {
    const e = eventFactory();
    const view = applyEvents(emptySessionView("s-test"), [
      e({ event: "turn.start", turnId: "t-1", role: "user", text: "w", mode: "chat", model: "m", permission: "safe" }),
      e({ event: "tool.call", turnId: "t-1", callId: "c-1", name: "run_command", args: { command: "ls" } }),
      e({
        event: "permission.request",
        turnId: "t-1",
        requestId: "p-1",
        callId: "c-1",
        name: "run_command",
        args: {},
        risk: "execute",
      }),
      e({ event: "session.cancelled", turnId: "t-1" }),
    ]);
    expect(view.approvals).toEqual([]);
    expect(turnOf(view).status).toBe("cancelled");
  });

  it("copies only the turns a batch touches", () => {
    const e = eventFactory();
    const first = applyEvents(emptySessionView("s-test"), [
      e({ event: "turn.start", turnId: "t-1", role: "user", text: "a", mode: "chat", model: "m", permission: "safe" }),
      e({
        event: "turn.done",
        turnId: "t-1",
        tokens: 0,
        thinkingTokens: 0,
        elapsed: 0,
        tokensPerSec: 0,
        toolCalls: 0,
        steps: 1,
        stopReason: "stop",
      }),
      e({ event: "turn.start", turnId: "t-2", role: "user", text: "b", mode: "chat", model: "m", permission: "safe" }),
    ]);
    const next = applyEvents(first, [e({ event: "turn.token", turnId: "t-2", delta: "x", model: "m" })]);
    expect(next.items[0]).toBe(first.items[0]);
    expect(next.items[1]).not.toBe(first.items[1]);
    expect(turnOf(next).index).toBe(2);
  });

  it("estimates live tokens per second from the token events' times", () => {
    const e = eventFactory();
    const view = applyEvents(emptySessionView("s-test"), [
      e({ event: "turn.start", turnId: "t-1", role: "user", text: "a", mode: "chat", model: "m", permission: "safe" }),
      ...Array.from({ length: 11 }, () => e({ event: "turn.token", turnId: "t-1", delta: "x", model: "m" })),
    ]);
    // Events are 10 ms apart: 10 intervals in 100 ms.
    expect(liveTokensPerSecond(turnOf(view))).toBeCloseTo(100, 5);
  });
});

describe("SessionStore", () => {
  it("publishes a burst of events once per frame", () => {
    const frames: Array<() => void> = [];
    const store = new SessionStore("s-test", { request: (callback) => frames.push(callback) });
    let notified = 0;
    store.subscribe(() => {
      notified += 1;
    });
    const e = eventFactory();
    store.push(
      e({ event: "turn.start", turnId: "t-1", role: "user", text: "a", mode: "chat", model: "m", permission: "safe" }),
    );
    for (let index = 0; index < 500; index++)
      store.push(e({ event: "turn.token", turnId: "t-1", delta: "x", model: "m" }));
    expect(frames).toHaveLength(1);
    expect(store.lastSeq).toBe(501);
    expect(notified).toBe(0);
    frames.shift()!();
    expect(notified).toBe(1);
    expect(store.diagnostics).toEqual({ flushes: 1, events: 501 });
    const turn = store.getSnapshot().items[0];
    expect(turn?.kind === "turn" && turn.parts[0]).toEqual({ kind: "text", text: "x".repeat(500) });
  });

  it("drops events at or below what it has (queued included)", () => {
    const frames: Array<() => void> = [];
    const store = new SessionStore("s-test", { request: (callback) => frames.push(callback) });
    const e = eventFactory();
    const start = e({
      event: "turn.start",
      turnId: "t-1",
      role: "user",
      text: "a",
      mode: "chat",
      model: "m",
      permission: "safe",
    });
    store.push(start);
    store.push(start);
    frames.shift()!();
    store.push(start);
    expect(frames).toHaveLength(0);
    expect(store.diagnostics.events).toBe(1);
  });

  it("renders every event at once when batching is off (the benchmark baseline)", () => {
    const store = new SessionStore("s-test", { request: () => {} }, false);
    const e = eventFactory();
    store.push(
      e({ event: "turn.start", turnId: "t-1", role: "user", text: "a", mode: "chat", model: "m", permission: "safe" }),
    );
    store.push(e({ event: "turn.token", turnId: "t-1", delta: "x", model: "m" }));
    expect(store.diagnostics.flushes).toBe(2);
  });
});
