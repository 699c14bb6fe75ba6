import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, collectFrames, type DaemonProcess, spawnDaemon, tempHome } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

describe("a chat turn through the daemon", () => {
  let model: ScriptedServer;
  let daemon: DaemonProcess;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    model = await startScriptedServer({ replies: [{ chunks: ["Hello", " world", "!"], delayMs: 10 }] });
    const home = await tempHome();
    cleanup = home.cleanup;
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: model.host });
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    await cleanup?.();
  });

  it("streams tokens live over WebSocket and records turn.done", async () => {
    const call = api(daemon);
    const created = await call("/v3/sessions", { method: "POST", json: { title: "smoke" } });
    expect(created.status).toBe(201);
    const session = (await created.json()) as { id: string };
    const submitted = await call(`/v3/sessions/${session.id}/turns`, { method: "POST", json: { text: "hi" } });
    expect(submitted.status).toBe(202);
    const { frames, socket } = await collectFrames(
      `ws://127.0.0.1:${daemon.port}/v3/sessions/${session.id}/stream?afterSeq=0&token=${daemon.token}`,
      (all) => all.some((frame) => frame.event === "turn.done"),
    );
    socket.close();
    const events = frames.filter((frame) => frame.event);
    expect(events.map((frame) => frame.event)).toEqual([
      "session.start",
      "turn.start",
      "turn.system",
      "turn.token",
      "turn.token",
      "turn.token",
      "turn.done",
    ]);
    expect(events.map((frame) => frame.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(
      events
        .filter((frame) => frame.event === "turn.token")
        .map((frame) => frame.delta)
        .join(""),
    ).toBe("Hello world!");
    const done = events.at(-1)!;
    expect(done.tokens).toBe(3);
    expect(done.stopReason).toBe("stop");
    expect(done.elapsed).toBeGreaterThan(0);
    expect(done.tokensPerSec).toBeGreaterThan(0);
    const [system, ...rest] = model.requests[0]!.body.messages as Array<{ role: string; content: string }>;
    expect(system?.role).toBe("system");
    expect(rest).toEqual([{ role: "user", content: "hi" }]);
    const md = await (await call(`/v3/sessions/${session.id}/export?format=md`)).text();
    expect(md).toContain("Hello world!");
  });
});
