#!/usr/bin/env node

// Opta LMX benchmark: decode tokens/s through LMX's HTTP API vs node-llama-cpp in-process (same
// model, threads, sampling and prompts), the time-to-first-token the server adds, and aggregate
// tokens/s at 1, 2 and 4 concurrent streams. Build first (`npx tsc -b`, which is all
// `npm run build` does for this package), then run it with plain node — no npm script involved:
//
//   node bench/lmx/run.mjs [--size mid] [--threads N] [--tokens 128] [--runs 8] [--ttft-rounds 24]
//                          [--parallel 4] [--json]
//                          [--llama-server PATH [--llama-server-only] [--gguf PATH] [--llama-rounds 8]
//                           [--lmx-env KEY=VALUE]…]
//
// The in-process baseline runs on the same context LMX runs (its parallel sequences × its context
// size), so the ratio is what the server adds: HTTP, SSE, JSON, the process boundary. A second
// baseline on a 1-sequence context shows what the parallel sequences themselves cost.
// Every figure is the median of --runs rounds (after one warm-up run each); in-process and LMX runs
// alternate with the same prompt and seed, and the min–max spread and the load average are
// printed too, because the machine this runs on is usually shared.
// The model is generated (writeTestModel, seed 1) into a temporary directory and deleted after.
// LMX runs as its own process (`opta lmx start`, the way users run it), so the benchmark's HTTP
// clients parse their SSE chunks on another JavaScript thread than the one driving LMX's decode.
//
// With --llama-server PATH (a llama-server built from the llama.cpp source node-llama-cpp bundles:
// scripts/build-llama-server.sh), it first compares LMX with llama.cpp's own server: both as their
// own processes on the same GGUF (the generated model, or --gguf PATH, e.g. a real quantized one),
// the same threads, one sequence, a 4096-token context, alternating paired rounds; CPU time per
// generated token (each server process's /proc/PID/stat), decode tok/s and TTFT, and their ratios
// (see versus-llama-server.mjs). --llama-server-only stops after that comparison.

