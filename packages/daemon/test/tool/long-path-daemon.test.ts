/**
 * The long-path attack through the real daemon: a scripted model asks for read_file (and other
 * tools) on over-long paths while `/v3/health` is polled. Every call is refused with
 * PATH_TOO_LONG and health keeps answering. (The issue saw health stop answering for 30 s.) The
 * latency bound is deliberately generous, 10x the in-process event-loop bound of
 * long-path.test.ts, because it includes HTTP on a loaded machine.
 */
import { realpath } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

type Event = Record<string, unknown> & { event: string };

const HEALTH_BOUND_MS = 1000;

describe("long paths through the daemon", () => {
  let model: ScriptedServer;
  let daemon: DaemonProcess;
  let call: ReturnType<typeof api>;
  let workspace: string;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    model = await startScriptedServer();
    const home = await tempHome("opta-home-");
    const work = await tempHome("opta-work-");
    cleanups.push(home.cleanup, work.cleanup);
    workspace = await realpath(work.home);
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: model.host });
    call = api(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    for (const cleanup of cleanups) await cleanup();
  });

  it("refuses them while /v3/health keeps answering", async ({ task }) => {
    const paths: Array<[string, string]> = [
      ['"a/" x 8000 + "x"', `${"a/".repeat(8000)}x`],
      ['"../" x 5000', "../".repeat(5000)],
      ['"./" x 4000', "./".repeat(4000)],
      ["one 100 KB component", "x".repeat(100_000)],
    ];
    const toolCalls = paths.flatMap(([, path]) => [
      { name: "read_file", arguments: { path } },
      { name: "list_dir", arguments: { path } },
    ]);
    model.setReplies([{ toolCalls }, { chunks: ["done"] }]);
    const created = await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } });
    const id = ((await created.json()) as { id: string }).id;

    let polling = true;
    const health: Array<{ status: number; ms: number }> = [];
    const poller = (async () => {
      while (polling) {
        const started = performance.now();
        const response = await call("/v3/health");
        await response.arrayBuffer();
        health.push({ status: response.status, ms: performance.now() - started });
      }
    })();
    const posted = await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text: "go", interactive: false } });
    expect(posted.status).toBe(202);
    const events = await waitFor(async () => {
      const all = ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
      return all.some((event) => event.event === "turn.done" || event.event === "turn.error") ? all : undefined;
    }, 20_000);
    polling = false;
    await poller;

    const healthy = health.length > 0 && health.every((probe) => probe.status === 200);
    const slowest = Math.max(0, ...health.map((probe) => probe.ms));
    const results = events.filter((event) => event.event === "tool.result");
    expect(results).toHaveLength(toolCalls.length);
    const cases: SecurityCase[] = results.map((result, index) => ({
      attack: `daemon ${toolCalls[index]?.name} ${paths[Math.floor(index / 2)]?.[0]}`,
      refused: result.code === "PATH_TOO_LONG" && healthy && slowest < HEALTH_BOUND_MS,
      detail: `${String(result.code)}; ${health.length} health probes, slowest ${slowest.toFixed(0)} ms`,
    }));
    const report = reportFamily(task, "long-path", cases);
    expect(report.through).toEqual([]);
  });
});
