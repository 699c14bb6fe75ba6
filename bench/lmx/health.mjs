#!/usr/bin/env node

// /health latency while Opta LMX loads a model, against /health latency of the same idle server in
// the same run. The containment issue's target: /health answers within 50 ms while a model loads.
// Build first (`npx tsc -b`), then:
//
//   node bench/lmx/health.mjs [--size mid] [--rounds 5] [--threads N] [--json]
//
// Each round polls /health 100 times on the idle server, then loads the model while polling
// /health every 10 ms until the load answers, then unloads it. LMX runs as its own process
// (`opta lmx start`), so the poller's own work does not share LMX's event loop. The model is
// generated (writeTestModel, seed 1) into a temporary directory and deleted after.

import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { defaultThreads, writeTestModel } from "../../packages/lmx/dist/index.js";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "mid" },
    rounds: { type: "string", default: "5" },
    threads: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const threads = values.threads ? Number(values.threads) : defaultThreads();
const rounds = Number(values.rounds);
const opta = join(dirname(fileURLToPath(import.meta.url)), "../../apps/cli/bin/opta.js");

async function startLmx(modelsDir, home) {
  const child = spawn(
    process.execPath,
    [opta, "lmx", "start", "--port", "0", "--models", modelsDir, "--threads", String(threads)],
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

async function health(url) {
  const started = performance.now();
  const response = await fetch(`${url}/health`);
  const body = await response.json();
  return { ms: performance.now() - started, status: response.status, state: body.status };
}

const post = (url, path, body) =>
  fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) };
}

const dir = await mkdtemp(join(tmpdir(), "opta-bench-health-"));
const home = join(dir, "home");
const modelsDir = join(dir, "models");
try {
  await writeTestModel(join(modelsDir, `${values.size}.gguf`), { size: values.size, seed: 1 });
  const lmx = await startLmx(modelsDir, home);
  const idle = [];
  const loading = [];
  const statuses = new Set();
  const loadMs = [];
  try {
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < 100; i++) idle.push((await health(lmx.url)).ms);
      let done = false;
      const started = performance.now();
      const load = post(lmx.url, "/api/v1/models/load", { model: values.size }).then(async (response) => {
        done = true;
        if (response.status !== 200) throw new Error(`load answered ${response.status}: ${await response.text()}`);
      });
      while (!done) {
        const answer = await health(lmx.url);
        if (!done) {
          loading.push(answer.ms);
          statuses.add(`${answer.status} ${answer.state}`);
        }
        await sleep(10);
      }
      await load;
      loadMs.push(performance.now() - started);
      await post(lmx.url, "/api/v1/models/unload", { model: values.size });
    }
  } finally {
    await lmx.close();
  }
  const result = {
    model: values.size,
    threads,
    rounds,
    loadavg: loadavg()[0],
    loadMs: summary(loadMs),
    idle: summary(idle),
    duringLoad: summary(loading),
    statuses: [...statuses],
  };
  if (values.json) {
    console.log(JSON.stringify(result, null, 2));
  } else {
    const f = (ms) => `${ms.toFixed(1)} ms`;
    console.log(`LMX /health while loading the ${values.size} model (${threads} threads, ${rounds} loads)`);
    console.log(`  load time           p50 ${f(result.loadMs.p50)}  max ${f(result.loadMs.max)}`);
    console.log(
      `  /health idle        p50 ${f(result.idle.p50)}  p99 ${f(result.idle.p99)}  max ${f(result.idle.max)}  (n=${result.idle.n})`,
    );
    console.log(
      `  /health during load p50 ${f(result.duringLoad.p50)}  p99 ${f(result.duringLoad.p99)}  max ${f(result.duringLoad.max)}  (n=${result.duringLoad.n})`,
    );
    console.log(
      `  ratio during/idle   p50 ${(result.duringLoad.p50 / result.idle.p50).toFixed(2)}×  max ${(result.duringLoad.max / result.idle.max).toFixed(2)}×`,
    );
    console.log(
      `  answers seen while loading: ${result.statuses.join(", ")}; load average ${result.loadavg.toFixed(2)}`,
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
