/**
 * Throughput: events persisted (JSONL, fsync at boundaries) and fanned out to 10 WebSocket
 * subscribers by an in-process daemon. Baseline, same run: a bare `ws` server broadcasting the same
 * serialised lines to 10 clients with no persistence (the ceiling of the transport).
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { Daemon } from "@opta/daemon";
import { WebSocketServer } from "ws";
import { tempHome } from "../../packages/daemon/test/fixtures/daemon-harness.js";
import { report } from "../stats.js";

const require = createRequire(import.meta.url);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const SUBSCRIBERS = 10;
const BATCH = 200;

// Subscribers live in a worker so their parsing does not count against the daemon's thread.
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const WebSocket = require(workerData.wsPath);
let done = 0;
const sockets = [];
for (let index = 0; index < workerData.count; index += 1) {
  const socket = new WebSocket(workerData.url);
  let received = 0;
  socket.on("open", () => { if (sockets.push(socket) === workerData.count) parentPort.postMessage("ready"); });
  socket.on("message", (data) => {
    if (data.length < 40 && String(data).startsWith('{"control"')) return;
    received += 1;
    if (received === workerData.expected) { done += 1; if (done === workerData.count) parentPort.postMessage("done"); }
  });
}
parentPort.on("message", () => { for (const socket of sockets) socket.terminate(); });
`;

function subscribers(url: string, expected: number): { ready: Promise<void>; done: Promise<void>; stop(): void } {
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { url, count: SUBSCRIBERS, expected, wsPath: require.resolve("ws") },
  });
  let resolveReady!: () => void;
  let resolveDone!: () => void;
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  worker.on("message", (message) => (message === "ready" ? resolveReady() : resolveDone()));
  return {
    ready,
    done,
    stop() {
      worker.postMessage("stop");
      void worker.terminate();
    },
  };
}

export async function throughput(): Promise<void> {
  // Baseline: raw broadcast.
  const lines = Array.from({ length: EVENTS }, (_, index) =>
    JSON.stringify({
      seq: index + 1,
      event: "turn.token",
      ts: new Date().toISOString(),
      sessionId: "s-bench",
      turnId: "t-1",
      delta: `tok${index} `,
      model: "m",
    }),
  );
  const raw = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((resolve) => raw.once("listening", resolve));
  const rawPort = (raw.address() as { port: number }).port;
  const rawSubs = subscribers(`ws://127.0.0.1:${rawPort}`, EVENTS);
  await rawSubs.ready;
  let started = performance.now();
  for (let index = 0; index < EVENTS; index += BATCH) {
    for (const line of lines.slice(index, index + BATCH)) for (const client of raw.clients) client.send(line);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await rawSubs.done;
  const rawRate = EVENTS / ((performance.now() - started) / 1000);
  rawSubs.stop();
  raw.close();

  // Opta: the daemon's store appends (seq, ts, JSONL write) and its stream server fans out.
  const { home, cleanup } = await tempHome("opta-bench-");
  const daemon = await Daemon.start({ home, port: 0 });
  try {
    const session = daemon.store.create({ cwd: home, mode: "chat", model: "m" });
    const subs = subscribers(
      `ws://127.0.0.1:${daemon.port}/v3/sessions/${session.id}/stream?afterSeq=1&token=${daemon.token}`,
      EVENTS,
    );
    await subs.ready;
    await new Promise((resolve) => setTimeout(resolve, 100));
    started = performance.now();
    for (let index = 0; index < EVENTS; index += BATCH) {
      const end = Math.min(EVENTS, index + BATCH);
      for (let seq = index; seq < end; seq += 1) {
        daemon.store.append(session.id, { event: "turn.token", turnId: "t-1", delta: `tok${seq} `, model: "m" });
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await subs.done;
    const rate = EVENTS / ((performance.now() - started) / 1000);
    subs.stop();
    const check = await daemon.store.verify(session.id);
    if (!check.ok) throw new Error(`log verification failed: ${check.problems.slice(0, 3).join("; ")}`);
    report({
      name: `throughput (${EVENTS} events persisted, ${SUBSCRIBERS} subscribers)`,
      value: rate,
      unit: "events/s",
      baseline: { label: "raw ws broadcast, no persistence", value: rawRate },
      target: "≥ 20000 events/s",
      met: rate >= 20_000,
    });
  } finally {
    await daemon.stop();
    await cleanup();
  }
}
