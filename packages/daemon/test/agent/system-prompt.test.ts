import { execFileSync } from "node:child_process";
import { mkdir, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

type Event = Record<string, unknown> & { event: string; seq: number };
type Message = { role: string; content: string | null };

/** The first message of the model's last request: the system prompt. */
function systemOf(model: ScriptedServer, index = -1): Message {
  return (model.requests.at(index)!.body.messages as Message[])[0]!;
}

describe("the system prompt", () => {
  let model: ScriptedServer;
  let home: string;
  let repo: string;
  let sub: string;
  let plain: string;
  let daemon: DaemonProcess;
  let call: ReturnType<typeof api>;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    model = await startScriptedServer({ replies: [{ chunks: ["ok"] }] });
    const homeDir = await tempHome("opta-home-");
    const work = await tempHome("opta-repo-");
    const other = await tempHome("opta-plain-");
    cleanups.push(homeDir.cleanup, work.cleanup, other.cleanup);
    home = homeDir.home;
    repo = await realpath(work.home);
    plain = await realpath(other.home);
    sub = join(repo, "packages", "app");
    await mkdir(join(sub, ".opta"), { recursive: true });
    execFileSync("git", ["init", "-q", "-b", "main", repo]);
    await writeFile(join(repo, "AGENTS.md"), "ROOT-RULE: run npm test before you finish.\n");
    await writeFile(join(repo, "CLAUDE.md"), "ROOT-CLAUDE: prefer small commits.\n");
    await writeFile(join(sub, "AGENTS.md"), "SUB-RULE: this package uses tabs.\n");
    await writeFile(join(sub, ".opta", "instructions.md"), "SUB-OPTA: never touch generated/.\n");
    await writeFile(join(home, "AGENTS.md"), "USER-RULE: answer in British English.\n");
    // Above the cap on one file: 40 KiB of a repeated line, ending in a marker that must not arrive.
    await writeFile(join(plain, "AGENTS.md"), `${"BIG-LINE\n".repeat((40 * 1024) / 9)}BIG-END\n`);
    daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
    call = api(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    for (const cleanup of cleanups) await cleanup();
  });

  async function session(cwd: string, mode: "chat" | "do" = "do"): Promise<string> {
    const response = await call("/v3/sessions", { method: "POST", json: { cwd, mode } });
    return ((await response.json()) as { id: string }).id;
  }
  async function events(id: string): Promise<Event[]> {
    return ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
  }
  async function runTurn(id: string, body: Record<string, unknown>, turns: number): Promise<Event[]> {
    const response = await call(`/v3/sessions/${id}/turns`, { method: "POST", json: body });
    expect(response.status).toBe(202);
    return waitFor(async () => {
      const all = await events(id);
      return all.filter((event) => event.event === "turn.done").length >= turns ? all : undefined;
    }, 15_000);
  }

  it("sends environment, mode, tool conventions and every instruction file, root first, each named", async () => {
    const id = await session(sub, "do");
    const all = await runTurn(id, { text: "hello", maxSteps: 7 }, 1);
    const system = systemOf(model);
    expect(system.role).toBe("system");
    const text = system.content!;
    // Tool conventions.
    expect(text).toContain("Paths are relative to the workspace");
    expect(text).toContain("/bin/sh -c COMMAND");
    expect(text).toContain("workspace-write");
    // Mode, with the turn's step budget.
    expect(text).toContain("# Mode: Do");
    expect(text).toContain("at most 7 steps");
    // Environment.
    expect(text).toContain(`Working directory (the workspace): ${sub}`);
    expect(text).toContain(`Platform: ${process.platform}`);
    expect(text).toContain("run_command uses /bin/sh");
    expect(text).toMatch(/Today's date: \d{4}-\d{2}-\d{2}\n/);
    expect(text).toMatch(/Git \(a snapshot[^)]*\): branch main \(no commits yet\); \d+ untracked:/);
    // Instructions: the user's, then the repository root down to the cwd, each under its path.
    const order = ["USER-RULE", "ROOT-RULE", "ROOT-CLAUDE", "SUB-RULE", "SUB-OPTA"].map((marker) =>
      text.indexOf(marker),
    );
    expect(order.every((position) => position > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    for (const path of [
      join(home, "AGENTS.md"),
      join(repo, "AGENTS.md"),
      join(repo, "CLAUDE.md"),
      join(sub, "AGENTS.md"),
      join(sub, ".opta", "instructions.md"),
    ]) {
      expect(text).toContain(`## ${path} (`);
    }
    // The user's message follows the system prompt.
    expect((model.requests.at(-1)!.body.messages as Message[])[1]).toEqual({ role: "user", content: "hello" });
    // The turn records what went in, small: parts, sources, sizes, hash — not the text.
    const summary = all.find((event) => event.event === "turn.system")!;
    expect((summary.parts as Array<{ name: string }>).map((part) => part.name)).toEqual([
      "tools",
      "instructions",
      "mode",
      "environment",
    ]);
    expect((summary.sources as Array<{ path: string; scope: string }>).map((source) => source.path)).toEqual([
      join(home, "AGENTS.md"),
      join(repo, "AGENTS.md"),
      join(repo, "CLAUDE.md"),
      join(sub, "AGENTS.md"),
      join(sub, ".opta", "instructions.md"),
    ]);
    expect(summary.bytes).toBe(Buffer.byteLength(text));
    expect(JSON.stringify(summary)).not.toContain("ROOT-RULE");
  });

  it("says Chat mode asks before acting", async () => {
    const id = await session(sub, "chat");
    await runTurn(id, { text: "hi" }, 1);
    const text = systemOf(model).content!;
    expect(text).toContain("# Mode: Chat");
    expect(text).toContain("ask");
    expect(text).not.toContain("# Mode: Do");
  });

  it("keeps the prompt identical between turns: git status is the session's snapshot, renewed by a compaction", async () => {
    const id = await session(sub, "do");
    await runTurn(id, { text: "one" }, 1);
    const first = systemOf(model).content!;
    expect(first).toContain("- Git (a snapshot from this session's start");
    expect(first).not.toContain("snapshot-file.ts");
    // A file the agent (or the user) adds does not change the next turn's prompt: the tool definitions
    // and the whole conversation come after it, and a changed prompt would cost the KV cache all of them.
    await writeFile(join(repo, "snapshot-file.ts"), "export {};\n");
    await runTurn(id, { text: "two" }, 2);
    expect(systemOf(model).content).toBe(first);
    // GET /system shows the prompt the next turn sends: the same snapshot.
    const shown = (await (await call(`/v3/sessions/${id}/system`)).json()) as { text: string };
    expect(shown.text).toBe(first);
    // A new session sees the file, and so does this one once compacted (its cache is gone anyway).
    const fresh = await session(sub, "do");
    await runTurn(fresh, { text: "hi" }, 1);
    expect(systemOf(model).content).toContain("snapshot-file.ts");
    model.setReplies([{ chunks: ["- two turns"] }]);
    expect((await call(`/v3/sessions/${id}/compact`, { method: "POST" })).status).toBe(200);
    model.setReplies([{ chunks: ["ok"] }]);
    await runTurn(id, { text: "three" }, 3);
    const third = systemOf(model).content!;
    expect(third).toContain("snapshot-file.ts");
    const gitAt = first.indexOf("- Git");
    expect(third.slice(0, gitAt)).toBe(first.slice(0, gitAt));
  });

  it("records in turn.done how much of the prompt the provider served from its cache", async () => {
    const id = await session(sub, "do");
    model.setReplies([{ chunks: ["ok"], usage: { prompt_tokens: 1200, completion_tokens: 1, cached_tokens: 1100 } }]);
    const all = await runTurn(id, { text: "hello" }, 1);
    model.setReplies([{ chunks: ["ok"] }]);
    expect(all.at(-1)).toMatchObject({ event: "turn.done", promptTokens: 1200, cachedTokens: 1100 });
    // A provider that says nothing about its cache: no figure, rather than a made-up 0.
    const other = await session(sub, "do");
    model.setReplies([{ chunks: ["ok"], usage: { prompt_tokens: 10, completion_tokens: 1 } }]);
    const plainRun = await runTurn(other, { text: "hello" }, 1);
    model.setReplies([{ chunks: ["ok"] }]);
    expect(plainRun.at(-1)).toMatchObject({ event: "turn.done", promptTokens: 10 });
    expect(plainRun.at(-1)).not.toHaveProperty("cachedTokens");
  });

  it("cuts an instruction file at 32 KiB with a note, and outside a repository reads only the cwd", async () => {
    const id = await session(plain, "do");
    const all = await runTurn(id, { text: "hello" }, 1);
    const text = systemOf(model).content!;
    expect(text).toContain("BIG-LINE");
    expect(text).not.toContain("BIG-END");
    expect(text).toMatch(/\[truncated: the first 32768 of \d+ bytes are shown; the cap is 32 KiB per file/);
    expect(text).toContain("Git: not a git repository");
    const sources = all.find((event) => event.event === "turn.system")!.sources as Array<Record<string, unknown>>;
    expect(sources.find((source) => source.path === join(plain, "AGENTS.md"))).toMatchObject({
      bytes: 32 * 1024,
      totalBytes: expect.any(Number),
    });
  });

  it("caps all instruction files together at 64 KiB and names the file left out", async () => {
    const deep = join(repo, "deep");
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, "AGENTS.md"), "D".repeat(33 * 1024));
    await writeFile(join(deep, "CLAUDE.md"), "E".repeat(33 * 1024));
    await mkdir(join(deep, ".opta"), { recursive: true });
    await writeFile(join(deep, ".opta", "instructions.md"), "LEFT-OUT-MARKER\n");
    const id = await session(deep, "do");
    const all = await runTurn(id, { text: "hello" }, 1);
    const text = systemOf(model).content!;
    expect(text).not.toContain("LEFT-OUT-MARKER");
    expect(text).toContain(`## ${join(deep, ".opta", "instructions.md")} (project)\nLeft out: the 64 KiB cap`);
    const summary = all.find((event) => event.event === "turn.system")!;
    const sources = summary.sources as Array<{ path: string; bytes: number; skipped?: string }>;
    expect(sources.reduce((sum, source) => sum + source.bytes, 0)).toBeLessThanOrEqual(64 * 1024);
    expect(sources.at(-1)).toMatchObject({ path: join(deep, ".opta", "instructions.md"), bytes: 0 });
  });

  it("GET /v3/sessions/:id/system returns the text the last turn sent, with its parts and sources", async () => {
    const id = await session(sub, "do");
    const all = await runTurn(id, { text: "hello" }, 1);
    const sent = systemOf(model).content!;
    const response = await call(`/v3/sessions/${id}/system`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ sessionId: id, mode: "do", text: sent });
    const summary = all.find((event) => event.event === "turn.system")!;
    expect(body.hash).toBe(summary.hash);
    expect(body.sources).toEqual(summary.sources);
    const missing = await call("/v3/sessions/s-nope/system");
    expect(missing.status).toBe(404);
  });
});
