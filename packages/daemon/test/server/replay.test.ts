import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { api, collectFrames, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

type Frame = Record<string, unknown>;

describe("replay and resume", () => {
  let model: ScriptedServer;
  let daemon: DaemonProcess;
  let cleanup: () => Promise<void>;
  let sessionId: string;
  let lastSeq: number;

  beforeAll(async () => {
    model = await startScriptedServer({
      replies: [{ chunks: Array.from({ length: 20 }, (_, index) => `t${index} `) }],
    });
    const home = await tempHome();
    cleanup = home.cleanup;
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: model.host });
    const call = api(daemon);
    sessionId = ((await (await call("/v3/sessions", { method: "POST", json: {} })).json()) as { id: string }).id;
    await call(`/v3/sessions/${sessionId}/turns`, { method: "POST", json: { text: "count" } });
    lastSeq = await waitFor(async () => {
      const info = (await (await call(`/v3/sessions/${sessionId}`)).json()) as { status: string; lastSeq: number };
      return info.status === "done" ? info.lastSeq : undefined;
    });
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    await cleanup?.();
  });

  const streamUrl = (afterSeq: number) =>
    `ws://127.0.0.1:${daemon.port}/v3/sessions/${sessionId}/stream?afterSeq=${afterSeq}&token=${daemon.token}`;

  it("has a gapless log: 1 start, 1 turn start, 1 system summary, 20 tokens, 1 done", () => {
    expect(lastSeq).toBe(24);
  });

  it.each([0, 7, 24])("replays exactly the events after afterSeq=%i, then says so", async (afterSeq) => {
    const { frames, socket } = await collectFrames(streamUrl(afterSeq), (all) => all.some((frame) => frame.control));
    socket.close();
    const events = frames.filter((frame) => frame.event);
    expect(events.map((frame) => frame.seq)).toEqual(
      Array.from({ length: lastSeq - afterSeq }, (_, index) => afterSeq + index + 1),
    );
    expect(frames.at(-1)).toEqual({ control: "replayed", lastSeq });
  });

  it("replays over HTTP with afterSeq", async () => {
    const response = await api(daemon)(`/v3/sessions/${sessionId}/events?afterSeq=21`);
    const body = (await response.json()) as { events: Frame[]; lastSeq: number };
    expect(body.events.map((event) => event.seq)).toEqual([22, 23, 24]);
    expect(body.lastSeq).toBe(24);
  });

  it("delivers every event exactly once to a client that drops mid-stream and resumes", async () => {
    const call = api(daemon);
    model.setReplies([{ chunks: Array.from({ length: 40 }, (_, index) => `w${index} `), delayMs: 8 }]);
    const received: Frame[] = [];
    // First connection: live from the current end, dropped after a few tokens.
    const first = new WebSocket(streamUrl(lastSeq));
    const droppedAfterSix = new Promise<void>((resolve) => {
      first.on("message", (data) => {
        const frame = JSON.parse(String(data)) as Frame;
        if (!frame.event || received.length >= 6) return;
        received.push(frame);
        if (received.length === 6) {
          first.terminate();
          resolve();
        }
      });
    });
    await new Promise((resolve) => first.once("open", resolve));
    await call(`/v3/sessions/${sessionId}/turns`, { method: "POST", json: { text: "more" } });
    await droppedAfterSix;
    await new Promise((resolve) => setTimeout(resolve, 60));
    const resumeFrom = received.at(-1)!.seq as number;
    const { frames, socket } = await collectFrames(streamUrl(resumeFrom), (all) =>
      all.some((frame) => frame.event === "turn.done"),
    );
    socket.close();
    received.push(...frames.filter((frame) => frame.event));
    const seqs = received.map((frame) => frame.seq as number);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => lastSeq + index + 1));
    expect(received.filter((frame) => frame.event === "turn.token")).toHaveLength(40);
    lastSeq = seqs.at(-1)!;
  });

  it("streams every session on /v3/events and resumes exactly from a cursor", async () => {
    const call = api(daemon);
    model.setReplies([{ chunks: ["a", "b", "c", "d"] }]);
    const base = `ws://127.0.0.1:${daemon.port}/v3/events?token=${daemon.token}`;
    const live = new WebSocket(base);
    await new Promise((resolve) => live.once("open", resolve));
    const frames: Frame[] = [];
    live.on("message", (data) => frames.push(JSON.parse(String(data)) as Frame));
    const other = (
      (await (await call("/v3/sessions", { method: "POST", json: { title: "second" } })).json()) as {
        id: string;
      }
    ).id;
    await call(`/v3/sessions/${other}/turns`, { method: "POST", json: { text: "x" } });
    await waitFor(() =>
      frames.some((frame) => frame.event === "turn.done" && frame.sessionId === other) ? true : undefined,
    );
    live.close();
    expect(frames.some((frame) => frame.event === "session.created" && frame.sessionId === other)).toBe(true);
    for (const frame of frames) expect(typeof frame.cursor).toBe("string");
    const middle = frames.findIndex((frame) => frame.event === "turn.token");
    const cursor = frames[middle]!.cursor as string;
    const { frames: resumed, socket } = await collectFrames(`${base}&cursor=${encodeURIComponent(cursor)}`, (all) =>
      all.some((frame) => frame.control === "replayed"),
    );
    socket.close();
    const expected = frames.slice(middle + 1).map((frame) => frame.cursor);
    expect(resumed.filter((frame) => frame.event).map((frame) => frame.cursor)).toEqual(expected);
  });

  it("replays a superset by time for a cursor from an earlier daemon run", async () => {
    const events = (await (await api(daemon)(`/v3/sessions/${sessionId}/events?afterSeq=0`)).json()) as {
      events: Array<{ ts: string; seq: number }>;
    };
    const pivot = events.events[10]!;
    const foreign = `deadbeef.5.${Date.parse(pivot.ts).toString(36)}`;
    const { frames, socket } = await collectFrames(
      `ws://127.0.0.1:${daemon.port}/v3/events?token=${daemon.token}&cursor=${foreign}`,
      (all) => all.some((frame) => frame.control === "replayed"),
    );
    socket.close();
    const mine = frames.filter((frame) => frame.sessionId === sessionId).map((frame) => frame.seq as number);
    // Everything from the pivot on is there (a superset: clients dedupe by sessionId + seq).
    for (let seq = pivot.seq + 1; seq <= lastSeq; seq += 1) expect(mine).toContain(seq);
  });

  it("filters the daemon-wide stream by event name, and refuses a malformed filter", async () => {
    const call = api(daemon);
    model.setReplies([{ chunks: ["x", "y", "z"] }]);
    const base = `ws://127.0.0.1:${daemon.port}/v3/events?token=${daemon.token}`;
    const filtered = new WebSocket(`${base}&events=turn.start,turn.done`);
    await new Promise((resolve) => filtered.once("open", resolve));
    const frames: Frame[] = [];
    filtered.on("message", (data) => frames.push(JSON.parse(String(data)) as Frame));
    await call(`/v3/sessions/${sessionId}/turns`, { method: "POST", json: { text: "filtered" } });
    await waitFor(() => (frames.some((frame) => frame.event === "turn.done") ? true : undefined));
    filtered.close();
    expect(frames.map((frame) => frame.event)).toEqual(["turn.start", "turn.done"]);
    const bad = await new Promise<number>((resolve) => {
      const socket = new WebSocket(`${base}&events=${encodeURIComponent("<script>")}`);
      socket.on("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
      socket.on("open", () => resolve(101));
    });
    expect(bad).toBe(400);
  });
});
