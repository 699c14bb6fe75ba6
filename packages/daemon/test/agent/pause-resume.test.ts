import { realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedReply, type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

type Event = Record<string, unknown> & { event: string; seq: number; turnId?: string };
type Message = { role: string; content: string | null };

/**
 * Pause and resume of a Do turn through the real daemon process and a scripted model: a pause at a
 * step boundary, a daemon restart in between, and a resume that finishes the same turn within the
 * steps it had left.
 */
describe("pause and resume", () => {
  let model: ScriptedServer;
  let home: string;
  let workspace: string;
  let cleanups: Array<() => Promise<void>> = [];
  let daemon: DaemonProcess;
  let call: ReturnType<typeof api>;

  beforeAll(async () => {
    model = await startScriptedServer();
    const homeDir = await tempHome("opta-home-");
    const work = await tempHome("opta-work-");
    cleanups = [homeDir.cleanup, work.cleanup];
    home = homeDir.home;
    workspace = await realpath(work.home);
    await writeFile(join(workspace, "cli.ts"), 'const flags = ["--quiet"];\n');
    // A turn_end hook: a pause is not the end of the turn, so it runs only once the resumed turn ends.
    await writeFile(join(home, "hooks.yaml"), 'version: 1\nturn_end:\n  - command: "cat > /dev/null"\n');
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
    call = api(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    for (const cleanup of cleanups) await cleanup();
  });

  async function session(): Promise<string> {
    const response = await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } });
    return ((await response.json()) as { id: string }).id;
  }
  async function events(id: string): Promise<Event[]> {
    return ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
  }
  async function info(id: string): Promise<Record<string, unknown>> {
    return (await (await call(`/v3/sessions/${id}`)).json()) as Record<string, unknown>;
  }
  async function post(path: string, json?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await call(path, { method: "POST", ...(json === undefined ? {} : { json }) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }
  const until = (id: string, name: string) =>
    waitFor(async () => {
      const all = await events(id);
      return all.some((event) => event.event === name) ? all : undefined;
    }, 15_000);

  it("pauses mid-turn, survives a daemon restart, and resumes the same turn with the steps it had left", async () => {
    // Step 1 reads a file; step 2 is cut off mid-answer by the pause; after the resume the model would
    // call tools forever, so only the step budget ends the turn.
    const replies = (_request: unknown, index: number): ScriptedReply => {
      if (index === 0) return { toolCalls: [{ name: "read_file", arguments: { path: "cli.ts" } }] };
      if (index === 1) return { chunks: ["Half an ", "answer ", "never sent"], hangAfterChunks: 2 };
      return { toolCalls: [{ name: "list_dir", arguments: { path: ".", index } }] };
    };
    model.setReplies(replies);
    const id = await session();
    const started = await post(`/v3/sessions/${id}/turns`, {
      text: "look around",
      maxSteps: 3,
      permission: "unrestricted",
    });
    expect(started.status).toBe(202);
    const turnId = started.body.turnId as string;
    // The second model call has streamed its first words and stalls: the turn is mid-step.
    await waitFor(async () =>
      (await events(id)).some((event) => event.event === "turn.token" && event.delta === "answer ") ? true : undefined,
    );

    const paused = await post(`/v3/sessions/${id}/pause`);
    expect(paused).toEqual({ status: 200, body: { paused: true, turnId, steps: 1, remainingSteps: 2 } });
    const atPause = await events(id);
    expect(atPause.at(-1)).toMatchObject({
      event: "turn.paused",
      turnId,
      steps: 1,
      maxSteps: 3,
      remainingSteps: 2,
      toolCalls: 1,
    });
    expect(await info(id)).toMatchObject({ status: "paused", pausedTurnId: turnId });
    expect((await info(id)).activeTurnId).toBeUndefined();
    expect(atPause.filter((event) => event.event === "hook.ran")).toEqual([]);
    // A new turn now would run ahead of the paused one: refused, saying what to do.
    const refused = await post(`/v3/sessions/${id}/turns`, { text: "something else" });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: "TURN_PAUSED" });
    expect(String((refused.body.error as { message: string }).message)).toContain(`opta do --session ${id} --resume`);

    // A restart: a paused turn was not running, so it is not marked interrupted.
    await daemon.stop();
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
    call = api(daemon);
    expect(await info(id)).toMatchObject({ status: "paused", pausedTurnId: turnId });
    expect((await events(id)).some((event) => event.event === "turn.error")).toBe(false);

    const requestsBefore = model.requests.length;
    const resumed = await post(`/v3/sessions/${id}/resume`, {});
    expect(resumed.status).toBe(202);
    expect(resumed.body).toMatchObject({ sessionId: id, turnId, remainingSteps: 2 });
    const all = await until(id, "turn.done");
    const done = all.find((event) => event.event === "turn.done")!;
    // The same turn, ended by the budget it had left: 1 step before the pause + 2 after.
    expect(done).toMatchObject({ turnId, steps: 3, stopReason: "max_steps", toolCalls: 3 });
    const endHooks = (await until(id, "hook.ran")).filter((event) => event.event === "hook.ran");
    expect(endHooks).toEqual([expect.objectContaining({ hook: "turn_end", turnId, exitCode: 0 })]);
    expect(model.requests.length - requestsBefore).toBe(2);
    expect(all.filter((event) => event.event === "turn.start")).toHaveLength(1);
    expect(all.find((event) => event.event === "turn.resumed")).toMatchObject({ turnId, steps: 1, remainingSteps: 2 });
    expect(new Set(all.filter((event) => event.turnId !== undefined).map((event) => event.turnId))).toEqual(
      new Set([turnId]),
    );
    // The resumed model call carries the whole history: the task and the first step's tool result,
    // but not the half answer the pause cut off.
    const firstResumed = model.requests[requestsBefore]!.body.messages as Message[];
    expect(firstResumed.find((message) => message.role === "user")?.content).toBe("look around");
    expect(firstResumed.find((message) => message.role === "tool")?.content).toContain("--quiet");
    expect(JSON.stringify(firstResumed)).not.toContain("Half an");
    expect(await info(id)).toMatchObject({ status: "done" });
    expect((await info(id)).pausedTurnId).toBeUndefined();
    // Nothing paused now: resume says so.
    const again = await post(`/v3/sessions/${id}/resume`, {});
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: "NO_PAUSED_TURN" });
  });

  it("stop on a paused turn cancels it, and the session takes new turns again", async () => {
    model.setReplies((_request, index) => (index === 0 ? { hang: true } : { chunks: ["fresh"] }));
    const id = await session();
    const { body } = await post(`/v3/sessions/${id}/turns`, { text: "wait", permission: "unrestricted" });
    const turnId = body.turnId as string;
    await waitFor(() =>
      model.requests.some((request) => JSON.stringify(request.body).includes('"wait"')) ? true : undefined,
    );
    // Paused before its first model call answered: no step counts.
    expect((await post(`/v3/sessions/${id}/pause`)).body).toMatchObject({ paused: true, turnId, steps: 0 });
    const stopped = await post(`/v3/sessions/${id}/stop`);
    expect(stopped.body).toEqual({ stopped: true, turnId });
    // Stopped, the paused turn has ended: its turn_end hook runs now, after the cancellation.
    expect((await events(id)).slice(-2)).toMatchObject([
      { event: "session.cancelled", turnId },
      { event: "hook.ran", hook: "turn_end", turnId, exitCode: 0 },
    ]);
    expect(await info(id)).toMatchObject({ status: "cancelled" });
    expect((await post(`/v3/sessions/${id}/resume`, {})).body.error).toMatchObject({ code: "NO_PAUSED_TURN" });
    const next = await post(`/v3/sessions/${id}/turns`, { text: "again" });
    expect(next.status).toBe(202);
    const all = await until(id, "turn.done");
    // The turn_end hook's hook.ran may follow turn.done; the turn's end is what counts.
    expect(all.filter((event) => event.event === "turn.done")).toMatchObject([{ turnId: next.body.turnId }]);
  });

  it("a resumed turn keeps counting repeated calls: the doom-loop guard does not restart at the pause", async () => {
    // The model lists the same directory again and again; the pause comes after two such calls.
    model.setReplies((_request, index) => {
      if (index === 2) return { hang: true };
      if (index >= 4) return { chunks: ["Stopped repeating."] };
      return { toolCalls: [{ name: "list_dir", arguments: { path: "." } }] };
    });
    const before = model.requests.length;
    const id = await session();
    const { body } = await post(`/v3/sessions/${id}/turns`, { text: "look", permission: "unrestricted" });
    const turnId = body.turnId as string;
    await waitFor(() => (model.requests.length >= before + 3 ? true : undefined));
    expect((await post(`/v3/sessions/${id}/pause`)).body).toMatchObject({ paused: true, turnId, steps: 2 });
    expect((await post(`/v3/sessions/${id}/resume`, {})).status).toBe(202);
    const all = await until(id, "turn.done");
    const results = all.filter((event) => event.event === "tool.result");
    // Two ran before the pause; the third identical call, after the resume, is refused as a repeat.
    expect(results.map((event) => event.code ?? "ok")).toEqual(["ok", "ok", "REPEATED_CALL"]);
  });

  it("withdraws an approval the pause comes during, and the resumed turn asks the model again", async () => {
    model.setReplies([
      { toolCalls: [{ name: "write_file", arguments: { path: "notes.md", content: "hi\n" } }] },
      { chunks: ["Done after resume."] },
    ]);
    const id = await session();
    const { body } = await post(`/v3/sessions/${id}/turns`, { text: "write notes" });
    const turnId = body.turnId as string;
    await until(id, "permission.request");
    expect((await post(`/v3/sessions/${id}/pause`)).body).toMatchObject({ paused: true, steps: 1 });
    const atPause = await events(id);
    expect(atPause.find((event) => event.event === "permission.resolved")).toMatchObject({
      decision: "deny",
      by: "pause",
    });
    expect(atPause.find((event) => event.event === "tool.result")).toMatchObject({ ok: false, code: "PAUSED" });
    expect((await post(`/v3/sessions/${id}/resume`, {})).status).toBe(202);
    const all = await until(id, "turn.done");
    expect(all.filter((event) => event.event === "turn.done")).toMatchObject([
      { turnId, steps: 2, stopReason: "stop" },
    ]);
    const last = model.requests.at(-1)!.body.messages as Message[];
    expect(last.find((message) => message.role === "tool")?.content).toContain("paused before this call was approved");
  });
});
