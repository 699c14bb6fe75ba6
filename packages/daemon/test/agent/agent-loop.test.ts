import { mkdir, readFile, realpath, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

type Event = Record<string, unknown> & { event: string; seq: number };

describe("the agent loop", () => {
  let model: ScriptedServer;
  let home: string;
  let workspace: string;
  let outside: string;
  let cleanups: Array<() => Promise<void>> = [];
  let daemon: DaemonProcess;
  let call: ReturnType<typeof api>;

  beforeAll(async () => {
    model = await startScriptedServer();
    const homeDir = await tempHome("opta-home-");
    const work = await tempHome("opta-work-");
    const other = await tempHome("opta-outside-");
    cleanups = [homeDir.cleanup, work.cleanup, other.cleanup];
    home = homeDir.home;
    workspace = await realpath(work.home);
    outside = await realpath(other.home);
    await writeFile(join(workspace, "cli.ts"), 'const flags = ["--quiet"];\nexport default flags;\n');
    await writeFile(join(outside, "secret.txt"), "top secret\n");
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
    call = api(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    for (const cleanup of cleanups) await cleanup();
  });
  afterEach(() => {
    model.setReplies([{ chunks: ["ok"] }]);
  });

  async function session(mode: "chat" | "do" = "do"): Promise<string> {
    const response = await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode } });
    return ((await response.json()) as { id: string }).id;
  }
  async function events(id: string): Promise<Event[]> {
    return ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
  }
  async function untilEnd(id: string, turns = 1): Promise<Event[]> {
    return waitFor(async () => {
      const all = await events(id);
      const ends = all.filter((event) => ["turn.done", "turn.error", "session.cancelled"].includes(event.event));
      return ends.length >= turns ? all : undefined;
    }, 15_000);
  }
  async function turn(id: string, body: Record<string, unknown>) {
    const response = await call(`/v3/sessions/${id}/turns`, { method: "POST", json: body });
    expect(response.status).toBe(202);
  }
  const results = (all: Event[]) => all.filter((event) => event.event === "tool.result");

  it("runs a multi-step task: reads, edits a file and runs a command, then answers", async () => {
    model.setReplies([
      { chunks: ["Reading."], toolCalls: [{ name: "read_file", arguments: { path: "cli.ts" } }] },
      {
        toolCalls: [
          {
            name: "edit_file",
            arguments: { path: "cli.ts", old_string: '"--quiet"', new_string: '"--quiet", "--verbose"' },
          },
        ],
      },
      { toolCalls: [{ name: "run_command", arguments: { command: "grep -c verbose cli.ts" } }] },
      { chunks: ["Added ", "--verbose."] },
    ]);
    const id = await session();
    await turn(id, { text: "add a --verbose flag to cli.ts and check it", permission: "unrestricted" });
    const all = await untilEnd(id);
    expect(all.at(-1)).toMatchObject({ event: "turn.done", steps: 4, toolCalls: 3, stopReason: "stop" });
    expect(results(all)[0]).toMatchObject({ allowedBy: "policy", rule: expect.any(String) });
    expect(results(all).map((event) => [event.name, event.ok])).toEqual([
      ["read_file", true],
      ["edit_file", true],
      ["run_command", true],
    ]);
    expect(await readFile(join(workspace, "cli.ts"), "utf8")).toContain('"--verbose"');
    const commandResult = results(all)[2]!.result as { exitCode: number; stdout: string };
    expect(commandResult.exitCode).toBe(0);
    expect(commandResult.stdout.trim()).toBe("1");
    // The model saw each result: the last request carries every tool message in order.
    const lastMessages = model.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>;
    expect(lastMessages.filter((message) => message.role === "tool")).toHaveLength(3);
    expect(lastMessages.find((message) => message.role === "tool")?.content).toContain("--quiet");
  });

  it("asks before a write in Do mode, runs it once allowed, and refuses it once denied", async () => {
    model.setReplies([
      { toolCalls: [{ name: "write_file", arguments: { path: "notes.md", content: "hello\n" } }] },
      { chunks: ["written"] },
    ]);
    const id = await session();
    await turn(id, { text: "write notes" });
    const request = await waitFor(async () => (await events(id)).find((event) => event.event === "permission.request"));
    expect(request).toMatchObject({ name: "write_file", risk: "write" });
    expect(String(request.suggestion)).toContain("write_file");
    const answered = await call(`/v3/sessions/${id}/permissions/${request.requestId}`, {
      method: "POST",
      json: { decision: "allow" },
    });
    expect(answered.status).toBe(200);
    const all = await untilEnd(id);
    expect(all.find((event) => event.event === "permission.resolved")).toMatchObject({ decision: "allow", by: "user" });
    expect(results(all)[0]).toMatchObject({ ok: true, name: "write_file", allowedBy: "user" });
    expect(await readFile(join(workspace, "notes.md"), "utf8")).toBe("hello\n");

    model.setReplies([
      { toolCalls: [{ name: "write_file", arguments: { path: "notes.md", content: "overwritten\n" } }] },
      { chunks: ["ok"] },
    ]);
    await turn(id, { text: "overwrite it" });
    const second = await waitFor(async () => {
      const found = (await events(id)).filter((event) => event.event === "permission.request");
      return found.length === 2 ? found[1] : undefined;
    });
    await call(`/v3/sessions/${id}/permissions/${second.requestId}`, { method: "POST", json: { decision: "deny" } });
    const after = await untilEnd(id, 2);
    expect(results(after)[1]).toMatchObject({ ok: false });
    expect(String(results(after)[1]!.error)).toContain("denied");
    expect(await readFile(join(workspace, "notes.md"), "utf8")).toBe("hello\n");
    // Answering twice is a 404: the request is gone.
    const again = await call(`/v3/sessions/${id}/permissions/${second.requestId}`, {
      method: "POST",
      json: { decision: "allow" },
    });
    expect(again.status).toBe(404);
  });

  it("denies at once when nobody can answer, naming the policy line to add", async () => {
    model.setReplies([
      { toolCalls: [{ name: "edit_file", arguments: { path: "cli.ts", old_string: "a", new_string: "b" } }] },
      { chunks: ["ok"] },
    ]);
    const id = await session();
    await turn(id, { text: "edit", interactive: false });
    const all = await untilEnd(id);
    expect(all.some((event) => event.event === "permission.request")).toBe(false);
    const result = results(all)[0]!;
    expect(result).toMatchObject({ ok: false, code: "PERMISSION_DENIED" });
    expect(String(result.error)).toMatch(/policy/);
    expect(String(result.error)).toContain("edit_file");
  });

  it("denies a command the gate cannot read without offering a policy line that could not allow it", async () => {
    model.setReplies([
      { toolCalls: [{ name: "run_command", arguments: { command: "echo a\r# ; touch M" } }] },
      { chunks: ["ok"] },
    ]);
    const id = await session();
    await turn(id, { text: "run", interactive: false, permission: "standard" });
    const result = results(await untilEnd(id))[0]!;
    expect(result).toMatchObject({ ok: false, code: "PERMISSION_DENIED" });
    expect(String(result.error)).toContain("carriage return");
    expect(String(result.error)).not.toContain("To allow it");
  });

  it("denies run_command by default and refuses paths outside the workspace", async () => {
    await symlink(outside, join(workspace, "escape"));
    model.setReplies([
      {
        toolCalls: [
          { name: "run_command", arguments: { command: "echo hi" } },
          { name: "read_file", arguments: { path: "../outside.txt" } },
          { name: "read_file", arguments: { path: join(outside, "secret.txt") } },
          { name: "read_file", arguments: { path: "escape/secret.txt" } },
        ],
      },
      { chunks: ["done"] },
    ]);
    const id = await session();
    await turn(id, { text: "try things" });
    const all = await untilEnd(id);
    const found = results(all);
    expect(found).toHaveLength(4);
    expect(found.every((event) => event.ok === false)).toBe(true);
    expect(String(found[0]!.error)).toContain("denied");
    for (const refused of found.slice(1)) expect(String(refused.error)).toMatch(/outside/i);
    expect(JSON.stringify(all)).not.toContain("top secret");
  });

  it("runs several calls at once and returns the results in the model's order", async () => {
    await writeFile(join(workspace, "slow.txt"), "slow\n");
    model.setReplies([
      {
        toolCalls: [
          { name: "read_file", arguments: { path: "cli.ts" } },
          { name: "list_dir", arguments: { path: "." } },
          { name: "grep", arguments: { pattern: "verbose", path: "." } },
          { name: "read_file", arguments: { path: "slow.txt" } },
          { name: "read_file", arguments: "{not json" },
        ],
      },
      { chunks: ["ok"] },
    ]);
    const id = await session();
    await turn(id, { text: "look around" });
    const all = await untilEnd(id);
    const calls = all.filter((event) => event.event === "tool.call");
    expect(calls.map((event) => event.name)).toEqual(["read_file", "list_dir", "grep", "read_file", "read_file"]);
    const bad = results(all).find((event) => event.callId === calls[4]!.callId)!;
    expect(bad.ok).toBe(false);
    expect(String(bad.error)).toMatch(/JSON/);
    const toolMessages = (
      model.requests.at(-1)!.body.messages as Array<{ role: string; tool_call_id?: string }>
    ).filter((message) => message.role === "tool");
    expect(toolMessages.map((message) => message.tool_call_id)).toEqual(calls.map((event) => event.callId));
  });

  it("stops at max-steps with stopReason max_steps, and resumes with the whole history", async () => {
    model.setReplies(() => ({ toolCalls: [{ name: "list_dir", arguments: { path: "." } }] }));
    const id = await session();
    await turn(id, { text: "loop forever", maxSteps: 2 });
    const all = await untilEnd(id);
    expect(all.at(-1)).toMatchObject({ event: "turn.done", stopReason: "max_steps", steps: 2, toolCalls: 2 });
    model.setReplies([{ chunks: ["continuing"] }]);
    await turn(id, { text: "continue" });
    await untilEnd(id, 2);
    const messages = model.requests.at(-1)!.body.messages as Array<{ role: string; content: string | null }>;
    expect(messages.map((message) => message.role)).toEqual([
      "system",
      "user",
      "assistant",
      "tool",
      "assistant",
      "tool",
      "user",
    ]);
    expect(messages.at(-1)?.content).toBe("continue");
  });

  it("cancels a long run_command on stop and kills it", async () => {
    await mkdir(join(workspace, ".opta"), { recursive: true });
    await writeFile(
      join(workspace, ".opta", "policy.yaml"),
      "allow:\n  - run_command(sleep)\n  - run_command(touch)\n",
    );
    const marker = join(workspace, "still-running");
    model.setReplies([
      {
        toolCalls: [
          { name: "run_command", arguments: { command: `sleep 120.71; touch ${marker}`, timeout_seconds: 300 } },
        ],
      },
    ]);
    const id = await session();
    await turn(id, { text: "run it" });
    await waitFor(async () => ((await events(id)).some((event) => event.event === "tool.call") ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stop = await call(`/v3/sessions/${id}/stop`, { method: "POST" });
    // The command would run for two minutes, far past the test's timeout: a stop that waited for
    // it instead of killing it fails here, on any machine, with no wall-clock budget.
    expect(await stop.json()).toMatchObject({ stopped: true });
    const all = await events(id);
    expect(all.at(-1)?.event).toBe("session.cancelled");
    const result = results(all)[0]!;
    expect(result.ok).toBe(false);
    const { execFileSync } = await import("node:child_process");
    const running = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
    expect(running).not.toContain("sleep 29.71");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { existsSync } = await import("node:fs");
    expect(existsSync(marker)).toBe(false);
  });

  it("persists 'always' and honours it after a daemon restart", async () => {
    model.setReplies([
      { toolCalls: [{ name: "write_file", arguments: { path: "always.txt", content: "1" } }] },
      { chunks: ["ok"] },
    ]);
    const id = await session();
    await turn(id, { text: "write" });
    const request = await waitFor(async () => (await events(id)).find((event) => event.event === "permission.request"));
    await call(`/v3/sessions/${id}/permissions/${request.requestId}`, { method: "POST", json: { decision: "always" } });
    await untilEnd(id);
    const policy = await readFile(join(home, "policies", "always.yaml"), "utf8");
    expect(policy).toContain("write_file");

    await daemon.stop();
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
    call = api(daemon);
    model.setReplies([
      { toolCalls: [{ name: "write_file", arguments: { path: "always.txt", content: "2" } }] },
      { chunks: ["ok"] },
    ]);
    const next = await session();
    await turn(next, { text: "write again" });
    const all = await untilEnd(next);
    expect(all.some((event) => event.event === "permission.request")).toBe(false);
    expect(results(all)[0]).toMatchObject({ ok: true });
    expect(await readFile(join(workspace, "always.txt"), "utf8")).toBe("2");
  });

  it("asks even for reads in Chat mode", async () => {
    model.setReplies([{ toolCalls: [{ name: "read_file", arguments: { path: "cli.ts" } }] }, { chunks: ["ok"] }]);
    const id = await session("chat");
    await turn(id, { text: "read it" });
    const request = await waitFor(async () => (await events(id)).find((event) => event.event === "permission.request"));
    expect(request.name).toBe("read_file");
    await call(`/v3/sessions/${id}/stop`, { method: "POST" });
    const all = await events(id);
    expect(all.find((event) => event.event === "permission.resolved")).toMatchObject({
      decision: "deny",
      by: "cancel",
    });
    expect(all.at(-1)?.event).toBe("session.cancelled");
  });

  it("compacts a session through the model and uses the summary afterwards", async () => {
    model.setReplies([{ chunks: ["first answer"] }]);
    const id = await session();
    await turn(id, { text: "first question" });
    await untilEnd(id);
    model.setReplies([{ chunks: ["- the user asked a first question"] }]);
    const compacted = await call(`/v3/sessions/${id}/compact`, { method: "POST" });
    expect(await compacted.json()).toMatchObject({ compacted: true, summary: "- the user asked a first question" });
    model.setReplies([{ chunks: ["second answer"] }]);
    await turn(id, { text: "second question" });
    await untilEnd(id, 2);
    const messages = model.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>;
    expect(messages[1]?.content).toContain("the user asked a first question");
    expect(JSON.stringify(messages)).not.toContain("first answer");
  });

  it("compacts automatically when the last request filled 80% of the context window", async () => {
    await writeFile(join(home, "config.yaml"), "context-window: 1000\n");
    await new Promise((resolve) => setTimeout(resolve, 600));
    model.setReplies([{ chunks: ["big answer"], usage: { prompt_tokens: 900, completion_tokens: 2 } }]);
    const id = await session();
    await turn(id, { text: "fill the window" });
    await untilEnd(id);
    model.setReplies([{ chunks: ["- summary of the big turn"] }, { chunks: ["fresh answer"] }]);
    await turn(id, { text: "next task" });
    const all = await untilEnd(id, 2);
    const compacted = all.find((event) => event.event === "session.compacted");
    expect(compacted).toMatchObject({ summary: "- summary of the big turn" });
    expect((compacted!.turnIds as string[]).length).toBe(1);
    const messages = model.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>;
    expect(messages[1]?.content).toContain("summary of the big turn");
    expect(messages.at(-1)).toEqual({ role: "user", content: "next task" });
    expect(JSON.stringify(messages)).not.toContain("big answer");
    await writeFile(join(home, "config.yaml"), "{}\n");
  });

  it("compacts in the middle of a long Do turn when its own tool results fill the window", async () => {
    await writeFile(join(home, "config.yaml"), "context-window: 1000\n");
    await new Promise((resolve) => setTimeout(resolve, 600));
    model.setReplies([
      {
        toolCalls: [{ name: "list_dir", arguments: { path: "." } }],
        usage: { prompt_tokens: 850, completion_tokens: 5 },
      },
      { chunks: ["- listed the workspace"] },
      { chunks: ["finished"] },
    ]);
    const id = await session();
    await turn(id, { text: "survey the workspace" });
    const all = await untilEnd(id);
    const order = all.map((event) => event.event);
    expect(order.indexOf("session.compacted")).toBeGreaterThan(order.indexOf("tool.result"));
    expect(order.at(-1)).toBe("turn.done");
    const last = model.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>;
    // The system prompt stays first; the summary follows it.
    expect(last[0]?.role).toBe("system");
    expect(last[1]?.content).toContain("listed the workspace");
    expect(last.at(-1)?.content).toContain("survey the workspace");
    expect(last.some((message) => message.role === "tool")).toBe(false);
    await writeFile(join(home, "config.yaml"), "{}\n");
  });

  it("runs up to 8 calls at once: eight meet at a barrier, and no more than eight ever run", async () => {
    await mkdir(join(workspace, ".opta"), { recursive: true });
    await writeFile(join(workspace, ".opta", "policy.yaml"), "allow:\n  - run_command(./barrier.sh)\n");
    // Each call marks itself running, waits until eight have started (a sequential loop would wait
    // forever and the test would time out), notes how many run at that moment, then ends.
    await writeFile(
      join(workspace, "barrier.sh"),
      [
        "#!/bin/sh",
        'touch "started.$1" "running.$1"',
        'while [ "$(ls started.* | wc -l)" -lt 8 ]; do sleep 0.05; done',
        "sleep 0.3",
        'ls running.* | wc -l > "seen.$1"',
        'rm "running.$1"',
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    model.setReplies([
      {
        toolCalls: Array.from({ length: 10 }, (_, index) => ({
          name: "run_command",
          arguments: { command: `./barrier.sh ${index}` },
        })),
      },
      { chunks: ["met"] },
    ]);
    const id = await session();
    await turn(id, { text: "meet at the barrier" });
    const all = await untilEnd(id);
    expect(results(all).filter((event) => event.ok)).toHaveLength(10);
    const seen = await Promise.all(
      Array.from({ length: 10 }, async (_, index) => Number(await readFile(join(workspace, `seen.${index}`), "utf8"))),
    );
    expect(Math.max(...seen)).toBeLessThanOrEqual(8);
  }, 30_000);
});
