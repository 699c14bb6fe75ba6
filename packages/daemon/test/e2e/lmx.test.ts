import { mkdir, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type LmxServer, startLmx, writeTestModel } from "@opta/lmx";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";

type Event = Record<string, unknown> & { event: string; seq: number };

/**
 * The real path: daemon → Opta LMX → node-llama-cpp, with a generated tiny Llama model (random
 * weights, so the text is noise; what is checked is that every piece is really wired together).
 */
describe("daemon against a real Opta LMX", () => {
  let lmx: LmxServer;
  let daemon: DaemonProcess;
  let workspace: string;
  const cleanups: Array<() => Promise<void>> = [];
  let call: ReturnType<typeof api>;

  beforeAll(async () => {
    const models = await tempHome("opta-models-");
    const home = await tempHome("opta-home-");
    const work = await tempHome("opta-work-");
    cleanups.push(models.cleanup, home.cleanup, work.cleanup);
    workspace = await realpath(work.home);
    await writeFile(join(workspace, "README.md"), "# demo\n");
    await writeTestModel(join(models.home, "tiny.gguf"), { size: "tiny", seed: 7 });
    lmx = await startLmx({ port: 0, modelsDir: models.home, threads: 1, parallel: 2 });
    await mkdir(home.home, { recursive: true });
    await writeFile(join(home.home, "config.yaml"), "max-output-tokens: 24\n");
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: `127.0.0.1:${lmx.port}` });
    call = api(daemon);
  }, 120_000);
  afterAll(async () => {
    await daemon?.stop();
    await lmx?.close();
    for (const cleanup of cleanups) await cleanup();
  });

  async function run(body: Record<string, unknown>, mode: "chat" | "do"): Promise<Event[]> {
    const session = (await (await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode } })).json()) as {
      id: string;
    };
    const submitted = await call(`/v3/sessions/${session.id}/turns`, { method: "POST", json: body });
    expect(submitted.status).toBe(202);
    return waitFor(async () => {
      const all = ((await (await call(`/v3/sessions/${session.id}/events`)).json()) as { events: Event[] }).events;
      const last = all.at(-1)?.event;
      return last === "turn.done" || last === "turn.error" || last === "session.cancelled" ? all : undefined;
    }, 90_000);
  }

  it("lists the generated model and streams a chat turn from it (no model configured)", async () => {
    const models = (await (await call("/v3/models")).json()) as { models: Array<{ id: string; provider: string }> };
    expect(models.models.map((model) => model.id)).toContain("tiny");
    const events = await run({ text: "Say hello" }, "chat");
    const done = events.at(-1)!;
    expect(done.event, JSON.stringify(done)).toBe("turn.done");
    const tokens = events.filter((event) => event.event === "turn.token");
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens[0]?.model).toBe("tiny");
    expect(done.tokens).toBeGreaterThan(0);
    expect(done.tokens).toBeLessThanOrEqual(24);
    // The cap (max-output-tokens: 24) reaches LMX as max_tokens; hitting it ends the turn as `length`.
    expect(done.stopReason).toBe((done.tokens as number) >= 24 ? "length" : "stop");
    expect(done.promptTokens).toBeGreaterThan(0);
    // The turn loaded the model: /v3/models now says so, with the memory and context LMX reports.
    const after = (await (await call("/v3/models")).json()) as {
      models: Array<{ id: string; loaded?: boolean; memoryBytes?: number; contextLength?: number }>;
    };
    const tiny = after.models.find((model) => model.id === "tiny");
    expect(tiny).toMatchObject({ loaded: true, memoryBytes: expect.any(Number), contextLength: expect.any(Number) });
    expect(tiny!.memoryBytes).toBeGreaterThan(0);
  }, 120_000);

  it("runs a tool the model was forced to call (tool_choice required) through the gate", async () => {
    await writeFile(join(daemon.home, "config.yaml"), "max-output-tokens: 160\ntool-choice: required\n");
    await new Promise((resolve) => setTimeout(resolve, 600));
    // Default permission level, nobody to ask: a random model's call to a write or shell tool is denied by
    // the gate (and recorded), a read runs; either way the call went model → daemon → gate → result.
    const events = await run({ text: "Look at the files", maxSteps: 1, interactive: false }, "do");
    const call = events.find((event) => event.event === "tool.call");
    expect(call, JSON.stringify(events.slice(-3))).toBeDefined();
    expect(["read_file", "list_dir", "search_files", "grep", "write_file", "edit_file", "run_command"]).toContain(
      call!.name,
    );
    expect(typeof call!.args).toBe("object");
    const result = events.find((event) => event.event === "tool.result");
    expect(result?.callId).toBe(call!.callId);
    // Random weights can run out of max-output-tokens mid-arguments: that is returned to the model as
    // INVALID_ARGS. Otherwise the gate decided: reads run (allowed by policy), writes and commands are denied.
    if (result?.code !== "INVALID_ARGS") {
      if (["write_file", "edit_file", "run_command"].includes(String(call!.name))) {
        expect(result).toMatchObject({ ok: false, code: "PERMISSION_DENIED" });
      } else {
        expect(result).toMatchObject({ allowedBy: "policy" });
      }
    }
    expect(events.at(-1)).toMatchObject({ event: "turn.done", stopReason: "max_steps", toolCalls: expect.any(Number) });
  }, 120_000);
});
