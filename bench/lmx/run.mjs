#!/usr/bin/env node

// Opta LMX benchmark: decode tokens/s through LMX's HTTP API vs node-llama-cpp in-process (same
// model, threads, sampling and prompts), the time-to-first-token the server adds, and aggregate
// tokens/s at 1, 2 and 4 concurrent streams. Build first (`npx tsc -b`, which is all
// `npm run build` does for this package), then run it with plain node — no npm script involved:
//
//   node bench/lmx/run.mjs [--size mid] [--threads N] [--tokens 128] [--runs 5] [--parallel 4] [--json]
//
// Every figure is the median of --runs runs (after one warm-up run each); in-process and LMX runs
// alternate with the same prompt and seed, and the min–max spread and the load average are
// printed too, because the machine this runs on is usually shared.
// The model is generated (writeTestModel, seed 1) into a temporary directory and deleted after.
// LMX runs as its own process (`opta lmx start`, the way users run it), so the benchmark's HTTP
// clients parse their SSE chunks on another JavaScript thread than the one driving LMX's decode.

import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { Agent, request as httpRequest } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaChat, LlamaLogLevel, TokenBias } from "node-llama-cpp";
import { defaultThreads, writeTestModel } from "../../packages/lmx/dist/index.js";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "mid" },
    threads: { type: "string" },
    tokens: { type: "string", default: "128" },
    runs: { type: "string", default: "5" },
    // LMX's parallel sequences per model (its default is 4; 1 shows what the 4-sequence context costs).
    parallel: { type: "string", default: "4" },
    json: { type: "boolean", default: false },
  },
});
const size = values.size;
const threads = values.threads ? Number(values.threads) : defaultThreads();
const maxTokens = Number(values.tokens);
const runs = Number(values.runs);
const sampling = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05 };
const log = (...parts) => values.json || console.error(...parts);
const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const spread = (list) => `${Math.min(...list).toFixed(1)}–${Math.max(...list).toFixed(1)}`;
const loadBefore = loadavg()[0];
const prompt = (index) => `Request ${index}: write a long story about a fox who maintains an inference server.`;

const opta = join(dirname(fileURLToPath(import.meta.url)), "../../apps/cli/bin/opta.js");

/**
 * Starts `opta lmx start` in a child process on a free port and resolves with its URL (read from
 * its `lmx.started` log line) and a close() that stops it with SIGTERM, as Ctrl+C would.
 */
