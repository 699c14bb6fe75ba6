/**
 * Relay latency: time from the provider writing a token to a WebSocket client receiving it, at
 * 120 tok/s, through a real daemon process. Baseline, same run: the same client reading the
 * provider's SSE stream directly (no daemon). "Added" = daemon path − direct path.
 *
 * The model server runs on this thread and each client on a worker thread (its own heap), so a
 * garbage collection on one side is not counted as relay time; times are compared on the shared
 * clock `performance.timeOrigin + performance.now()`.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { api, spawnDaemon, tempHome } from "../../packages/daemon/test/fixtures/daemon-harness.js";
import { startScriptedServer } from "../../packages/daemon/test/fixtures/scripted-openai-server.js";
import { fmt, percentile, report } from "../stats.js";

const require = createRequire(import.meta.url);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 600);
const DELAY_MS = 1000 / 120;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

// A client on its own thread: "sse" reads the model's stream, "ws" the daemon's session stream.
const CLIENT = `
const { parentPort, workerData } = require("node:worker_threads");
const now = () => performance.timeOrigin + performance.now();
const received = [];
if (workerData.kind === "ws") {
  const WebSocket = require(workerData.wsPath);
  const socket = new WebSocket(workerData.url);
  socket.on("open", () => parentPort.postMessage({ ready: true }));
  socket.on("message", (data) => {
    const at = now();
    const text = String(data);
    if (text.includes('"event":"turn.token"')) received.push(at);
    else if (text.includes('"event":"turn.done"')) { socket.close(); parentPort.postMessage({ received }); }
  });
} else {
  parentPort.postMessage({ ready: true });
  (async () => {
    const response = await fetch(workerData.url, { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: "x" }] }) });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const at = now();
      buffer += decoder.decode(value, { stream: true });
      let newline = buffer.indexOf("\\n");
      while (newline !== -1) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\\n");
        if (line.includes('"content":"t')) received.push(at);
      }
    }
    parentPort.postMessage({ received });
  })();
}
`;

function client(kind: "ws" | "sse", url: string): { ready: Promise<void>; received: Promise<number[]> } {
  const worker = new Worker(CLIENT, { eval: true, workerData: { kind, url, wsPath: require.resolve("ws") } });
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  const received = new Promise<number[]>((resolve, reject) => {
    worker.on("message", (message: { ready?: boolean; received?: number[] }) => {
      if (message.ready) resolveReady();
      if (message.received) {
        resolve(message.received);
        void worker.terminate();
      }
    });
    worker.on("error", reject);
  });
  return { ready, received };
}

export async function relayLatency(): Promise<void> {
  const chunks = Array.from({ length: TOKENS }, (_, index) => `t${index} `);
  const model = await startScriptedServer({ replies: () => ({ chunks, delayMs: DELAY_MS }) });
  const { home, cleanup } = await tempHome("opta-bench-");
  const daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
  const wall = () => performance.timeOrigin;
  try {
    const call = api(daemon);
    const warm = (values: number[]) => values.slice(50); // skip warm-up tokens (JIT, first connection)
    const rounds: Array<{ direct: number[]; via: number[] }> = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      // Direct baseline: a client reads the SSE stream itself.
      model.chunkWrites.length = 0;
      const direct = client("sse", `${model.url}/chat/completions`);
      await direct.ready;
      const directReceived = await direct.received;
      const directWrites = model.chunkWrites.map((at) => wall() + at);
      const directLatency = directReceived.map((at, index) => at - directWrites[index]!);

      // Through the daemon: token → daemon → JSONL + WebSocket → client.
      const session = (await (await call("/v3/sessions", { method: "POST", json: {} })).json()) as { id: string };
      const viaClient = client(
        "ws",
        `ws://127.0.0.1:${daemon.port}/v3/sessions/${session.id}/stream?afterSeq=0&token=${daemon.token}`,
      );
      await viaClient.ready;
      model.chunkWrites.length = 0;
      await call(`/v3/sessions/${session.id}/turns`, { method: "POST", json: { text: "go", model: "m" } });
      const received = await viaClient.received;
      const writes = model.chunkWrites.map((at) => wall() + at);
      const viaDaemon = received.map((at, index) => at - writes[index]!);
      if (viaDaemon.length !== TOKENS || directLatency.length !== TOKENS) {
        throw new Error(
          `expected ${TOKENS} tokens, got ${viaDaemon.length} via daemon and ${directLatency.length} direct`,
        );
      }
      rounds.push({ direct: warm(directLatency), via: warm(viaDaemon) });
      console.log(
        `relay round ${round + 1}/${ROUNDS} @120 tok/s, ${TOKENS} tokens: via daemon p50 ${fmt(percentile(warm(viaDaemon), 50), 3)} ms p99 ${fmt(percentile(warm(viaDaemon), 99), 3)} ms; direct p50 ${fmt(percentile(warm(directLatency), 50), 3)} ms p99 ${fmt(percentile(warm(directLatency), 99), 3)} ms`,
      );
    }
    // The median round, so one stall of this shared machine does not decide the figure.
    const median = (pick: (round: { direct: number[]; via: number[] }) => number) => percentile(rounds.map(pick), 50);
    const p50Direct = median((round) => percentile(round.direct, 50));
    const p99Direct = median((round) => percentile(round.direct, 99));
    const p50Added = median((round) => percentile(round.via, 50) - percentile(round.direct, 50));
    const p99Added = median((round) => percentile(round.via, 99) - percentile(round.direct, 99));
    report({
      name: `relay latency added p50 (median of ${ROUNDS} rounds)`,
      value: p50Added,
      unit: "ms",
      baseline: { label: "direct SSE p50", value: p50Direct },
      target: "< 1 ms",
      met: p50Added < 1,
    });
    report({
      name: `relay latency added p99 (median of ${ROUNDS} rounds)`,
      value: p99Added,
      unit: "ms",
      baseline: { label: "direct SSE p99", value: p99Direct },
      target: "< 5 ms",
      met: p99Added < 5,
    });
  } finally {
    await daemon.stop();
    await model.close();
    await cleanup();
  }
}
