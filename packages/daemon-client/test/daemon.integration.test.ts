import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GlobalFrame, SessionEvent } from "@opta/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ScriptedServer, startScriptedServer } from "../../daemon/test/fixtures/scripted-openai-server.js";
import {
  createLocalClient,
  DaemonApiError,
  type DaemonClient,
  ensureDaemon,
  readLocalConnection,
  type SubscriptionStatus,
  stopDaemon,
} from "../src/node.js";

/** The SDK against the real daemon process (started by ensureDaemon, as the CLI does). */
let home: string;
let model: ScriptedServer;
let client: DaemonClient;
let pid: number;

function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error("timed out waiting"));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "opta-sdk-"));
  model = await startScriptedServer({
    replies: [{ chunks: Array.from({ length: 40 }, (_, i) => `w${i} `), delayMs: 10 }],
  });
  const result = await ensureDaemon({ home, env: { OPTA_DAEMON_PORT: "0", OPTA_LMX_HOST: model.host } });
  expect(result.started).toBe(true);
  pid = result.pid;
  client = await createLocalClient({ home, backoff: { initialDelayMs: 50, maxDelayMs: 500 } });
});

afterAll(async () => {
  await stopDaemon({ home }).catch(() => {});
  await model?.close();
  await rm(home, { recursive: true, force: true });
});

describe("SDK against the real daemon", () => {
  it("compacts a session through the model, and reports an empty one as nothing to compact", async () => {
    const empty = await client.createSession({ title: "nothing yet" });
    expect(await client.compact(empty.id)).toEqual({ compacted: false });
    const session = await client.createSession({ title: "to compact" });
    model.setReplies([{ chunks: ["an answer"] }, { chunks: ["- a summary"] }]);
    await client.submitTurn(session.id, { text: "a question" });
    for (let tries = 0; tries < 200 && (await client.getSession(session.id)).status !== "done"; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await client.compact(session.id)).toEqual({ compacted: true, summary: "- a summary" });
    const { events } = await client.events(session.id);
    expect(events.at(-1)).toMatchObject({ event: "session.compacted", summary: "- a summary" });
    model.setReplies([{ chunks: Array.from({ length: 40 }, (_, i) => `w${i} `), delayMs: 10 }]);
  });

  it("reuses a running daemon instead of starting another", async () => {
    const again = await ensureDaemon({ home });
    expect(again).toMatchObject({ started: false, pid });
  });

  it("makes typed calls", async () => {
    expect((await client.health()).ok).toBe(true);
    const status = await client.daemonStatus();
    expect(status.pid).toBe(pid);
    const session = await client.createSession({ title: "typed calls" });
    expect((await client.getSession(session.id)).title).toBe("typed calls");
    expect((await client.listSessions({ q: "typed" })).sessions.map((s) => s.id)).toContain(session.id);
    expect((await client.models()).models.map((m) => m.id)).toContain("scripted-model");
    const error = await client.getSession("s-000000000000nope").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DaemonApiError);
    expect((error as DaemonApiError).status).toBe(404);
  });

  it("follows a turn across a daemon restart: every event exactly once, token re-read", async () => {
    const session = await client.createSession({ title: "restart" });
    const received: SessionEvent[] = [];
    const statuses: SubscriptionStatus[] = [];
    const globalFrames: GlobalFrame[] = [];
    const subscription = client.subscribe(session.id, {
      onEvent: (event) => received.push(event),
      onStatus: (status) => statuses.push(status),
    });
    const all = client.subscribeAll({ onFrame: (frame) => globalFrames.push(frame) });
    await until(() => subscription.status === "connected" && all.status === "connected");

    const { turnId } = await client.submitTurn(session.id, { text: "count" });
    await until(() => received.filter((event) => event.event === "turn.token").length >= 5);
    const before = (await readLocalConnection(home)).token;
    await client.restartDaemon();
    await until(() => received.some((event) => event.event === "turn.done"), 15_000);

    expect((await readLocalConnection(home)).token).not.toBe(before);
    expect((await client.daemonStatus()).pid).toBe(pid); // old token → 401 → re-read → ok
    expect(statuses).toContain("reconnecting");
    expect(subscription.status).toBe("connected");
    const seqs = received.map((event) => event.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const stored = await client.events(session.id);
    expect(received).toEqual(stored.events);
    const text = received.flatMap((event) => (event.event === "turn.token" ? [event.delta] : [])).join("");
    expect(text).toBe(Array.from({ length: 40 }, (_, i) => `w${i} `).join(""));
    expect(received.at(-1)).toMatchObject({ event: "turn.done", turnId });

    // The global stream saw the same turn, live, across the restart, once per seq.
    const fromGlobal = globalFrames.filter((frame) => "seq" in frame && frame.sessionId === session.id);
    const globalSeqs = fromGlobal.map((frame) => ("seq" in frame ? frame.seq : 0));
    expect(new Set(globalSeqs).size).toBe(globalSeqs.length);
    expect(globalSeqs.at(-1)).toBe(seqs.at(-1));
    subscription.close();
    all.close();
  });

  it("ends a subscription to an unknown session with SESSION_NOT_FOUND", async () => {
    const errors: Error[] = [];
    const subscription = client.subscribe("s-000000000000nope", { onEvent: () => {}, onError: (e) => errors.push(e) });
    await until(() => subscription.status === "closed");
    expect(errors[0]).toMatchObject({ code: "SESSION_NOT_FOUND" });
  });

  it("stops the daemon and removes state.json", async () => {
    expect(await stopDaemon({ home })).toEqual({ wasRunning: true, pid });
    await expect(readFile(join(home, "daemon", "state.json"))).rejects.toThrow();
    await expect(client.health()).rejects.toMatchObject({ name: "DaemonConnectionError" });
    expect(await stopDaemon({ home })).toEqual({ wasRunning: false });
  });
});