import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { Agent, request as httpRequest } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaChat, LlamaLogLevel, TokenBias } from "node-llama-cpp";
import { defaultThreads, writeTestModel } from "../../packages/lmx/dist/index.js";
import { compareWithLlamaServer, startLlamaServer, startLmxServer } from "./versus-llama-server.mjs";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "mid" },
    threads: { type: "string" },
    tokens: { type: "string", default: "128" },
    runs: { type: "string", default: "8" },
    // Extra short rounds (4 tokens) for the TTFT figures.
    "ttft-rounds": { type: "string", default: "24" },
    // LMX's parallel sequences per model (its default is 4; 1 shows what the 4-sequence context costs).
    parallel: { type: "string", default: "4" },
    json: { type: "boolean", default: false },
    "llama-server": { type: "string" },
    "llama-server-only": { type: "boolean", default: false },
    // A GGUF for the llama-server comparison instead of the generated model.
    gguf: { type: "string" },
    "llama-rounds": { type: "string", default: "8" },
    // KEY=VALUE for the LMX process only in the llama-server comparison (e.g. OMP_WAIT_POLICY=passive).
    "lmx-env": { type: "string", multiple: true, default: [] },
  },
});
const size = values.size;
const threads = values.threads ? Number(values.threads) : defaultThreads();
const maxTokens = Number(values.tokens);
const runs = Number(values.runs);
const ttftRounds = Number(values["ttft-rounds"]);
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
// The measured rounds' prompts: the same length in tokens for every variant of a round, and a first
// word (one letter, so one token) that differs from the previous prompt on the same sequence or LMX
// slot — so every run evaluates the same number of prompt tokens (slots and sequences keep their
// KV cache, and a longer shared prefix would make one side's prefill shorter).
const roundPrompt = (variant, round) =>
  `${String.fromCharCode(65 + ((4 * round + variant) % 26))} request ${round}: write a long story about a fox who maintains an inference server.`;

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
  // LMX's own account of each request (its chat.done log line: server-side TTFT and decode rate).
  const done = [];
  let onDone = () => {};
  const url = await new Promise((resolve, reject) => {
    lines.on("line", (line) => {
      try {
        const entry = JSON.parse(line);
        if (entry.event === "lmx.started") resolve(entry.url);
        if (entry.event === "chat.done") {
          done.push(entry);
          onDone();
        }
      } catch {}
    });
    exited.then(([code]) => reject(new Error(`opta lmx start exited (${code}): ${stderr.trim()}`)));
  });
  return {
    url,
    /** The chat.done entry of the n-th chat request (0-based), once LMX has logged it. */
    async doneEntry(n) {
      while (done.length <= n) await new Promise((resolve) => (onDone = resolve));
      return done[n];
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Row `row` of a Williams square of order n (even): each item follows every other exactly once. */
function williamsRow(n, row) {
  const base = [0];
  for (let k = 1; base.length < n; k++) {
    base.push(k);
    if (base.length < n) base.push(n - k);
  }
  return base.map((item) => (item + row) % n);
}

const dir = await mkdtemp(join(tmpdir(), "opta-lmx-bench-"));
let lmx;
try {
  log(`writing the ${size} test model…`);
  await mkdir(join(dir, "models"));
  const modelPath = join(dir, "models", `${size}.gguf`);
  // (Not needed when only the llama-server comparison runs, on a given file.)
  if (!(values["llama-server-only"] && values.gguf)) await writeTestModel(modelPath, { size, seed: 1 });

  if (values["llama-server"]) {
    const comparisonModels = join(dir, "comparison-models");
    await mkdir(comparisonModels);
    const comparedPath = values.gguf ? resolve(values.gguf) : modelPath;
    const comparedName = values.gguf ? basename(comparedPath).replace(/\.gguf$/i, "") : size;
    await symlink(comparedPath, join(comparisonModels, `${comparedName}.gguf`));
    // The end-of-generation token, banned on both sides so that every run generates --tokens tokens.
    const probe = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const probeModel = await probe.loadModel({ modelPath: comparedPath, gpuLayers: 0, vocabOnly: true });
    const eos = probeModel.tokens.eos ?? undefined;
    await probeModel.dispose();
    await probe.dispose();
    const contextSize = 4096;
    log(
      `comparing LMX with ${values["llama-server"]} on ${comparedName}, ${threads} threads, 1 sequence × ${contextSize}…`,
    );
    const comparisonLoadBefore = loadavg();
    const servers = {
      llamaServer: await startLlamaServer(values["llama-server"], comparedPath, { threads, contextSize }),
      lmx: await startLmxServer(opta, comparisonModels, join(dir, "comparison-home"), {
        threads,
        contextSize,
        env: Object.fromEntries(
          values["lmx-env"].map((pair) => [pair.split("=")[0], pair.slice(pair.indexOf("=") + 1)]),
        ),
      }),
    };
    let comparison;
    try {
      comparison = await compareWithLlamaServer({
        servers,
        modelName: comparedName,
        rounds: Number(values["llama-rounds"]),
        maxTokens,
        sampling,
        eos,
        prompt: (round, variant) => roundPrompt(variant, round),
        log,
      });
    } finally {
      await servers.lmx.close();
      await servers.llamaServer.close();
    }
    const c = comparison;
    const r = (value, digits = 1) => Number(value.toFixed(digits));
    const summary = {
      model: comparedName,
      threads,
      contextSize,
      rounds: c.rounds,
      maxTokens,
      lmx: {
        cpuMsPerToken: r(c.lmx.cpuMsPerToken, 2),
        mainThreadCpuMsPerToken: r(c.lmx.mainThreadCpuMsPerToken, 2),
        tokensPerSecond: r(c.lmx.tokensPerSecond),
        ttftMs: r(c.lmx.ttftMs),
        generatedTokens: c.lmx.generatedTokens,
        promptTokens: c.lmx.promptTokens,
      },
      llamaServer: {
        cpuMsPerToken: r(c.llamaServer.cpuMsPerToken, 2),
        tokensPerSecond: r(c.llamaServer.tokensPerSecond),
        ttftMs: r(c.llamaServer.ttftMs),
        generatedTokens: c.llamaServer.generatedTokens,
        promptTokens: c.llamaServer.promptTokens,
      },
      cpuPerTokenRatio: r(c.cpuPerTokenRatio, 3),
      cpuPerTokenRatioPaired: r(c.cpuPerTokenRatioPaired, 3),
      tokensPerSecondRatioPaired: r(c.tokensPerSecondRatioPaired, 3),
      ttftAddedPairedMs: r(c.ttftAddedPairedMs),
      // 1-minute load average just before the servers started and after the last round: CPU time per
      // token is the figure that load skews least, but a shared machine still inflates it.
      loadAverage: { before: r(comparisonLoadBefore[0], 2), after: r(loadavg()[0], 2) },
      llamaBuild: servers.lmx.llamaBuild,
    };
    if (values.json) console.log(JSON.stringify({ llamaServer: summary }, null, 2));
    else {
      console.log(
        `LMX vs llama-server: ${summary.model}, threads ${threads}, 1 sequence × ${contextSize}, ${c.rounds} paired rounds of ${maxTokens} tokens`,
      );
      console.log(
        `CPU ms/token  LMX ${summary.lmx.cpuMsPerToken} (JavaScript main thread ${summary.lmx.mainThreadCpuMsPerToken})  llama-server ${summary.llamaServer.cpuMsPerToken}  ratio ${summary.cpuPerTokenRatio}× (paired median ${summary.cpuPerTokenRatioPaired}×)   target ≤ 1.05×`,
      );
      console.log(
        `decode tok/s  LMX ${summary.lmx.tokensPerSecond}  llama-server ${summary.llamaServer.tokensPerSecond}  ratio (paired) ${summary.tokensPerSecondRatioPaired}×   target ≥ 0.95×`,
      );
      console.log(
        `TTFT ms       LMX ${summary.lmx.ttftMs}  llama-server ${summary.llamaServer.ttftMs}  added (paired) ${summary.ttftAddedPairedMs} ms; prompt tokens ${summary.lmx.promptTokens} / ${summary.llamaServer.promptTokens}; load average ${summary.loadAverage.before} → ${summary.loadAverage.after}; LMX binary ${summary.llamaBuild}`,
      );
    }
    if (values["llama-server-only"]) {
      await rm(dir, { recursive: true, force: true });
      process.exit(0);
    }
  }

  // ---- in-process baselines: LlamaChat the way an app embeds node-llama-cpp. Two contexts: the
  // one LMX itself runs (its parallel sequences × its context size, its dispatch rule — so the ratio
  // measures what the server adds: HTTP, SSE, the process boundary), and a plain 1-sequence
  // context, which shows what LMX's parallel sequences cost on top (their KV cache is allocated per
  // sequence, since node-llama-cpp 3.22 builds every context with kv_unified = false). ----
  const llama = await getLlama({ gpu: false, maxThreads: threads, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const eos = model.tokens.eos;
  for (let run = 1; run <= runs + ttftRounds; run++) {
    const lengths = [0, 1, 2, 3].map((variant) => model.tokenize(roundPrompt(variant, run)).length);
    if (new Set(lengths).size !== 1) throw new Error(`round ${run}: prompts of unequal length ${lengths.join(", ")}`);
  }
  const oneSequenceContext = await model.createContext({ contextSize: 4096, sequences: 1, threads });
  const baselines = { oneSequence: new LlamaChat({ contextSequence: oneSequenceContext.getSequence() }) };
  const inProcess = async (chat, index, text = prompt(index), tokens = maxTokens) => {
    const started = performance.now();
    const stamps = [];
    let firstText;
    await chat.generateResponse(
      [
        { type: "user", text },
        { type: "model", response: [] },
      ],
      {
        ...sampling,
        // LMX's sampling: no repeat penalty unless the request asks for one.
        repeatPenalty: false,
        seed: index,
        maxTokens: tokens,
        tokenBias: () => new TokenBias(model.tokenizer).set(eos, "never"),
        onToken: (tokens) => {
          for (const _ of tokens) stamps.push(performance.now());
        },
        // First visible text, as a streaming client sees it (LlamaChat holds back text that could
        // start a stop trigger or a function call).
        onTextChunk: (chunk) => {
          if (chunk) firstText ??= performance.now();
        },
      },
    );
    return { ttftMs: firstText - started, tokensPerSecond: (stamps.length - 1) / ((stamps.at(-1) - stamps[0]) / 1000) };
  };

  // ---- the same through LMX's HTTP API (official streaming format, parsed by hand), with LMX in
  // its own process as users run it ----
  lmx = await startLmxProcess(join(dir, "models"), join(dir, "home"));
  let chatRequests = 0;
  const stream = async (index, tokens = maxTokens, text = prompt(index)) => {
    chatRequests++;
    const started = performance.now();
    const response = await fetch(`${lmx.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: size,
        messages: [{ role: "user", content: text }],
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
  const streamHttp = (index, tokens = maxTokens, text = prompt(index)) =>
    new Promise((resolve, reject) => {
      chatRequests++;
      const started = performance.now();
      const body = JSON.stringify({
        model: size,
        messages: [{ role: "user", content: text }],
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

  // LMX's own context, as it reports it once the model is loaded (the warm-up request loads it).
  await stream(0);
  const status = await (await fetch(`${lmx.url}/api/v1/models`)).json();
  const served0 = status.models.find((entry) => entry.id === size);
  const sameContext = await model.createContext({
    contextSize: served0.context_size,
    sequences: served0.parallel,
    threads,
    // LMX's rule with one request generating: decode at once (see packages/lmx/src/models/registry.ts).
    batching: { dispatchSchedule: (dispatch) => dispatch() },
  });
  const sameContextSequence = sameContext.getSequence();
  baselines.sameContext = new LlamaChat({ contextSequence: sameContextSequence });
  // Keep the other sequences allocated, as LMX's idle slots are.
  const idleSequences = Array.from({ length: served0.parallel - 1 }, () => sameContext.getSequence());

  // A sequential request's figures as LMX itself measured them (decode rate from its first token to
  // its last, TTFT from the request's arrival): tells the server's share from the client's.
  const withServerSide = async (result) => {
    const entry = await lmx.doneEntry(chatRequests - 1);
    return { ...result, serverTokensPerSecond: entry.tokensPerSecond, serverTtftMs: entry.ttftMs };
  };

  // Interleaved, with the same seed and prompt length on every side: a change in the load from
  // other processes hits all figures of a round, not one side's whole series. The order within a round follows a
  // Williams square, so every variant comes after every other one equally often: whichever run
  // follows a switch between the two processes starts with cold CPU caches (measured: ~10 ms more
  // TTFT), and a fixed order would charge that to the same variant every time.
  await inProcess(baselines.oneSequence, 0);
  await inProcess(baselines.sameContext, 0);
  await streamHttp(900);
  const measureRounds = async (first, count, tokens) => {
    const rounds = { local: [], localSame: [], served: [], servedHttp: [] };
    for (let run = first; run < first + count; run++) {
      const steps = [
        async () => rounds.local.push(await inProcess(baselines.oneSequence, run, roundPrompt(0, run), tokens)),
        async () => rounds.localSame.push(await inProcess(baselines.sameContext, run, roundPrompt(1, run), tokens)),
        async () => rounds.served.push(await withServerSide(await stream(run, tokens, roundPrompt(2, run)))),
        async () => rounds.servedHttp.push(await withServerSide(await streamHttp(run, tokens, roundPrompt(3, run)))),
      ];
      for (const step of williamsRow(steps.length, run % steps.length)) await steps[step]();
    }
    return rounds;
  };
  // Decode rounds, then short TTFT rounds: prefill varies by ~10 ms with the state of the CPU
  // caches, so the TTFT difference needs more pairs than the decode rate does, and 4-token runs
  // make them cheap.
  const { local, localSame, served, servedHttp } = await measureRounds(1, runs, maxTokens);
  const ttftPhase = await measureRounds(runs + 1, ttftRounds, 4);
  for (const sequence of idleSequences) sequence.dispose();
  await sameContext.dispose();
  await oneSequenceContext.dispose();
  await model.dispose();
  await llama.dispose();
  log(
    "in-process runs, LMX's context (ttft ms, tok/s)",
    localSame.map((r) => [r.ttftMs.toFixed(1), r.tokensPerSecond.toFixed(1)]),
  );
  log(
    "in-process runs, 1-sequence context (ttft ms, tok/s)",
    local.map((r) => [r.ttftMs.toFixed(1), r.tokensPerSecond.toFixed(1)]),
  );
  log(
    "LMX runs, fetch (ttft ms, tok/s)",
    served.map((r) => [r.ttftMs.toFixed(1), r.tokensPerSecond.toFixed(1)]),
  );
  log(
    "LMX runs, node:http (ttft ms, tok/s)",
    servedHttp.map((r) => [r.ttftMs.toFixed(1), r.tokensPerSecond.toFixed(1)]),
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

  const rate = (list) => median(list.map((result) => result.tokensPerSecond));
  const ttft = (list) => median(list.map((result) => result.ttftMs));
  // Median over the interleaved rounds of a per-round figure: less exposed to load swings.
  const paired = (list, base, figure) => median(list.map((result, index) => figure(result, base[index])));
  const pairedRatio = (list, base) => paired(list, base, (a, b) => a.tokensPerSecond / b.tokensPerSecond);
  const pairedAdded = (list, base) => paired(list, base, (a, b) => a.ttftMs - b.ttftMs);
  const round = (value, digits = 1) => Number(value.toFixed(digits));
  const figures = {
    model: `${size} test model (writeTestModel seed 1)`,
    threads,
    maxTokens,
    runs,
    lmxContext: { sequences: served0.parallel, contextSize: served0.context_size },
    inProcessTokensPerSecond: round(rate(localSame)),
    inProcessOneSequenceTokensPerSecond: round(rate(local)),
    lmxTokensPerSecond: round(rate(served)),
    lmxTokensPerSecondHttpClient: round(rate(servedHttp)),
    // LMX's own decode rate over all its sequential requests (its chat.done log).
    lmxServerSideTokensPerSecond: round(
      median([...served, ...servedHttp].map((result) => result.serverTokensPerSecond)),
    ),
    lmxServerSideTtftMs: round(
      median([...ttftPhase.served, ...ttftPhase.servedHttp].map((result) => result.serverTtftMs)),
    ),
    // The target: LMX against node-llama-cpp in-process on the same context, as the median of the
    // rounds' ratios (each round's runs share the machine's load of the moment) and as the ratio of
    // the medians.
    ratioPaired: round(pairedRatio(served, localSame), 3),
    ratio: round(rate(served) / rate(localSame), 3),
    ratioHttpClient: round(rate(servedHttp) / rate(localSame), 3),
    ratioHttpClientPaired: round(pairedRatio(servedHttp, localSame), 3),
    // What LMX's parallel sequences cost on top: the same against a 1-sequence context.
    ratioOneSequencePaired: round(pairedRatio(served, local), 3),
    ratioOneSequence: round(rate(served) / rate(local), 3),
    ratioHttpClientOneSequencePaired: round(pairedRatio(servedHttp, local), 3),
    ratioHttpClientOneSequence: round(rate(servedHttp) / rate(local), 3),
    sameContextOverOneSequence: round(pairedRatio(localSame, local), 3),
    // TTFT from the short rounds, against the same context.
    ttftRounds,
    inProcessTtftMs: round(ttft(ttftPhase.localSame)),
    lmxTtftMs: round(ttft(ttftPhase.served)),
    ttftAddedMs: round(ttft(ttftPhase.served) - ttft(ttftPhase.localSame)),
    ttftAddedPairedMs: round(pairedAdded(ttftPhase.served, ttftPhase.localSame)),
    lmxTtftHttpClientMs: round(ttft(ttftPhase.servedHttp)),
    ttftAddedHttpClientMs: round(ttft(ttftPhase.servedHttp) - ttft(ttftPhase.localSame)),
    ttftAddedHttpClientPairedMs: round(pairedAdded(ttftPhase.servedHttp, ttftPhase.localSame)),
    spread: {
      inProcessTokensPerSecond: spread(localSame.map((result) => result.tokensPerSecond)),
      inProcessOneSequenceTokensPerSecond: spread(local.map((result) => result.tokensPerSecond)),
      lmxTokensPerSecond: spread(served.map((result) => result.tokensPerSecond)),
      lmxTokensPerSecondHttpClient: spread(servedHttp.map((result) => result.tokensPerSecond)),
      inProcessTtftMs: spread(ttftPhase.localSame.map((result) => result.ttftMs)),
      lmxTtftMs: spread(ttftPhase.served.map((result) => result.ttftMs)),
    },
    loadAverage: { before: round(loadBefore, 2), after: round(loadavg()[0], 2) },
    aggregateTokensPerSecond: Object.fromEntries(
      Object.entries(concurrency).map(([key, value]) => [key, round(value)]),
    ),
  };
  if (values.json) console.log(JSON.stringify(figures, null, 2));
  else {
    const f = figures;
    console.log(
      `model: ${f.model}, threads ${threads}, ${maxTokens} tokens, median of ${runs} runs; LMX context ${f.lmxContext.sequences} sequences × ${f.lmxContext.contextSize} tokens`,
    );
    console.log(
      `decode tok/s  in-process, LMX's context ${f.inProcessTokensPerSecond} (${f.spread.inProcessTokensPerSecond})  1-sequence context ${f.inProcessOneSequenceTokensPerSecond} (${f.spread.inProcessOneSequenceTokensPerSecond})`,
    );
    console.log(
      `              LMX via fetch ${f.lmxTokensPerSecond} (${f.spread.lmxTokensPerSecond})  via node:http ${f.lmxTokensPerSecondHttpClient} (${f.spread.lmxTokensPerSecondHttpClient})`,
    );
    console.log(
      `              LMX's own figure (first to last token, in the server) ${f.lmxServerSideTokensPerSecond}; its TTFT from the request's arrival (short rounds) ${f.lmxServerSideTtftMs} ms`,
    );
    console.log(
      `decode ratio  LMX / in-process on the same context, median of paired rounds: fetch ${f.ratioPaired}×  node:http ${f.ratioHttpClientPaired}×   target ≥ 0.97×  (ratio of medians: ${f.ratio}× / ${f.ratioHttpClient}×)`,
    );
    console.log(
      `              LMX / in-process on a 1-sequence context, paired: fetch ${f.ratioOneSequencePaired}×  node:http ${f.ratioHttpClientOneSequencePaired}×  (ratio of medians: ${f.ratioOneSequence}× / ${f.ratioHttpClientOneSequence}×); LMX's context / 1-sequence in-process, paired: ${f.sameContextOverOneSequence}×`,
    );
    console.log(
      `TTFT ms (${f.ttftRounds} short rounds)  in-process ${f.inProcessTtftMs} (${f.spread.inProcessTtftMs})  LMX via fetch ${f.lmxTtftMs} (${f.spread.lmxTtftMs})  added ${f.ttftAddedMs} ms (paired median ${f.ttftAddedPairedMs} ms); via node:http added ${f.ttftAddedHttpClientMs} ms (paired ${f.ttftAddedHttpClientPairedMs} ms)   target < 5 ms`,
    );
    console.log(`load average  ${f.loadAverage.before} before, ${f.loadAverage.after} after`);
    console.log(
      `aggregate tok/s  1 stream ${f.aggregateTokensPerSecond[1]}  2 streams ${f.aggregateTokensPerSecond[2]}  4 streams ${f.aggregateTokensPerSecond[4]}`,
    );
  }
} finally {
  await lmx?.close();
  await rm(dir, { recursive: true, force: true });
}
