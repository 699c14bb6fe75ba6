import { appendFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { SessionEvent } from "@opta/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

async function readLog(home: string, sessionId: string) {
  const text = await readFile(join(home, "daemon", "sessions", `${sessionId}.jsonl`), "utf8");
  expect(text.endsWith("\n")).toBe(true);
  return text
    .trimEnd()
    .split("\n")
    .map((line) => SessionEvent.parse(JSON.parse(line)));
}

describe("crash recovery", () => {
  let model: ScriptedServer;
  let home: string;
  let cleanup: () => Promise<void>;
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    model = await startScriptedServer({
      replies: [{ chunks: Array.from({ length: 200 }, (_, index) => `tok${index} `), delayMs: 5, hangAfterChunks: 30 }],
    });
    ({ home, cleanup } = await tempHome());
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    await cleanup?.();
  });

  it("keeps a parseable, gapless log after SIGKILL mid-turn and marks the turn interrupted", async () => {
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
    const call = api(daemon);
    const session = (await (await call("/v3/sessions", { method: "POST", json: { title: "crashy" } })).json()) as {
      id: string;
    };
    await call(`/v3/sessions/${session.id}/turns`, { method: "POST", json: { text: "stream a lot" } });
    await waitFor(async () => {
      const info = (await (await call(`/v3/sessions/${session.id}`)).json()) as { lastSeq: number };
      return info.lastSeq >= 20 ? true : undefined;
    });
    const killed = new Promise((resolve) => daemon!.child.once("exit", resolve));
    daemon.child.kill("SIGKILL");
    await killed;

    const beforeRestart = await readLog(home, session.id);
    expect(beforeRestart.map((event) => event.seq)).toEqual(beforeRestart.map((_, index) => index + 1));
    expect(beforeRestart.at(-1)?.event).toBe("turn.token");

    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
    const events = await readLog(home, session.id);
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
    expect(events.slice(0, beforeRestart.length)).toEqual(beforeRestart);
    const last = events.at(-1)!;
    expect(last.event).toBe("turn.error");
    if (last.event === "turn.error") {
      expect(last.code).toBe("TURN_INTERRUPTED");
      expect(last.retryable).toBe(true);
    }
    const info = (await (await api(daemon)(`/v3/sessions/${session.id}`)).json()) as {
      status: string;
      title: string;
      lastSeq: number;
    };
    expect(info).toMatchObject({ status: "interrupted", title: "crashy", lastSeq: events.length });
  });

  it("repairs a torn last line without losing earlier events, and rebuilds a lost index", async () => {
    await daemon!.stop();
    const sessionsDir = join(home, "daemon", "sessions");
    const { readdir, rm } = await import("node:fs/promises");
    const file = (await readdir(sessionsDir)).find((name) => name.endsWith(".jsonl"))!;
    const before = await readLog(home, file.replace(".jsonl", ""));
    await appendFile(join(sessionsDir, file), '{"seq":999,"event":"turn.tok');
    await rm(join(sessionsDir, "index.json"));
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
    const after = await readLog(home, file.replace(".jsonl", ""));
    expect(after).toEqual(before);
    const list = (await (await api(daemon)("/v3/sessions")).json()) as { sessions: Array<{ title: string }> };
    expect(list.sessions.map((session) => session.title)).toEqual(["crashy"]);
    const logs = (await (await api(daemon)("/v3/daemon/logs?level=warn")).json()) as {
      lines: Array<{ message: string }>;
    };
    expect(logs.lines.some((line) => line.message.includes("Repaired torn last line"))).toBe(true);
  });
});
