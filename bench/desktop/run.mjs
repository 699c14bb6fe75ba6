#!/usr/bin/env node
// Code Desktop benchmark (issue 6), in headless Debian Chromium against a real daemon serving the
// built app. Build first (`npm run build`), then:
//
//   node bench/desktop/run.mjs [--turns 5000] [--tokens 1200] [--rate 120] [--json]
//
// 1. A 5,000-turn session (written as a session file, replayed by the daemon over the WebSocket):
//    DOM elements on screen, load time, and per-frame main-thread work while scrolling it top to
//    bottom — with the virtualised timeline, and as baseline the same timeline with every turn
//    mounted (?virtualize=off).
// 2. A 120 tok/s stream: store publishes (renders) per second, DOM commits per second and
//    main-thread busy time — batched per animation frame, and as baseline one render per event
//    (?batch=off).
// Never part of `npm test`.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values } = parseArgs({
  options: {
    turns: { type: "string", default: "5000" },
    tokens: { type: "string", default: "1200" },
    rate: { type: "string", default: "120" },
    json: { type: "boolean", default: false },
  },
});
const TURNS = Number(values.turns);
const STREAM_TOKENS = Number(values.tokens);
const RATE = Number(values.rate);
const CHROMIUM = "/usr/bin/chromium";
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DIST = join(ROOT, "apps/desktop/dist");
const DAEMON_MAIN = join(ROOT, "packages/daemon/dist/main.js");
const log = (...parts) => values.json || console.error(...parts);

