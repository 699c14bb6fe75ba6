// LMX against llama.cpp's own `llama-server` (built from the llama.cpp source node-llama-cpp
// bundles: scripts/build-llama-server.sh): the same GGUF, the same threads, one sequence, the same
// context size, the same sampling and seeds, both as their own processes, in alternating paired
// rounds. The primary figure is CPU time per generated token, read from each server process's own
// /proc/PID/stat (utime + stime over all its threads): what a token costs, whatever else the
// machine is doing. Decode tokens/s and TTFT are measured by the client, so they do depend on load.

import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { createServer } from "node:net";
import { createInterface } from "node:readline";

const clockTicksPerSecond = 100; // Linux USER_HZ; /proc/PID/stat counts in these.

/**
 * A process's CPU time (all threads, user + system) in milliseconds, from /proc/PID/stat; with
 * `thread`, that one thread's (/proc/PID/task/TID/stat; the main thread's id is the pid).
 */
export function processCpuMs(pid, thread) {
  const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, "utf8");
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
}

async function freePort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

function collectStderr(child) {
  let text = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    text = (text + chunk).slice(-4000);
  });
  return () => text.trim();
}

/** Starts llama-server on a free port; resolves once /health answers 200. */
export async function startLlamaServer(binary, modelPath, { threads, contextSize }) {
  const port = await freePort();
  const child = spawn(
    binary,
    [
      "-m",
      modelPath,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "-t",
      String(threads),
      "-tb",
      String(threads),
      "-c",
      String(contextSize),
      "-np",
      "1",
      "-ngl",
      "0",
      "--no-webui",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const stderr = collectStderr(child);
  const exited = once(child, "exit");
  let failed;
  exited.then(([code]) => (failed = new Error(`llama-server exited (${code}): ${stderr()}`)));
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (failed) throw failed;
    try {
      const response = await fetch(`${url}/health`);
      if (response.status === 200) break;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    pid: child.pid,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Starts `opta lmx start` with one sequence and a fixed context; resolves with its URL and pid. */
export async function startLmxServer(opta, modelsDir, home, { threads, contextSize, env = {} }) {
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
      "1",
      "--context-size",
      String(contextSize),
    ],
    { env: { ...process.env, ...env, OPTA_HOME: home }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const stderr = collectStderr(child);
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout });
  let llamaBuild;
  const url = await new Promise((resolve, reject) => {
    lines.on("line", (line) => {
      try {
        const entry = JSON.parse(line);
        if (entry.event === "lmx.started") {
          llamaBuild = entry.llamaBuild;
          resolve(entry.url);
        }
      } catch {}
    });
    exited.then(([code]) => reject(new Error(`opta lmx start exited (${code}): ${stderr()}`)));
  });
  return {
    url,
    pid: child.pid,
    /** Which llama.cpp binary LMX runs: "prebuilt" or "localBuild" (its `lmx.started` line). */
    llamaBuild,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

const agent = new Agent({ keepAlive: true });

/**
 * One streamed chat completion (node:http, keep-alive), timed from the request to the first and
 * last content chunk. Returns the generated token count from the final usage chunk.
 */
function streamChat(url, body) {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const started = performance.now();
    const request = httpRequest(
      `${url}/v1/chat/completions`,
      {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) },
      },
      (response) => {
        response.setEncoding("utf8");
        let buffer = "";
        let first;
        let last;
        let chunks = 0;
        let usage;
        response.on("data", (data) => {
          const now = performance.now();
          buffer += data;
          let end = buffer.indexOf("\n\n");
          while (end >= 0) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            end = buffer.indexOf("\n\n");
            if (!event.startsWith("data: {")) continue;
            const parsed = JSON.parse(event.slice(6));
            if (parsed.usage) usage = parsed.usage;
            if (parsed.choices?.[0]?.delta?.content) {
              chunks++;
              first ??= now;
              last = now;
            }
          }
        });
        response.on("end", () => {
          if (response.statusCode !== 200 || !usage) {
            reject(new Error(`${url}: HTTP ${response.statusCode} ${buffer.slice(0, 300)}`));
            return;
          }
          const generated = usage.completion_tokens;
          resolve({
            ttftMs: first - started,
            // Chunks, not tokens, between the first and the last content chunk: both servers send
            // one chunk per token here (no held-back text on these prompts), and the usage count
            // includes tokens that produced no text.
            tokensPerSecond: (chunks - 1) / ((last - first) / 1000),
            generated,
            promptTokens: usage.prompt_tokens,
          });
        });
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(text);
  });
}

const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/**
 * Runs `rounds` paired rounds (the order alternates each round) of one streamed request per server
 * and returns per-side figures and LMX/llama-server ratios. CPU per token is each process's CPU
 * time from just before its request to just after its stream ends, over the tokens it generated.
 */
export async function compareWithLlamaServer({ servers, modelName, rounds, maxTokens, sampling, eos, prompt, log }) {
  const results = { lmx: [], llamaServer: [] };
  const body = (round, side) => ({
    model: modelName,
    messages: [{ role: "user", content: prompt(round, side === "lmx" ? 0 : 1) }],
    max_tokens: maxTokens,
    temperature: sampling.temperature,
    top_k: sampling.topK,
    top_p: sampling.topP,
    min_p: sampling.minP,
    seed: round,
    // The end-of-generation token banned on both sides so each run generates max_tokens.
    ...(eos === undefined ? {} : { logit_bias: { [String(eos)]: -100 } }),
    stream: true,
    stream_options: { include_usage: true },
  });
  const one = async (side, round) => {
    const server = servers[side];
    const cpuBefore = processCpuMs(server.pid);
    const mainBefore = processCpuMs(server.pid, server.pid);
    const result = await streamChat(server.url, body(round, side));
    // What the server still does once the stream has ended (slot release, logging) belongs to the request.
    await new Promise((resolve) => setTimeout(resolve, 30));
    result.cpuMs = processCpuMs(server.pid) - cpuBefore;
    result.cpuMsPerToken = result.cpuMs / result.generated;
    // LMX's main thread is its JavaScript (HTTP, SSE, LlamaChat); the rest is llama.cpp's decode
    // and sampling on libuv and ggml threads. (llama-server's main thread is its decode loop.)
    result.mainThreadCpuMs = processCpuMs(server.pid, server.pid) - mainBefore;
    return result;
  };
  // Warm-up: one request each (LMX loads its model on the first one).
  await one("lmx", 0);
  await one("llamaServer", 0);
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? ["lmx", "llamaServer"] : ["llamaServer", "lmx"];
    for (const side of order) results[side].push(await one(side, round));
    const [a, b] = [results.lmx.at(-1), results.llamaServer.at(-1)];
    log(
      `round ${round}: LMX ${a.cpuMsPerToken.toFixed(1)} ms CPU/token ${a.tokensPerSecond.toFixed(1)} tok/s ttft ${a.ttftMs.toFixed(0)} ms (${a.generated} tokens) | llama-server ${b.cpuMsPerToken.toFixed(1)} ms ${b.tokensPerSecond.toFixed(1)} tok/s ttft ${b.ttftMs.toFixed(0)} ms (${b.generated} tokens)`,
    );
  }
  const total = (list, key) => list.reduce((sum, result) => sum + result[key], 0);
  const side = (list) => ({
    generatedTokens: total(list, "generated"),
    cpuMsPerToken: total(list, "cpuMs") / total(list, "generated"),
    mainThreadCpuMsPerToken: total(list, "mainThreadCpuMs") / total(list, "generated"),
    tokensPerSecond: median(list.map((result) => result.tokensPerSecond)),
    ttftMs: median(list.map((result) => result.ttftMs)),
    promptTokens: list[0]?.promptTokens,
  });
  const lmx = side(results.lmx);
  const llamaServer = side(results.llamaServer);
  const pairedMedian = (figure) =>
    median(results.lmx.map((result, index) => figure(result, results.llamaServer[index])));
  return {
    rounds,
    maxTokens,
    lmx,
    llamaServer,
    // Goal: ≤ 1.05 (CPU per token over all rounds' tokens) and ≥ 0.95 (decode rate, paired).
    cpuPerTokenRatio: lmx.cpuMsPerToken / llamaServer.cpuMsPerToken,
    cpuPerTokenRatioPaired: pairedMedian((a, b) => a.cpuMsPerToken / b.cpuMsPerToken),
    tokensPerSecondRatioPaired: pairedMedian((a, b) => a.tokensPerSecond / b.tokensPerSecond),
    ttftAddedPairedMs: pairedMedian((a, b) => a.ttftMs - b.ttftMs),
  };
}
