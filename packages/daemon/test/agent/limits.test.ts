import { realpath } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { estimateTokens, knownContextWindow, outputTokenCap } from "../../src/agent/limits.js";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

type Event = Record<string, unknown> & { event: string; seq: number };

describe("model call limits", () => {
  it("knows the windows of common model families, whatever the prefix or tag", () => {
    expect(knownContextWindow("gpt-4o-mini")).toBe(128_000);
    expect(knownContextWindow("claude-sonnet-4-5-20250929")).toBe(200_000);
    expect(knownContextWindow("llama3.1:8b")).toBe(131_072);
    expect(knownContextWindow("qwen/qwen2.5-coder-7b")).toBe(32_768);
    expect(knownContextWindow("o3-mini")).toBe(200_000);
    expect(knownContextWindow("test")).toBeUndefined();
  });

  it("caps output at max-output-tokens (4096 by default) and at what the window leaves", () => {
    const messages = [{ role: "user" as const, content: "x".repeat(4000) }];
    expect(outputTokenCap({}, undefined, { messages })).toBe(4096);
    expect(outputTokenCap({ "max-output-tokens": 300 }, 128_000, { messages })).toBe(300);
    const left = 3000 - estimateTokens({ messages });
    const capped = outputTokenCap({}, 3000, { messages });
    expect(capped).toBeLessThan(left);
    expect(capped).toBeGreaterThan(left - 100);
    // A full window still gets a small answer (the server ends it with `length`), never a zero cap.
    expect(outputTokenCap({}, 1000, { messages })).toBe(256);
  });
});

describe("turns and compactions end by themselves", () => {
  let model: ScriptedServer;
  let home: string;
  let workspace: string;
  let cleanups: Array<() => Promise<void>> = [];
  let daemon: DaemonProcess;
  let call: ReturnType<typeof api>;

  beforeAll(async () => {
    // A provider that reports no context window (no /api/v1/models), serving a model whose family is known.
    model = await startScriptedServer({ models: ["gpt-4o-mini"] });
    const homeDir = await tempHome("opta-home-");
    const work = await tempHome("opta-work-");
    cleanups = [homeDir.cleanup, work.cleanup];
    home = homeDir.home;
    workspace = await realpath(work.home);
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
    call = api(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    for (const cleanup of cleanups) await cleanup();
  });

  async function session(): Promise<string> {
    const response = await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } });
    return ((await response.json()) as { id: string }).id;
  }
  async function events(id: string): Promise<Event[]> {
    return ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
  }
  async function untilEnd(id: string, turns = 1): Promise<Event[]> {
    return waitFor(async () => {
      const all = await events(id);
      const ends = all.filter((event) => ["turn.done", "turn.error", "session.cancelled"].includes(event.event));
      return ends.length >= turns ? all : undefined;
    }, 15_000);
  }
  async function turn(id: string, text: string) {
    const response = await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text } });
    expect(response.status).toBe(202);
  }

  it("sends a max_tokens on every turn step and ends a capped turn with stopReason length", async () => {
    model.setReplies([{ chunks: ["a long answer that was cut"], finishReason: "length" }]);
    const before = model.requests.length;
    const id = await session();
    await turn(id, "write a very long essay");
    const all = await untilEnd(id);
    expect(all.at(-1)).toMatchObject({ event: "turn.done", stopReason: "length" });
    expect(all.some((event) => event.event === "turn.error")).toBe(false);
    expect(model.requests[before]!.body.max_tokens).toBe(4096);
  });

  it("sends a max_tokens on a compaction's summary call too", async () => {
    model.setReplies([{ chunks: ["first answer"] }]);
    const id = await session();
    await turn(id, "first question");
    await untilEnd(id);
    model.setReplies([{ chunks: ["- summary"] }]);
    const compacted = await call(`/v3/sessions/${id}/compact`, { method: "POST" });
    expect(await compacted.json()).toMatchObject({ compacted: true });
    expect(model.requests.at(-1)!.body.max_tokens).toBe(4096);
  });

  it("compacts automatically from the model's known window when the server reports none", async () => {
    // gpt-4o-mini: 128k tokens; 110k used is past 80% of it.
    model.setReplies([{ chunks: ["big answer"], usage: { prompt_tokens: 110_000, completion_tokens: 2 } }]);
    const id = await session();
    await turn(id, "fill the window");
    await untilEnd(id);
    model.setReplies([{ chunks: ["- summary of the big turn"] }, { chunks: ["fresh answer"] }]);
    await turn(id, "next task");
    const all = await untilEnd(id, 2);
    expect(all.find((event) => event.event === "session.compacted")).toMatchObject({
      summary: "- summary of the big turn",
    });
    const messages = model.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>;
    expect(JSON.stringify(messages)).not.toContain("big answer");
  });

  it("stop cancels a running compaction, records it, and leaves the history as it was", async () => {
    model.setReplies([{ chunks: ["first answer"] }]);
    const id = await session();
    await turn(id, "first question");
    await untilEnd(id);
    // The summary streams slowly and then stalls: without a stop it would never end.
    model.setReplies([{ chunks: ["- one", " two", " three"], delayMs: 20, hangAfterChunks: 2 }]);
    const writes = model.chunkWrites.length;
    const compacting = call(`/v3/sessions/${id}/compact`, { method: "POST" });
    await waitFor(() => (model.chunkWrites.length >= writes + 2 ? true : undefined));
    // A turn cannot start while the compaction runs.
    const refused = await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text: "meanwhile" } });
    expect(refused.status).toBe(409);
    const stopped = await call(`/v3/sessions/${id}/stop`, { method: "POST" });
    expect(await stopped.json()).toMatchObject({ stopped: true });
    expect(await (await compacting).json()).toEqual({ compacted: false, cancelled: true });
    const all = await events(id);
    expect(all.at(-1)?.event).toBe("compaction.cancelled");
    expect(all.some((event) => event.event === "session.compacted")).toBe(false);
    // The session goes on with its whole history.
    model.setReplies([{ chunks: ["second answer"] }]);
    await turn(id, "second question");
    await untilEnd(id, 2);
    expect(JSON.stringify(model.requests.at(-1)!.body.messages)).toContain("first answer");
  });
});
