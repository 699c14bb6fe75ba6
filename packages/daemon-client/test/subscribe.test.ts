import type { AddressInfo } from "node:net";
import type { GlobalFrame, SessionEvent } from "@opta/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { DaemonClient, type SubscriptionStatus, type WebSocketConstructor } from "../src/index.js";

/**
 * A stand-in for the daemon's session stream, so drops can be forced at exact points. The real
 * daemon is exercised in daemon.integration.test.ts.
 */
const events: SessionEvent[] = [];
function append(text: string) {
  const seq = events.length + 1;
  events.push({
    seq,
    ts: new Date().toISOString(),
    sessionId: "s-1",
    event: "turn.token",
    turnId: "t-1",
    delta: text,
    model: "m",
  });
  for (const socket of live) socket.send(JSON.stringify(events.at(-1)));
}
let token = "a";
/** What the next connection does: "drop-after-N" sends N replayed events then dies without a close frame. */
let plan: { dropAfter?: number; replayFrom?: number } = {};
const connections: { afterSeq: number; token: string | null }[] = [];
const live = new Set<WebSocket>();
let wss: WebSocketServer;
let baseUrl: string;

beforeAll(async () => {
  wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    verifyClient: (info, done) => {
      const url = new URL(info.req.url!, "http://x");
      done(url.searchParams.get("token") === token, 401);
    },
  });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  baseUrl = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  wss.on("connection", (socket, request) => {
    const url = new URL(request.url!, "http://x");
    if (url.pathname === "/v3/events") return globalStream(socket, url.searchParams.get("cursor"));
    if (!url.pathname.startsWith("/v3/sessions/s-1/")) return socket.close(4404, "session not found");
    const afterSeq = Number(url.searchParams.get("afterSeq"));
    connections.push({ afterSeq, token: url.searchParams.get("token") });
    const current = plan;
    plan = {};
    // A misbehaving server may resend old events; the client must drop them.
    const from = current.replayFrom ?? afterSeq;
    const replay = events.filter((event) => event.seq > from);
    for (const [index, event] of replay.entries()) {
      if (current.dropAfter !== undefined && index === current.dropAfter) return socket.terminate();
      socket.send(JSON.stringify(event));
    }
    socket.send(JSON.stringify({ control: "replayed", lastSeq: events.length }));
    live.add(socket);
    socket.on("close", () => live.delete(socket));
  });
});

/** `/v3/events` stand-in: frames carry cursors `c<n>`; after "restart" it replays a superset. */
const cursors: (string | null)[] = [];
function globalStream(socket: WebSocket, cursor: string | null) {
  cursors.push(cursor);
  const frames = [
    { event: "daemon.start", ts: "2026-01-01T00:00:00.000Z", pid: 1, version: "0.1.0" },
    ...events.slice(0, 3),
  ].map((frame, index) => ({ ...frame, cursor: `c${index + 1}` }));
  // The first connection sends everything then drops; the second ignores the cursor (superset).
  for (const frame of frames) socket.send(JSON.stringify(frame));
  socket.send(JSON.stringify({ control: "replayed", cursor: frames.at(-1)!.cursor }));
  if (cursors.length === 1) socket.close(1012);
}

afterAll(() => new Promise<void>((resolve) => wss.close(() => resolve())));

function makeClient(tokenSource: string | (() => string)) {
  return new DaemonClient({
    baseUrl,
    token: tokenSource,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    backoff: { initialDelayMs: 20, maxDelayMs: 100, disconnectedAfter: 2 },
  });
}

function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error("timed out waiting"));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

describe("subscribe", () => {
  it("resumes after a drop mid-replay and delivers every event exactly once", async () => {
    for (let i = 0; i < 10; i++) append(`r${i}`);
    plan = { dropAfter: 4 };
    const received: number[] = [];
    const statuses: SubscriptionStatus[] = [];
    const client = makeClient("a");
    const subscription = client.subscribe("s-1", {
      afterSeq: 2,
      onEvent: (event) => received.push(event.seq),
      onStatus: (status) => statuses.push(status),
    });
    await until(() => received.length === 8);
    // Second connection resumed from the last delivered seq; the server resent seq 1.. (dropped).
    expect(connections.at(-2)?.afterSeq).toBe(2);
    expect(connections.at(-1)?.afterSeq).toBe(6);

    // Live events, then a drop with a server that replays too much: still exactly once.
    append("live-1");
    await until(() => received.length === 9);
    plan = { replayFrom: 0 };
    for (const socket of live) socket.terminate();
    await until(() => connections.length === 3 && live.size === 1);
    append("live-2");
    await until(() => received.length === 10);
    expect(received).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(subscription.lastSeq).toBe(12);
    subscription.close();
    expect(subscription.status).toBe("closed");
    expect(statuses).toEqual([
      "connecting",
      "connected",
      "reconnecting",
      "connected",
      "reconnecting",
      "connected",
      "closed",
    ]);
  });

  it("re-reads a rotated token after a 1012 close (restart) and reports disconnected while failing", async () => {
    const statuses: SubscriptionStatus[] = [];
    let source = "a";
    const client = makeClient(() => source);
    const received: number[] = [];
    const subscription = client.subscribe("s-1", {
      afterSeq: events.length,
      onEvent: (event) => received.push(event.seq),
      onStatus: (status) => statuses.push(status),
    });
    await until(() => subscription.status === "connected" && live.size === 1);
    token = "b"; // the daemon restarted with a new token; the client still reads the old one
    for (const socket of live) socket.close(1012, "restart");
    await until(() => statuses.includes("disconnected"));
    source = "b";
    await until(() => subscription.status === "connected");
    append("after-restart");
    await until(() => received.length === 1);
    expect(received).toEqual([events.length]);
    expect(connections.at(-1)?.token).toBe("b");
    subscription.close();
    token = "a";
  });

  it("stops for good on 4404 and reports the error", async () => {
    const client = makeClient("a");
    const errors: Error[] = [];
    const subscription = client.subscribe("s-missing", { onEvent: () => {}, onError: (error) => errors.push(error) });
    await until(() => subscription.status === "closed");
    expect(errors[0]).toMatchObject({ code: "SESSION_NOT_FOUND" });
  });

  it("stream() iterates events and ends on abort; throws for an unknown session", async () => {
    const client = makeClient("a");
    const controller = new AbortController();
    const seqs: number[] = [];
    for await (const event of client.stream("s-1", { afterSeq: events.length - 3, signal: controller.signal })) {
      seqs.push(event.seq);
      if (seqs.length === 3) controller.abort();
    }
    expect(seqs).toEqual([events.length - 2, events.length - 1, events.length]);
    await expect(async () => {
      for await (const _ of client.stream("s-missing")) break;
    }).rejects.toMatchObject({ code: "SESSION_NOT_FOUND" });
  });
});

describe("subscribeAll", () => {
  it("resumes from the last cursor and drops a superset replay's duplicates", async () => {
    const client = makeClient("a");
    const frames: GlobalFrame[] = [];
    const subscription = client.subscribeAll({ onFrame: (frame) => frames.push(frame) });
    await until(() => cursors.length === 2 && subscription.status === "connected");
    await new Promise((resolve) => setTimeout(resolve, 50));
    subscription.close();
    expect(cursors).toEqual([null, "c4"]);
    expect(frames.map((frame) => frame.cursor)).toEqual(["c1", "c2", "c3", "c4"]);
    expect(frames[1]).toMatchObject({ sessionId: "s-1", seq: 1, event: "turn.token" });
  });
});
