import { existsSync } from "node:fs";
import { readFile, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedReply, type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

type Event = Record<string, unknown> & { event: string; seq: number };
type ToolCall = NonNullable<ScriptedReply["toolCalls"]>[number];
/** A rewind's answer: the RewindResponse, or an error body. */
interface RewindAnswer {
  scope?: string;
  toTurnId?: string;
  turnIds?: string[];
  files?: Array<Record<string, unknown>>;
  error?: { code: string; message: string; details: { conflicts: Array<Record<string, unknown>> } };
}

describe("checkpoints, rewind and fork", () => {
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
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
    call = api(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    for (const cleanup of cleanups) await cleanup();
  });

  const file = (name: string) => join(workspace, name);
  const read = (name: string) => readFile(file(name), "utf8");
  async function session(): Promise<string> {
    const response = await call("/v3/sessions", { method: "POST", json: { cwd: workspace, mode: "do" } });
    return ((await response.json()) as { id: string }).id;
  }
  async function events(id: string): Promise<Event[]> {
    return ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
  }
  /** Runs one turn in which the model makes `calls` (one step), then answers `answer`. */
  async function turn(id: string, text: string, calls: ToolCall[], answer = `done: ${text}`): Promise<Event[]> {
    const before = (await events(id)).filter((event) => event.event === "turn.done").length;
    model.setReplies(calls.length ? [{ toolCalls: calls }, { chunks: [answer] }] : [{ chunks: [answer] }]);
    const response = await call(`/v3/sessions/${id}/turns`, {
      method: "POST",
      json: { text, permission: "unrestricted" },
    });
    expect(response.status).toBe(202);
    return waitFor(async () => {
      const all = await events(id);
      const ends = all.filter((event) => ["turn.done", "turn.error", "session.cancelled"].includes(event.event));
      return ends.length > before ? all : undefined;
    }, 15_000);
  }
  const write = (path: string, content: string): ToolCall => ({ name: "write_file", arguments: { path, content } });
  const edit = (path: string, from: string, to: string): ToolCall => ({
    name: "edit_file",
    arguments: { path, old_string: from, new_string: to },
  });
  async function rewind(id: string, body: Record<string, unknown>) {
    const response = await call(`/v3/sessions/${id}/rewind`, { method: "POST", json: body });
    return { status: response.status, body: (await response.json()) as RewindAnswer };
  }
  /** The user messages of the model request `index` (negative: from the end). */
  const userTexts = (index: number) =>
    ((model.requests.at(index)!.body.messages as Array<{ role: string; content: string }>) ?? [])
      .filter((message) => message.role === "user")
      .map((message) => message.content);

  /** Three turns: 1 changes a.txt, 2 edits it and creates new.txt, 3 rewrites a.txt and creates b.txt. */
  async function threeTurns(): Promise<string> {
    const id = await session();
    await writeFile(file("a.txt"), "original\n");
    await turn(id, "turn one", [write("a.txt", "v1\n")]);
    await turn(id, "turn two", [edit("a.txt", "v1", "v2"), write("new.txt", "made in two\n")]);
    await turn(id, "turn three", [write("a.txt", "v3\n"), write("sub/b.txt", "made in three\n")]);
    expect(await read("a.txt")).toBe("v3\n");
    return id;
  }

  it("checkpoints each file tool call: the content before it, by hash, and what it left", async () => {
    const id = await session();
    await writeFile(file("c.txt"), "before\n");
    const all = await turn(id, "change c", [write("c.txt", "after\n")]);
    const checkpoint = all.find((event) => event.event === "checkpoint")!;
    expect(checkpoint).toMatchObject({ step: 1, files: [{ path: file("c.txt"), sha256: expect.any(String) }] });
    // The copy is under the session's directory in the Opta home, never in the workspace (no commit, no .git).
    const sha = (checkpoint.files as Array<{ sha256: string }>)[0]!.sha256;
    const copies = join(home, "daemon", "sessions", "checkpoints", id);
    expect(await readFile(join(copies, sha), "utf8")).toBe("before\n");
    expect(existsSync(join(workspace, ".git"))).toBe(false);
    const written = all.find((event) => event.event === "checkpoint.written")!;
    expect(written.seq).toBeGreaterThan(checkpoint.seq);
    expect(all.indexOf(checkpoint)).toBeLessThan(all.findIndex((event) => event.event === "tool.result"));
    // Deleting the session deletes its copies.
    expect((await call(`/v3/sessions/${id}?purge=1`, { method: "DELETE" })).status).toBe(200);
    expect(existsSync(copies)).toBe(false);
  });

  it("rewinds the files to their state before turn 2: changes undone, created files removed", async () => {
    const id = await threeTurns();
    const { status, body } = await rewind(id, { toTurn: 2, scope: "files" });
    expect(status).toBe(200);
    expect(await read("a.txt")).toBe("v1\n");
    expect(existsSync(file("new.txt"))).toBe(false);
    expect(existsSync(file("sub/b.txt"))).toBe(false);
    expect(body.files).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: file("a.txt"), action: "restored" }),
        expect.objectContaining({ path: file("new.txt"), action: "removed" }),
        expect.objectContaining({ path: file("sub/b.txt"), action: "removed" }),
      ]),
    );
    // Files only: the conversation keeps all three turns.
    expect(body.turnIds).toEqual([]);
    const all = await events(id);
    expect(all.at(-1)).toMatchObject({ event: "session.rewound", scope: "files" });
    // And further back, to before turn 1.
    expect((await rewind(id, { toTurn: 1, scope: "files" })).status).toBe(200);
    expect(await read("a.txt")).toBe("original\n");
  });

  it("rewinds the conversation: the next turn's request lacks the rewound turns", async () => {
    const id = await threeTurns();
    const { status, body } = await rewind(id, { toTurn: 2, scope: "conversation" });
    expect(status).toBe(200);
    expect(body.turnIds).toHaveLength(2);
    // Conversation only: the files stay as turn 3 left them.
    expect(await read("a.txt")).toBe("v3\n");
    const info = (await (await call(`/v3/sessions/${id}`)).json()) as { turnCount: number };
    expect(info.turnCount).toBe(1);
    await turn(id, "turn four", []);
    expect(userTexts(-1)).toEqual(["turn one", "turn four"]);
    // The log stays append-only: the rewound turns are still in it.
    const texts = (await events(id)).filter((event) => event.event === "turn.start").map((event) => event.text);
    expect(texts).toEqual(["turn one", "turn two", "turn three", "turn four"]);
    // Turn numbers count the conversation as it is now: 2 is "turn four".
    const again = await rewind(id, { toTurn: 2, scope: "both" });
    expect(again.body.toTurnId).toBe((await events(id)).findLast((event) => event.event === "turn.start")!.turnId);
  });

  it("rewinds both at once", async () => {
    const id = await threeTurns();
    expect((await rewind(id, { toTurn: 3 })).body).toMatchObject({ scope: "both" });
    expect(await read("a.txt")).toBe("v2\n");
    expect(await read("new.txt")).toBe("made in two\n");
    await turn(id, "turn three again", []);
    expect(userTexts(-1)).toEqual(["turn one", "turn two", "turn three again"]);
  });

  it("refuses to clobber a file changed outside the agent, lists it, and overwrites it only with force", async () => {
    const id = await session();
    await writeFile(file("mine.txt"), "base\n");
    await turn(id, "edit mine", [write("mine.txt", "agent\n"), write("fresh.txt", "agent made\n")]);
    await writeFile(file("mine.txt"), "my own edit\n");
    const refused = await rewind(id, { toTurn: 1, scope: "files" });
    expect(refused.status).toBe(409);
    expect(refused.body.error!.code).toBe("REWIND_CONFLICT");
    expect(refused.body.error!.message).toContain("--force");
    expect(refused.body.error!.details.conflicts).toEqual([
      expect.objectContaining({ path: file("mine.txt"), reason: expect.stringContaining("outside the agent") }),
    ]);
    // Nothing was changed: neither the edited file nor the one the agent made.
    expect(await read("mine.txt")).toBe("my own edit\n");
    expect(await read("fresh.txt")).toBe("agent made\n");
    expect((await events(id)).some((event) => event.event === "session.rewound")).toBe(false);

    const forced = await rewind(id, { toTurn: 1, scope: "files", force: true });
    expect(forced.status).toBe(200);
    expect(forced.body.files).toContainEqual(
      expect.objectContaining({ path: file("mine.txt"), action: "restored", overwritten: true }),
    );
    expect(await read("mine.txt")).toBe("base\n");
    expect(existsSync(file("fresh.txt"))).toBe(false);
  });

  it("forks at turn 1: the new session has turn 1 only, and its own future", async () => {
    const id = await session();
    await turn(id, "first question", []);
    await turn(id, "second question", []);
    const response = await call(`/v3/sessions/${id}/fork`, { method: "POST", json: { atTurn: 1 } });
    expect(response.status).toBe(201);
    const fork = (await response.json()) as { id: string; turnCount: number; title: string };
    expect(fork.id).not.toBe(id);
    expect(fork.turnCount).toBe(1);
    const forked = await events(fork.id);
    expect(forked.slice(0, 2).map((event) => event.event)).toEqual(["session.start", "session.forked"]);
    expect(forked[1]).toMatchObject({ from: id, turns: 1 });
    expect(forked.filter((event) => event.event === "turn.start").map((event) => event.text)).toEqual([
      "first question",
    ]);
    expect(forked.map((event) => event.seq)).toEqual(forked.map((_, index) => index + 1));
    expect(forked.every((event) => event.sessionId === fork.id)).toBe(true);

    await turn(fork.id, "fork question", []);
    expect(userTexts(-1)).toEqual(["first question", "fork question"]);
    // The source goes on with its own history.
    await turn(id, "third question", []);
    expect(userTexts(-1)).toEqual(["first question", "second question", "third question"]);
  });

  it("a fork shares the checkpoints it copied: it can rewind the files of its own turns", async () => {
    const id = await session();
    await writeFile(file("f.txt"), "start\n");
    await turn(id, "one", [write("f.txt", "one\n")]);
    const fork = (await (await call(`/v3/sessions/${id}/fork`, { method: "POST", json: {} })).json()) as {
      id: string;
    };
    expect((await rewind(fork.id, { toTurn: 1, scope: "files" })).status).toBe(200);
    expect(await read("f.txt")).toBe("start\n");
  });

  it("names what is wrong: an unknown turn, a bad scope", async () => {
    const id = await session();
    await turn(id, "only turn", []);
    const unknown = await rewind(id, { toTurn: 5 });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: "TURN_NOT_FOUND", message: expect.stringContaining("1–1") });
    expect((await rewind(id, { toTurn: 1, scope: "everything" })).status).toBe(400);
  });

  it("does not checkpoint protected paths (.opta) and a rewind never writes there", async () => {
    const id = await session();
    const all = await turn(id, "write policy", [write(".opta/policy.yaml", "allow: [run_command]\n")]);
    expect(all.some((event) => event.event === "checkpoint")).toBe(false);
    expect(all.find((event) => event.event === "tool.result")).toMatchObject({ ok: false, code: "PROTECTED_PATH" });
  });
});