async function startLmxProcess(modelsDir, home) {
  const child = spawn(
    process.execPath,
    [
      opta,
      "lmx",
      "start",
      "--port",
      "0",
      "--models",
      modelsDir,
      "--threads",
      String(threads),
      "--parallel",
      values.parallel,
    ],
    { env: { ...process.env, OPTA_HOME: home }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text) => {
    stderr += text;
  });
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    lines.on("line", (line) => {
      try {
        const entry = JSON.parse(line);
        if (entry.event === "lmx.started") resolve(entry.url);
      } catch {}
    });
    exited.then(([code]) => reject(new Error(`opta lmx start exited (${code}): ${stderr.trim()}`)));
  });
  return {
    url,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

const dir = await mkdtemp(join(tmpdir(), "opta-lmx-bench-"));
let lmx;
try {
  log(`writing the ${size} test model…`);
  await mkdir(join(dir, "models"));
  const modelPath = join(dir, "models", `${size}.gguf`);
  await writeTestModel(modelPath, { size, seed: 1 });

  // ---- in-process baseline: LlamaChat on one sequence, the way an app embeds node-llama-cpp ----
  const llama = await getLlama({ gpu: false, maxThreads: threads, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: 4096, sequences: 1, threads });
  const chat = new LlamaChat({ contextSequence: context.getSequence() });
  const eos = model.tokens.eos;
  const inProcess = async (index) => {
    const started = performance.now();
    const stamps = [];
    let firstText;
    await chat.generateResponse(
      [
        { type: "user", text: prompt(index) },
        { type: "model", response: [] },
      ],
      {
        ...sampling,
        // LMX's sampling: no repeat penalty unless the request asks for one.
        repeatPenalty: false,
        seed: index,
        maxTokens,
        tokenBias: () => new TokenBias(model.tokenizer).set(eos, "never"),
        onToken: (tokens) => {
          for (const _ of tokens) stamps.push(performance.now());
        },
        // First visible text, as a streaming client sees it (LlamaChat holds back text that could
        // start a stop trigger or a function call).
        onTextChunk: (text) => {
          if (text) firstText ??= performance.now();
        },
      },
    );
    return { ttftMs: firstText - started, tokensPerSecond: (stamps.length - 1) / ((stamps.at(-1) - stamps[0]) / 1000) };
  };

  // ---- the same through LMX's HTTP API (official streaming format, parsed by hand), with LMX in
  // its own process as users run it ----
  lmx = await startLmxProcess(join(dir, "models"), join(dir, "home"));
  const stream = async (index, tokens = maxTokens) => {
    const started = performance.now();
    const response = await fetch(`${lmx.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: size,
        messages: [{ role: "user", content: prompt(index) }],
        max_tokens: tokens,
        temperature: sampling.temperature,
        top_k: sampling.topK,
        top_p: sampling.topP,
        min_p: sampling.minP,
        seed: index,
        logit_bias: { [String(eos)]: -100 },
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    const decoder = new TextDecoder();
    let buffer = "";
    let first;
    let last;
    let usage;
    for await (const bytes of response.body) {
      buffer += decoder.decode(bytes, { stream: true });
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\n\n");
        if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
        const data = JSON.parse(event.slice(6));
        if (data.usage) usage = data.usage;
        if (data.choices?.[0]?.delta?.content) {
          first ??= performance.now();
          last = performance.now();
        }
      }
    }
    const generated = usage.completion_tokens;
    return {
      ttftMs: first - started,
      tokensPerSecond: (generated - 1) / ((last - first) / 1000),
      generated,
      startedAt: started,
      endedAt: performance.now(),
    };
  };
  // The same request from a minimal node:http client (keep-alive): what the server adds, without
  // the cost of the fetch client itself (undici's request setup and web-stream body, which count
  // in the fetch figure's TTFT).
  const agent = new Agent({ keepAlive: true });
  const streamHttp = (index, tokens = maxTokens) =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const body = JSON.stringify({
        model: size,
        messages: [{ role: "user", content: prompt(index) }],
        max_tokens: tokens,
        temperature: sampling.temperature,
        top_k: sampling.topK,
        top_p: sampling.topP,
        min_p: sampling.minP,
        seed: index,
        logit_bias: { [String(eos)]: -100 },
        stream: true,
        stream_options: { include_usage: true },
      });
      const request = httpRequest(
        `${lmx.url}/v1/chat/completions`,
        {
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        },
        (response) => {
          response.setEncoding("utf8");
          let buffer = "";
          let first;
          let last;
          let generated;
          response.on("data", (text) => {
            const now = performance.now();
            buffer += text;
            let end = buffer.indexOf("\n\n");
            while (end >= 0) {
              const event = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              end = buffer.indexOf("\n\n");
              if (!event.startsWith("data: {")) continue;
              if (/"content":"[^"]/.test(event)) {
                first ??= now;
                last = now;
              }
              const usage = /"completion_tokens":(\d+)/.exec(event);
              if (usage) generated = Number(usage[1]);
            }
          });
          response.on("end", () =>
            resolve({ ttftMs: first - started, tokensPerSecond: (generated - 1) / ((last - first) / 1000) }),
          );
          response.on("error", reject);
        },
      );
      request.on("error", reject);
      request.end(body);
    });

  // Interleaved, same prompt and seed on every side: a change in the load from other processes
  // hits all figures of a round, not one side's whole series.
  await inProcess(0);
  await stream(0);
  await streamHttp(900);
  const local = [];
  const served = [];
  const servedHttp = [];
  for (let run = 1; run <= runs; run++) {
    local.push(await inProcess(run));
    served.push(await stream(run));
    // Another prompt than the fetch request just before it, or LMX would reuse that prompt's cached
    // tokens (its slots keep their KV cache) and skip most of the prefill.
    servedHttp.push(await streamHttp(900 + run));
  }
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  log(
    "in-process runs (ttft ms, tok/s)",
    local.map((r) => [r.ttftMs.toFixed(1), r.tokensPerSecond.toFixed(1)]),
  );
  log(
    "LMX runs (ttft ms, tok/s)",
    served.map((r) => [r.ttftMs.toFixed(1), r.tokensPerSecond.toFixed(1)]),
  );

  const concurrency = {};
  for (const streams of [1, 2, 4]) {
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: streams }, (_, index) => stream(1000 * streams + index)));
    const seconds = (performance.now() - started) / 1000;
    concurrency[streams] = results.reduce((sum, result) => sum + result.generated, 0) / seconds;
  }
  await lmx.close();
  lmx = undefined;

  const localRate = median(local.map((result) => result.tokensPerSecond));
  const servedRate = median(served.map((result) => result.tokensPerSecond));
  const localTtft = median(local.map((result) => result.ttftMs));
  const servedTtft = median(served.map((result) => result.ttftMs));
  const figures = {
    model: `${size} test model (writeTestModel seed 1)`,
    threads,
    maxTokens,
    runs,
    inProcessTokensPerSecond: Number(localRate.toFixed(1)),
    lmxTokensPerSecond: Number(servedRate.toFixed(1)),
    ratio: Number((servedRate / localRate).toFixed(3)),
    inProcessTtftMs: Number(localTtft.toFixed(1)),
    lmxTtftMs: Number(servedTtft.toFixed(1)),
    ttftAddedMs: Number((servedTtft - localTtft).toFixed(1)),
    // Median over the interleaved pairs of (LMX − in-process): less exposed to load swings.
    ttftAddedPairedMs: Number(median(served.map((result, index) => result.ttftMs - local[index].ttftMs)).toFixed(1)),
    // The same with the node:http client: the server's own share.
    lmxTtftHttpClientMs: Number(median(servedHttp.map((result) => result.ttftMs)).toFixed(1)),
    lmxTokensPerSecondHttpClient: Number(median(servedHttp.map((result) => result.tokensPerSecond)).toFixed(1)),
    ratioHttpClient: Number((median(servedHttp.map((result) => result.tokensPerSecond)) / localRate).toFixed(3)),
    ttftAddedHttpClientPairedMs: Number(
      median(servedHttp.map((result, index) => result.ttftMs - local[index].ttftMs)).toFixed(1),
    ),
    spread: {
      inProcessTokensPerSecond: spread(local.map((result) => result.tokensPerSecond)),
      lmxTokensPerSecond: spread(served.map((result) => result.tokensPerSecond)),
      inProcessTtftMs: spread(local.map((result) => result.ttftMs)),
      lmxTtftMs: spread(served.map((result) => result.ttftMs)),
    },
    loadAverage: { before: Number(loadBefore.toFixed(2)), after: Number(loadavg()[0].toFixed(2)) },
    aggregateTokensPerSecond: Object.fromEntries(
      Object.entries(concurrency).map(([key, value]) => [key, Number(value.toFixed(1))]),
    ),
  };
  if (values.json) console.log(JSON.stringify(figures, null, 2));
  else {
    console.log(`model: ${figures.model}, threads ${threads}, ${maxTokens} tokens, median of ${runs} runs`);
    console.log(
      `decode tok/s  in-process ${figures.inProcessTokensPerSecond} (${figures.spread.inProcessTokensPerSecond})  LMX HTTP ${figures.lmxTokensPerSecond} (${figures.spread.lmxTokensPerSecond})  ratio ${figures.ratio}×`,
    );
    console.log(
      `TTFT ms       in-process ${figures.inProcessTtftMs} (${figures.spread.inProcessTtftMs})  LMX HTTP ${figures.lmxTtftMs} (${figures.spread.lmxTtftMs})  added ${figures.ttftAddedMs} ms (paired median ${figures.ttftAddedPairedMs} ms)`,
    );
    console.log(
      `via a node:http client (the server's share, without fetch's own cost): decode ${figures.lmxTokensPerSecondHttpClient} tok/s ratio ${figures.ratioHttpClient}×  TTFT ${figures.lmxTtftHttpClientMs} ms added ${figures.ttftAddedHttpClientPairedMs} ms (paired median)`,
    );
    console.log(`load average  ${figures.loadAverage.before} before, ${figures.loadAverage.after} after`);
    console.log(
      `aggregate tok/s  1 stream ${figures.aggregateTokensPerSecond[1]}  2 streams ${figures.aggregateTokensPerSecond[2]}  4 streams ${figures.aggregateTokensPerSecond[4]}`,
    );
  }
} finally {
  await lmx?.close();
  await rm(dir, { recursive: true, force: true });
}
