/**
 * Relay latency: time from the provider writing a token to a WebSocket client receiving it, at
 * 120 tok/s, through a real daemon process. Baseline, same run: the same client reading the
 * provider's SSE stream directly (no daemon). "Added" = daemon path − direct path.
 */

import WebSocket from "ws";
import { api, spawnDaemon, tempHome } from "../../packages/daemon/test/fixtures/daemon-harness.js";
import { startScriptedServer } from "../../packages/daemon/test/fixtures/scripted-openai-server.js";
import { fmt, percentile, report } from "../stats.js";

const TOKENS = Number(process.env.BENCH_TOKENS ?? 600);
const DELAY_MS = 1000 / 120;

export async function relayLatency(): Promise<void> {
  const chunks = Array.from({ length: TOKENS }, (_, index) => `t${index} `);
  const model = await startScriptedServer({ replies: () => ({ chunks, delayMs: DELAY_MS }) });
  const { home, cleanup } = await tempHome("opta-bench-");
  const daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
  try {
    // Direct baseline: read the SSE stream ourselves.
    model.chunkWrites.length = 0;
    const directReceived: number[] = [];
    const response = await fetch(`${model.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: "x" }] }),
    });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const now = performance.now();
      buffer += decoder.decode(value, { stream: true });
      let newline = buffer.indexOf("\n");
      while (newline !== -1) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
        if (line.includes('"content":"t')) directReceived.push(now);
      }
    }
    const directWrites = [...model.chunkWrites];
    const direct = directReceived.map((at, index) => at - directWrites[index]!);

    // Through the daemon: token → daemon → JSONL + WebSocket → client.
    model.chunkWrites.length = 0;
    const call = api(daemon);
    const session = (await (await call("/v3/sessions", { method: "POST", json: {} })).json()) as { id: string };
    const socket = new WebSocket(
      `ws://127.0.0.1:${daemon.port}/v3/sessions/${session.id}/stream?afterSeq=0&token=${daemon.token}`,
    );
    const received: number[] = [];
    const finished = new Promise<void>((resolve) => {
      socket.on("message", (data) => {
        const now = performance.now();
        const text = String(data);
        if (text.includes('"event":"turn.token"')) received.push(now);
        else if (text.includes('"event":"turn.done"')) resolve();
      });
    });
    await new Promise((resolve) => socket.once("open", resolve));
    await call(`/v3/sessions/${session.id}/turns`, { method: "POST", json: { text: "go", model: "m" } });
    await finished;
    socket.close();
    const writes = model.chunkWrites;
    const viaDaemon = received.map((at, index) => at - writes[index]!);
    if (viaDaemon.length !== TOKENS || direct.length !== TOKENS) {
      throw new Error(`expected ${TOKENS} tokens, got ${viaDaemon.length} via daemon and ${direct.length} direct`);
    }
    // Skip warm-up tokens (JIT, first connection).
    const warm = (values: number[]) => values.slice(50);
    const p50Added = percentile(warm(viaDaemon), 50) - percentile(warm(direct), 50);
    const p99Added = percentile(warm(viaDaemon), 99) - percentile(warm(direct), 99);
    console.log(
      `relay latency @120 tok/s, ${TOKENS} tokens: via daemon p50 ${fmt(percentile(warm(viaDaemon), 50), 3)} ms p99 ${fmt(percentile(warm(viaDaemon), 99), 3)} ms; direct p50 ${fmt(percentile(warm(direct), 50), 3)} ms p99 ${fmt(percentile(warm(direct), 99), 3)} ms`,
    );
    report({
      name: "relay latency added p50",
      value: p50Added,
      unit: "ms",
      baseline: { label: "direct SSE p50", value: percentile(warm(direct), 50) },
      target: "< 1 ms",
      met: p50Added < 1,
    });
    report({
      name: "relay latency added p99",
      value: p99Added,
      unit: "ms",
      baseline: { label: "direct SSE p99", value: percentile(warm(direct), 99) },
      target: "< 5 ms",
      met: p99Added < 5,
    });
  } finally {
    await daemon.stop();
    await model.close();
    await cleanup();
  }
}