const percentile = (list, p) => {
  if (list.length === 0) return Number.NaN;
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
};
const fmt = (value, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");

for (const [path, hint] of [
  [CHROMIUM, "apt-get install chromium"],
  [join(DIST, "index.html"), "npm run build"],
  [DAEMON_MAIN, "npm run build"],
]) {
  if (!existsSync(path)) {
    console.error(`missing ${path}: ${hint}`);
    process.exit(1);
  }
}

// ---- a session file with TURNS turns: text, code blocks, tables, tool calls -------------------
const SESSION_ID = "s-bench00000000";
function sessionFile() {
  const lines = [];
  let seq = 0;
  let time = Date.UTC(2026, 2, 1);
  const push = (event) => {
    seq += 1;
    time += 7;
    lines.push(JSON.stringify({ seq, ...event, ts: new Date(time).toISOString(), sessionId: SESSION_ID }));
  };
  push({ event: "session.start", title: `bench: ${TURNS} turns`, cwd: "/tmp", mode: "chat", model: "bench" });
  for (let turn = 1; turn <= TURNS; turn++) {
    const turnId = `t-bench${String(turn).padStart(8, "0")}`;
    push({
      event: "turn.start",
      turnId,
      role: "user",
      text: `Question ${turn}: how does module ${turn} work?`,
      mode: "chat",
      model: "bench",
      permission: "safe",
    });
    let text = `Module **${turn}** reads its config, validates it with \`zod\`, and exports a \`start()\` function.\n\n`;
    if (turn % 3 === 0)
      text +=
        "```ts\nexport async function start(config: Config): Promise<void> {\n  const parsed = Config.parse(config);\n  // open the port\n  await listen(parsed.port ?? 9999);\n}\n```\n\n";
    if (turn % 7 === 0)
      text += "| step | file | result |\n| --- | --- | --- |\n| 1 | a.ts | ok |\n| 2 | b.ts | ok |\n\n";
    text += "That is all it does.";
    if (turn % 4 === 0) {
      const callId = `c-bench${String(turn).padStart(8, "0")}`;
      push({ event: "tool.call", turnId, callId, name: "read_file", args: { path: `src/module-${turn}.ts` } });
      push({
        event: "tool.result",
        turnId,
        callId,
        name: "read_file",
        ok: true,
        result: "…",
        elapsedMs: 3,
        summary: "42 lines",
      });
    }
    push({ event: "turn.token", turnId, delta: text, model: "bench" });
    push({
      event: "turn.done",
      turnId,
      tokens: 60,
      thinkingTokens: 0,
      elapsed: 0.6,
      tokensPerSec: 100,
      toolCalls: turn % 4 === 0 ? 1 : 0,
      steps: 1,
      stopReason: "stop",
    });
  }
  return `${lines.join("\n")}\n`;
}

// ---- a model that streams STREAM_TOKENS tokens at RATE tok/s ------------------------------------
function startModel() {
  const server = createServer(async (request, response) => {
    if (request.method === "GET" && request.url === "/v1/models") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ object: "list", data: [{ id: "bench", object: "model" }] }));
      return;
    }
    for await (const _chunk of request);
    response.writeHead(200, { "content-type": "text/event-stream" });
    const send = (delta, finish = null) =>
      response.write(
        `data: ${JSON.stringify({ id: "b", object: "chat.completion.chunk", created: 0, model: "bench", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`,
      );
    send({ role: "assistant", content: "" });
    const start = performance.now();
    for (let index = 0; index < STREAM_TOKENS; index++) {
      // Paced against the clock so timer drift does not lower the rate.
      const due = start + (index * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      send({ content: index % 40 === 39 ? "word\n\n" : "word " });
    }
    send({}, "stop");
    response.end("data: [DONE]\n\n");
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function startDaemon(home, lmxHost) {
  const child = spawn(process.execPath, [DAEMON_MAIN], {
    env: { ...process.env, OPTA_HOME: home, OPTA_DAEMON_PORT: "0", OPTA_LMX_HOST: lmxHost, OPTA_DESKTOP_DIST: DIST },
    stdio: "ignore",
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const state = JSON.parse(await readFile(join(home, "daemon/state.json"), "utf8"));
      if (state.pid === child.pid) {
        const token = (await readFile(join(home, "daemon/token"), "utf8")).trim();
        return { child, url: `http://127.0.0.1:${state.port}`, token };
      }
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill();
  throw new Error("daemon did not start");
}

const home = await mkdtemp(join(tmpdir(), "opta-desktop-bench-"));
const model = await startModel();
let daemon;
let browser;
const results = {};
try {
  await mkdir(join(home, "daemon/sessions"), { recursive: true });
  log(`writing a ${TURNS}-turn session…`);
  await writeFile(join(home, "daemon/sessions", `${SESSION_ID}.jsonl`), sessionFile());
  daemon = await startDaemon(home, `127.0.0.1:${model.address().port}`);
  const api = (path, init = {}) =>
    fetch(`${daemon.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${daemon.token}`, "content-type": "application/json" },
    });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });

  async function openPage() {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    return { page, cdp, context };
  }
  const taskSeconds = async (cdp) =>
    (await cdp.send("Performance.getMetrics")).metrics.find((metric) => metric.name === "TaskDuration").value;

  // ---- 1. the long session ---------------------------------------------------------------------
  async function longSession(label, query) {
    const { page, context } = await openPage();
    const started = performance.now();
    await page.goto(`${daemon.url}/${query}#token=${daemon.token}`);
    await page.locator(`[data-turn-id="t-bench${String(TURNS).padStart(8, "0")}"]`).waitFor({ timeout: 600_000 });
    const loadMs = performance.now() - started;
    await page.waitForTimeout(500);
    const nodes = await page.evaluate(() => document.querySelectorAll("*").length);
    const measureScroll = (fixedStep) =>
      page.evaluate(async (fixedStep) => {
        const element = document.querySelector("[data-testid=timeline]");
        const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
        const channel = new MessageChannel();
        let wake = () => {};
        channel.port1.onmessage = () => wake();
        const afterRendering = () =>
          new Promise((resolve) => {
            wake = resolve;
            channel.port2.postMessage(0);
          });
        let frameStart = 0;
        const onScroll = () => {
          if (!frameStart) frameStart = performance.now();
        };
        window.addEventListener("scroll", onScroll, { capture: true });
        const work = [];
        const intervals = [];
        // One step per frame for at most 600 frames: a fixed fling-sized step from the middle, or the
        // whole session top to bottom (1/600 of its height per frame: every frame mounts new rows).
        element.scrollTop = fixedStep ? element.scrollHeight / 2 : 0;
        await frame();
        await frame();
        const step = fixedStep || Math.max(200, Math.ceil(element.scrollHeight / 600));
        let last = 0;
        for (let index = 0; index < 600; index++) {
          const at = await frame();
          if (last) intervals.push(at - last);
          last = at;
          // The message runs after this frame's style, layout and paint: scroll handler → paint.
          await afterRendering();
          if (frameStart) work.push(performance.now() - frameStart);
          frameStart = 0;
          if (element.scrollTop + element.clientHeight >= element.scrollHeight - 1) break;
          element.scrollTop += step;
        }
        window.removeEventListener("scroll", onScroll, { capture: true });
        return { work, intervals, step, height: element.scrollHeight };
      }, fixedStep);
    const fling = await measureScroll(240);
    const scroll = await measureScroll(0);
    await context.close();
    const row = {
      loadMs,
      domNodes: nodes,
      scrollFrames: scroll.work.length,
      scrollStepPx: scroll.step,
      frameWorkP50: percentile(scroll.work, 50),
      frameWorkP95: percentile(scroll.work, 95),
      frameWorkMax: Math.max(...scroll.work),
      frameIntervalP95: percentile(scroll.intervals, 95),
      flingWorkP50: percentile(fling.work, 50),
      flingWorkP95: percentile(fling.work, 95),
      flingIntervalP95: percentile(fling.intervals, 95),
    };
    log(
      `${label}: load ${fmt(row.loadMs, 0)} ms · ${row.domNodes} DOM elements · fling 240px/frame: work p50 ${fmt(row.flingWorkP50)} ms, p95 ${fmt(row.flingWorkP95)} ms, interval p95 ${fmt(row.flingIntervalP95)} ms · full-length scroll ${row.scrollFrames} frames of ${row.scrollStepPx}px: work p50 ${fmt(row.frameWorkP50)} ms, p95 ${fmt(row.frameWorkP95)} ms, max ${fmt(row.frameWorkMax)} ms · frame interval p95 ${fmt(row.frameIntervalP95)} ms`,
    );
    return row;
  }

  results.longSession = await longSession("virtualised", "");
  results.longSessionBaseline = await longSession("baseline (every turn mounted)", "?virtualize=off");

  // ---- 2. the 120 tok/s stream -------------------------------------------------------------------
  async function stream(label, query) {
    const created = await (
      await api("/v3/sessions", { method: "POST", body: JSON.stringify({ title: `stream ${label}` }) })
    ).json();
    const { page, cdp, context } = await openPage();
    await page.goto(`${daemon.url}/${query}#token=${daemon.token}`);
    await page.locator(".rail-item", { hasText: `stream ${label}` }).click();
    await page.locator(".timeline.empty").waitFor();
    await page.evaluate(() => {
      window.__commits = 0;
      new MutationObserver(() => {
        window.__commits += 1;
      }).observe(document.getElementById("root"), {
        subtree: true,
        childList: true,
        characterData: true,
        attributes: true,
      });
    });
    const before = {
      wall: performance.now(),
      task: await taskSeconds(cdp),
      flushes: await page.evaluate(() => window.__optaDiagnostics?.flushes ?? 0),
      commits: await page.evaluate(() => window.__commits),
    };
    await api(`/v3/sessions/${created.id}/turns`, { method: "POST", body: JSON.stringify({ text: "stream please" }) });
    await page.locator("[data-testid=turn-stats]").waitFor({ timeout: 120_000 });
    const after = {
      wall: performance.now(),
      task: await taskSeconds(cdp),
      flushes: await page.evaluate(() => window.__optaDiagnostics?.flushes ?? 0),
      commits: await page.evaluate(() => window.__commits),
    };
    const text = await page.locator(".markdown").last().textContent();
    await context.close();
    const seconds = (after.wall - before.wall) / 1000;
    const row = {
      seconds,
      tokens: (text.match(/word/g) ?? []).length,
      rendersPerSec: (after.flushes - before.flushes) / seconds,
      commitsPerSec: (after.commits - before.commits) / seconds,
      busyMs: (after.task - before.task) * 1000,
      busyPercent: ((after.task - before.task) / seconds) * 100,
    };
    log(
      `${label}: ${row.tokens} tokens in ${fmt(row.seconds)} s · ${fmt(row.rendersPerSec)} store renders/s · ${fmt(row.commitsPerSec)} DOM commits/s · main thread busy ${fmt(row.busyMs, 0)} ms (${fmt(row.busyPercent)}%)`,
    );
    return row;
  }

  results.stream = await stream("batched", "");
  results.streamBaseline = await stream("unbatched", "?batch=off");
} finally {
  await browser?.close();
  if (daemon && daemon.child.exitCode === null) {
    const exited = new Promise((resolve) => daemon.child.once("exit", resolve));
    daemon.child.kill("SIGTERM");
    await exited;
  }
  model.close();
  await rm(home, { recursive: true, force: true });
}

