import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

type Event = Record<string, unknown> & { event: string; seq: number };
type Info = { id: string; title: string; pinned?: boolean; cwd: string; updatedAt: string; activeTurnId?: string };

const DAY = 86_400_000;
/** A session last touched 60 days ago, written before the daemon starts (as an old install has them). */
const OLD_ID = "s-0000old000000000000000";

describe("session lifecycle: rename, pin, delete, prune", () => {
  let model: ScriptedServer;
  let daemon: DaemonProcess;
  let home: string;
  let cleanup: () => Promise<void>;
  let call: ReturnType<typeof api>;
  const sessionsDir = () => join(home, "daemon", "sessions");

  beforeAll(async () => {
    model = await startScriptedServer({});
    const temp = await tempHome();
    home = temp.home;
    cleanup = temp.cleanup;
    await mkdir(join(home, "daemon", "sessions"), { recursive: true });
    const ts = new Date(Date.now() - 60 * DAY).toISOString();
    await writeFile(
      join(home, "daemon", "sessions", `${OLD_ID}.jsonl`),
      `${JSON.stringify({ seq: 1, event: "session.start", ts, sessionId: OLD_ID, title: "old work", cwd: "/tmp", mode: "chat", model: "" })}\n`,
    );
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
    call = api(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    await cleanup?.();
  });

  async function newSession(title?: string): Promise<string> {
    const response = await call("/v3/sessions", { method: "POST", json: title ? { title } : {} });
    return ((await response.json()) as { id: string }).id;
  }
  async function list(): Promise<Info[]> {
    return ((await (await call("/v3/sessions")).json()) as { sessions: Info[] }).sessions;
  }
  async function events(id: string): Promise<Event[]> {
    return ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
  }

  it("renames and pins as events that replay, and the list carries title, pinned and cwd", async () => {
    const id = await newSession();
    const renamed = await call(`/v3/sessions/${id}`, { method: "PATCH", json: { title: "Auth refactor" } });
    expect(renamed.status).toBe(200);
    expect(await renamed.json()).toMatchObject({ id, title: "Auth refactor" });
    const pinned = await call(`/v3/sessions/${id}`, { method: "PATCH", json: { pinned: true } });
    expect(await pinned.json()).toMatchObject({ pinned: true });
    const entry = (await list()).find((session) => session.id === id);
    expect(entry).toMatchObject({ title: "Auth refactor", pinned: true, cwd: expect.stringMatching(/^\//) });
    const recorded = (await events(id)).map((event) => event.event);
    expect(recorded).toEqual(["session.start", "session.renamed", "session.pinned"]);
    // An explicit title is kept when the first turn would otherwise name the session.
    await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text: "first question" } });
    await waitFor(async () => ((await events(id)).at(-1)?.event === "turn.done" ? true : undefined));
    expect((await list()).find((session) => session.id === id)?.title).toBe("Auth refactor");
    // Bad updates are refused with a code.
    const empty = await call(`/v3/sessions/${id}`, { method: "PATCH", json: { title: "  " } });
    expect(empty.status).toBe(400);
    const unknown = await call(`/v3/sessions/${id}`, { method: "PATCH", json: { colour: "red" } });
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("VALIDATION_FAILED");
  });

  it("names who answered on turn.done and gives an overwriting write_file a bounded, masked diff", async () => {
    const { mkdtemp, realpath } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const work = await realpath(await mkdtemp(join(tmpdir(), "opta-diff-work-")));
    await writeFile(join(work, "notes.txt"), "one\ntwo\nthree\n");
    const secret = `sk-${"A1b2C3d4".repeat(5)}`;
    model.setReplies([
      {
        toolCalls: [
          { name: "write_file", arguments: { path: "notes.txt", content: `one\n2\nthree\nkey=${secret}\n` } },
        ],
      },
      { chunks: ["done"] },
    ]);
    const response = await call("/v3/sessions", { method: "POST", json: { cwd: work } });
    const id = ((await response.json()) as { id: string }).id;
    await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text: "edit", permission: "unrestricted" } });
    const all = await waitFor(async () => {
      const list = await events(id);
      return list.at(-1)?.event === "turn.done" ? list : undefined;
    });
    const result = all.find((event) => event.event === "tool.result") as unknown as {
      ok: boolean;
      result: Record<string, unknown>;
    };
    expect(result.ok).toBe(true);
    expect(result.result).toMatchObject({ created: false, added: 2, removed: 1 });
    const diff = String(result.result.diff);
    expect(diff).toContain("@@ -1,3 +1,4 @@");
    expect(diff).toContain("-two");
    expect(diff).toContain("+2");
    // Masked like every tool result: the key never reaches the log.
    expect(JSON.stringify(all)).not.toContain(secret);
    expect(all.at(-1)).toMatchObject({ event: "turn.done", provider: "lmx", model: "scripted-model" });
    model.setReplies([]);
    await rm(work, { recursive: true, force: true });
  });

  it("survives a restart: the index is rebuilt from the events", async () => {
    const id = await newSession();
    await call(`/v3/sessions/${id}`, { method: "PATCH", json: { title: "kept name", pinned: true } });
    await daemon.stop();
    await rm(join(sessionsDir(), "index.json"), { force: true });
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
    call = api(daemon);
    expect((await list()).find((session) => session.id === id)).toMatchObject({ title: "kept name", pinned: true });
  });

  it("deletes into a gzipped archive, tells the global feed, ends open streams, and 404s after", async () => {
    const id = await newSession("to delete");
    await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text: "hello" } });
    await waitFor(async () => ((await events(id)).at(-1)?.event === "turn.done" ? true : undefined));
    const stored = await readFile(join(sessionsDir(), `${id}.jsonl`), "utf8");
    const wsBase = daemon.url.replace("http", "ws");
    const feed = new WebSocket(`${wsBase}/v3/events?token=${daemon.token}&events=session.deleted`);
    const feedFrames: Array<Record<string, unknown>> = [];
    feed.on("message", (data) => feedFrames.push(JSON.parse(String(data))));
    await new Promise((resolve) => feed.once("open", resolve));
    const stream = new WebSocket(`${wsBase}/v3/sessions/${id}/stream?token=${daemon.token}`);
    const closed = new Promise<number>((resolve) => stream.once("close", (code) => resolve(code)));
    await new Promise((resolve) => stream.once("open", resolve));

    const response = await call(`/v3/sessions/${id}`, { method: "DELETE" });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { deleted: { id: string; archivedTo: string }; purged: boolean };
    expect(body).toMatchObject({ purged: false, deleted: { id, title: "to delete" } });
    expect(body.deleted.archivedTo).toBe(join(sessionsDir(), "archive", `${id}.jsonl.gz`));
    expect(gunzipSync(await readFile(body.deleted.archivedTo)).toString("utf8")).toBe(stored);
    expect(existsSync(join(sessionsDir(), `${id}.jsonl`))).toBe(false);
    expect((await list()).some((session) => session.id === id)).toBe(false);
    expect((await call(`/v3/sessions/${id}`)).status).toBe(404);
    expect(await closed).toBe(4404);
    const deleted = await waitFor(() => feedFrames.find((frame) => frame.event === "session.deleted"));
    expect(deleted).toMatchObject({ sessionId: id, archived: true });
    feed.close();

    const purgeId = await newSession("to purge");
    const purged = await call(`/v3/sessions/${purgeId}?purge=1`, { method: "DELETE" });
    expect(await purged.json()).toMatchObject({ purged: true, deleted: { id: purgeId } });
    expect(existsSync(join(sessionsDir(), "archive", `${purgeId}.jsonl.gz`))).toBe(false);
    expect(existsSync(join(sessionsDir(), `${purgeId}.jsonl`))).toBe(false);
  });

  it("refuses to delete a session whose turn is running", async () => {
    model.setReplies([{ hang: true }]);
    const id = await newSession("busy");
    await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text: "hang" } });
    const response = await call(`/v3/sessions/${id}`, { method: "DELETE" });
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("TURN_IN_PROGRESS");
    await call(`/v3/sessions/${id}/stop`, { method: "POST" });
    model.setReplies([]);
  });

  it("prunes by age: a dry run lists, a real run archives, running and pinned sessions are kept", async () => {
    const dry = await call("/v3/sessions/prune", { method: "POST", json: { olderThanMs: 30 * DAY, dryRun: true } });
    expect(await dry.json()).toMatchObject({ dryRun: true, sessions: [{ id: OLD_ID, title: "old work" }], kept: [] });
    expect(existsSync(join(sessionsDir(), `${OLD_ID}.jsonl`))).toBe(true);

    const real = await call("/v3/sessions/prune", { method: "POST", json: { olderThanMs: 30 * DAY } });
    const body = (await real.json()) as { sessions: Array<{ id: string; archivedTo?: string }> };
    expect(body.sessions.map((session) => session.id)).toEqual([OLD_ID]);
    expect(body.sessions[0]?.archivedTo).toBe(join(sessionsDir(), "archive", `${OLD_ID}.jsonl.gz`));
    expect((await list()).some((session) => session.id === OLD_ID)).toBe(false);

    // Everything is "older than 0 ms": only the running and the pinned sessions stay.
    model.setReplies([{ hang: true }]);
    const running = await newSession("running");
    await call(`/v3/sessions/${running}/turns`, { method: "POST", json: { text: "hang" } });
    const all = await call("/v3/sessions/prune", { method: "POST", json: { olderThanMs: 0, purge: true } });
    const result = (await all.json()) as { kept: Array<{ id: string; reason: string }>; purged: boolean };
    expect(result.purged).toBe(true);
    expect(result.kept).toContainEqual({ id: running, reason: "running" });
    expect(result.kept.some((entry) => entry.reason === "pinned")).toBe(true);
    const left = await list();
    expect(left.map((session) => session.id).sort()).toEqual(result.kept.map((entry) => entry.id).sort());
    await call(`/v3/sessions/${running}/stop`, { method: "POST" });
  });
});
