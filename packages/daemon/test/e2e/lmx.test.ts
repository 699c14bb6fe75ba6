import { execFileSync } from "node:child_process";
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
    // 8192 tokens a sequence: the generated model's byte-level vocabulary spends about a token per
    // 2–3 bytes, so the system prompt and the tool schemas alone come near its 4096-token window.
    lmx = await startLmx({ port: 0, modelsDir: models.home, threads: 1, parallel: 2, contextSize: 8192 });
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

  async function run(
    body: Record<string, unknown>,
    mode: "chat" | "do",
    options: { cwd?: string; sessionId?: string } = {},
  ): Promise<Event[]> {
    const id =
      options.sessionId ??
      (
        (await (
          await call("/v3/sessions", { method: "POST", json: { cwd: options.cwd ?? workspace, mode } })
        ).json()) as { id: string }
      ).id;
    const ends = async () =>
      ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events.filter((event) =>
        ["turn.done", "turn.error", "session.cancelled"].includes(event.event),
      ).length;
    const before = await ends();
    const submitted = await call(`/v3/sessions/${id}/turns`, { method: "POST", json: body });
    expect(submitted.status).toBe(202);
    return waitFor(async () => {
      const all = ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
      const last = all.at(-1)?.event;
      const done = last === "turn.done" || last === "turn.error" || last === "session.cancelled";
      return done && (await ends()) > before ? all : undefined;
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

  it("reuses LMX's KV cache for the next turn's prompt, also after a file in the repository changed", async () => {
    const repo = join(workspace, "repo");
    await mkdir(repo, { recursive: true });
    await writeFile(join(repo, "a.txt"), "a\n");
    execFileSync("git", ["init", "-q", "-b", "main", repo]);
    const first = (await run({ text: "Say hello", interactive: false }, "do", { cwd: repo })).at(-1)!;
    expect(first, JSON.stringify(first)).toMatchObject({ event: "turn.done", cachedTokens: expect.any(Number) });
    const sessionId = String(first.sessionId);
    // What the agent's own write_file does to git status; the prompt keeps its git snapshot.
    await writeFile(join(repo, "b.txt"), "b\n");
    const second = (await run({ text: "Say hello again", interactive: false }, "do", { sessionId })).at(-1)!;
    expect(second, JSON.stringify(second)).toMatchObject({ event: "turn.done" });
    // The whole first turn (system prompt, tools, message, answer) came from the cache; only the
    // new message was evaluated (bench/agent/prompt-cache measures ~0.99).
    expect(second.cachedTokens as number).toBeGreaterThanOrEqual(0.9 * (second.promptTokens as number));
  }, 180_000);

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