const v = results.longSession;
const b = results.longSessionBaseline;
const s = results.stream;
const sb = results.streamBaseline;
if (values.json) {
  console.log(JSON.stringify({ turns: TURNS, rate: RATE, ...results }, null, 2));
} else {
  console.log(`# Code Desktop benchmarks · chromium headless · node ${process.version} · ${new Date().toISOString()}`);
  console.log(`| figure | Code Desktop | baseline | target |`);
  console.log(`| --- | --- | --- | --- |`);
  console.log(
    `| ${TURNS}-turn session: DOM elements | ${v.domNodes} | ${b.domNodes} (every turn mounted) | < 3,000 ${v.domNodes < 3000 ? "✓" : "✗"} |`,
  );
  console.log(
    `| ${TURNS}-turn session: load (replay + render) | ${fmt(v.loadMs, 0)} ms | ${fmt(b.loadMs, 0)} ms | — |`,
  );
  console.log(
    `| scroll 240 px/frame: main-thread work per frame p95 | ${fmt(v.flingWorkP95)} ms | ${fmt(b.flingWorkP95)} ms | < 16.7 ms ${v.flingWorkP95 < 16.7 ? "✓" : "✗"} |`,
  );
  console.log(
    `| scroll 240 px/frame: frame interval p95 | ${fmt(v.flingIntervalP95)} ms | ${fmt(b.flingIntervalP95)} ms | — |`,
  );
  console.log(
    `| scroll whole session (${v.scrollStepPx} px/frame): work per frame p95 | ${fmt(v.frameWorkP95)} ms | ${fmt(b.frameWorkP95)} ms | < 16.7 ms ${v.frameWorkP95 < 16.7 ? "✓" : "✗"} |`,
  );
  console.log(
    `| scroll whole session: frame interval p95 | ${fmt(v.frameIntervalP95)} ms | ${fmt(b.frameIntervalP95)} ms | — |`,
  );
  console.log(
    `| ${RATE} tok/s stream: renders per second | ${fmt(s.rendersPerSec)} | ${fmt(sb.rendersPerSec)} (one per event) | ≤ 60 ${s.rendersPerSec <= 60 ? "✓" : "✗"} |`,
  );
  console.log(
    `| ${RATE} tok/s stream: DOM commits per second | ${fmt(s.commitsPerSec)} | ${fmt(sb.commitsPerSec)} | — |`,
  );
  console.log(
    `| ${RATE} tok/s stream: main-thread busy | ${fmt(s.busyMs, 0)} ms in ${fmt(s.seconds)} s (${fmt(s.busyPercent)}%) | ${fmt(sb.busyMs, 0)} ms (${fmt(sb.busyPercent)}%) | — |`,
  );
}
