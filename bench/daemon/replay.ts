/**
 * Replay: a 100,000-event session delivered from afterSeq=0 to a WebSocket client, until the
 * `replayed` control frame. Baseline, same run: the same file read and its lines sent by a bare
 * `ws` server to a client.
 */
import { readFile } from "node:fs/promises";
import { Daemon } from "@opta/daemon";
import WebSocket, { WebSocketServer } from "ws";
import { tempHome } from "../../packages/daemon/test/fixtures/daemon-harness.js";
import { report } from "../stats.js";

const EVENTS = Number(process.env.BENCH_REPLAY_EVENTS ?? 100_000);

function receiveAll(url: string, isEnd: (text: string) => boolean): Promise<{ frames: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = new WebSocket(url);
    let frames = 0;
    socket.on("message", (data) => {
      frames += 1;
      if (isEnd(String(data))) {
        socket.terminate();
        resolve({ frames, ms: performance.now() - started });
      }
    });
    socket.on("error", reject);
  });
}

export async function replay(): Promise<void> {
  const { home, cleanup } = await tempHome("opta-bench-");
  const daemon = await Daemon.start({ home, port: 0 });
  try {
    const session = daemon.store.create({ cwd: home, mode: "chat", model: "m" });
    for (let index = 1; index < EVENTS; index += 1) {
      daemon.store.append(session.id, { event: "turn.token", turnId: "t-1", delta: `token ${index} `, model: "m" });
      if (index % 5000 === 0) daemon.store.flush();
    }
    daemon.store.flush(true);

    // Baseline: bare file read + ws sends.
    const path = daemon.store.pathOf(session.id);
    const raw = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((resolve) => raw.once("listening", resolve));
    raw.on("connection", async (socket) => {
      const lines = (await readFile(path, "utf8")).split("\n");
      lines.pop();
      for (const line of lines) socket.send(line);
      socket.send('{"control":"replayed"}');
    });
    const rawPort = (raw.address() as { port: number }).port;
    const baseline = await receiveAll(`ws://127.0.0.1:${rawPort}`, (text) => text.startsWith('{"control"'));
    raw.close();

    const result = await receiveAll(
      `ws://127.0.0.1:${daemon.port}/v3/sessions/${session.id}/stream?afterSeq=0&token=${daemon.token}`,
      (text) => text.startsWith('{"control"'),
    );
    if (result.frames !== EVENTS + 1) throw new Error(`expected ${EVENTS + 1} frames, got ${result.frames}`);
    report({
      name: `replay of ${EVENTS} events from afterSeq=0`,
      value: result.ms,
      unit: "ms",
      baseline: { label: "bare file read + ws send", value: baseline.ms },
      target: "< 1000 ms",
      met: result.ms < 1000,
    });
  } finally {
    await daemon.stop();
    await cleanup();
  }
}
