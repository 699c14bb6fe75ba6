/**
 * Hooks through the real daemon and a scripted model: `$OPTA_HOME/hooks.yaml` and
 * `.opta/hooks.yaml` commands run before and after tool calls and at turn end, with the event as
 * JSON on stdin, in the sandbox, with a timeout; a pre_tool hook can deny with a reason the model
 * reads; project hooks need the same trust as project policies.
 */
import { chmod, mkdir, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { trustDirectory } from "@opta/local";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";
import { alive, hasBwrap, hostPids, readOrMissing, until } from "../sandbox/fixture.js";

type Event = Record<string, unknown> & { event: string; seq: number };

const SECRET = "lmx-hook-secret-Zp4Vq9Lm";

describe("hooks", () => {
  let model: ScriptedServer;
  let home: string;
  let workspace: string;
  let daemon: DaemonProcess;
  let call: ReturnType<typeof api>;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    model = await startScriptedServer();
    const homeDir = await tempHome("opta-home-");
    const work = await tempHome("opta-work-");
    cleanups.push(homeDir.cleanup, work.cleanup);
    home = homeDir.home;
    workspace = await realpath(work.home);
    // OPTA_POLICY=unrestricted: no approval prompts, so each test is about its hooks alone.
    daemon = await spawnDaemon(home, {
      OPTA_LMX_HOST: model.host,
      OPTA_POLICY: "unrestricted",
      OPTA_LMX_API_KEY: SECRET,
    });
    call = api(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    for (const cleanup of cleanups) await cleanup();
  });
  afterEach(async () => {
    await rm(join(home, "hooks.yaml"), { force: true });
    await rm(join(workspace, ".opta"), { recursive: true, force: true });
    await rm(join(workspace, "ran.txt"), { force: true });
  });

  const userHooks = (yaml: string) => writeFile(join(home, "hooks.yaml"), yaml);
  async function events(id: string): Promise<Event[]> {
    return ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
  }
  /** Starts one Do turn in `cwd` and returns its session id. */
  async function start(replies: Parameters<ScriptedServer["setReplies"]>[0], cwd = workspace): Promise<string> {
    model.setReplies(replies);
    const created = await call("/v3/sessions", { method: "POST", json: { cwd, mode: "do" } });
    const id = ((await created.json()) as { id: string }).id;
    const submitted = await call(`/v3/sessions/${id}/turns`, {
      method: "POST",
      json: { text: "go", interactive: false },
    });
    expect(submitted.status).toBe(202);
    return id;
  }
  /** The session's events once its turn has ended and `settled` holds. */
  function ended(id: string, settled: (all: Event[]) => boolean = () => true): Promise<Event[]> {
    // turn_end hooks run after the end is recorded: wait for the turn to be over and for them.
    return waitFor(async () => {
      const all = await events(id);
      const over = all.some((event) => ["turn.done", "turn.error", "session.cancelled"].includes(event.event));
      return over && settled(all) ? all : undefined;
    }, 20_000);
  }
  /** Runs one Do turn in `cwd` and returns its events once the turn has ended and `settled` holds. */
  async function turn(
    replies: Parameters<ScriptedServer["setReplies"]>[0],
    cwd = workspace,
    settled: (all: Event[]) => boolean = () => true,
  ): Promise<Event[]> {
    return ended(await start(replies, cwd), settled);
  }
  const ran = (all: Event[], hook?: string) =>
    all.filter((event) => event.event === "hook.ran" && (hook === undefined || event.hook === hook));
  const toolResults = (all: Event[]) => all.filter((event) => event.event === "tool.result");
  /** The tool message the model read for the call, in the request after it. */
  const toolMessageSeen = () => {
    const last = model.requests.at(-1)?.body.messages as Array<{ role: string; content: string }> | undefined;
    return last?.find((message) => message.role === "tool")?.content ?? "";
  };
  const touch = { name: "run_command", arguments: { command: "touch ran.txt" } };

  it("a pre_tool hook that exits 2 denies the call: it does not run and the model reads the reason", async () => {
    await userHooks(
      "pre_tool:\n  - matcher: run_command\n    command: \"echo 'no commands before the review' >&2; exit 2\"\n",
    );
    const all = await turn([{ toolCalls: [touch] }, { chunks: ["ok"] }]);
    expect(toolResults(all)[0]).toMatchObject({ name: "run_command", ok: false, code: "HOOK_DENIED" });
    expect(String(toolResults(all)[0]?.error)).toContain("no commands before the review");
    expect(toolMessageSeen()).toContain("Error (HOOK_DENIED)");
    expect(toolMessageSeen()).toContain("no commands before the review");
    expect(await readOrMissing(join(workspace, "ran.txt"))).toBeUndefined();
    expect(ran(all, "pre_tool")[0]).toMatchObject({
      scope: "user",
      tool: "run_command",
      exitCode: 2,
      decision: "deny",
      stderr: "no commands before the review\n",
      source: `${join(home, "hooks.yaml")}: pre_tool[0]`,
    });
  });

  it("a deny decision on stdout denies too; a matcher leaves other tools alone; exit 0 allows", async () => {
    await writeFile(join(workspace, "notes.txt"), "hello\n");
    await userHooks(
      [
        "pre_tool:",
        "  - matcher: run_command",
        `    command: 'echo ''{"decision":"deny","reason":"use the npm scripts instead"}'''`,
        "  - matcher: read_*",
        "    command: 'true'",
      ].join("\n"),
    );
    const all = await turn([
      { toolCalls: [touch, { name: "read_file", arguments: { path: "notes.txt" } }] },
      { chunks: ["ok"] },
    ]);
    // The two calls run at once: their results come in either order.
    const command = toolResults(all).find((result) => result.name === "run_command");
    const read = toolResults(all).find((result) => result.name === "read_file");
    expect(command).toMatchObject({ ok: false, code: "HOOK_DENIED" });
    expect(String(command?.error)).toContain("use the npm scripts instead");
    expect(read).toMatchObject({ name: "read_file", ok: true });
    expect(ran(all, "pre_tool").map((event) => [event.tool, event.decision])).toEqual(
      expect.arrayContaining([
        ["run_command", "deny"],
        ["read_file", "allow"],
      ]),
    );
    expect(ran(all, "pre_tool")).toHaveLength(2);
    expect(await readOrMissing(join(workspace, "ran.txt"))).toBeUndefined();
  });

  it("a pre_tool hook that fails (exit 1) denies: a broken guard never lets a call through", async () => {
    await userHooks("pre_tool:\n  - command: 'echo jq: not found >&2; exit 1'\n");
    const all = await turn([{ toolCalls: [touch] }, { chunks: ["ok"] }]);
    expect(toolResults(all)[0]).toMatchObject({ ok: false, code: "HOOK_DENIED" });
    expect(String(toolResults(all)[0]?.error)).toMatch(/failed \(exit 1: jq: not found\).*fails denies/);
    expect(await readOrMissing(join(workspace, "ran.txt"))).toBeUndefined();
  });

  it("a pre_tool hook past its timeout is killed with what it started, denies, and is recorded", async () => {
    // A distinctive argv, so the test can look for the process from outside the sandbox.
    await userHooks("pre_tool:\n  - command: 'sleep 3617 & wait'\n    timeout: 2\n");
    const living = async () => {
      const pids = [];
      for (const pid of await hostPids(["sleep", "3617"])) if (await alive(pid)) pids.push(pid);
      return pids;
    };
    const ended = turn([{ toolCalls: [touch] }, { chunks: ["ok"] }]);
    // It really ran (the check below is not vacuous)…
    await until(async () => ((await living()).length > 0 ? true : undefined), "the hook's sleep to start");
    const all = await ended;
    const hook = ran(all, "pre_tool")[0];
    expect(hook).toMatchObject({ timedOut: true, exitCode: null, decision: "deny" });
    expect(toolResults(all)[0]).toMatchObject({ ok: false, code: "HOOK_DENIED" });
    expect(String(toolResults(all)[0]?.error)).toContain("did not finish within 2s and was killed");
    expect(toolMessageSeen()).toContain("raise its timeout");
    expect(await readOrMissing(join(workspace, "ran.txt"))).toBeUndefined();
    // …and was killed, not left behind: no `sleep 3617` stays alive on the host.
    await until(
      async () => ((await living()).length === 0 ? true : undefined),
      "the timed-out hook's sleep to be gone",
    );
  });

  it("post_tool and turn_end hooks get the event as JSON on stdin; what they print is recorded, secrets masked", async () => {
    await userHooks(
      [
        "post_tool:",
        "  - matcher: run_command",
        `    command: 'cat; echo "formatted with key ${SECRET}" >&2'`,
        "turn_end:",
        "  - command: cat",
      ].join("\n"),
    );
    const all = await turn(
      [{ toolCalls: [{ name: "run_command", arguments: { command: "echo built" } }] }, { chunks: ["done"] }],
      workspace,
      (events) => ran(events, "turn_end").length > 0,
    );
    const post = ran(all, "post_tool")[0];
    expect(post).toMatchObject({ exitCode: 0, tool: "run_command", callId: toolResults(all)[0]?.callId });
    const id = all[0]?.sessionId;
    const turnId = all.find((event) => event.event === "turn.start")?.turnId;
    expect(JSON.parse(String(post?.stdout))).toMatchObject({
      event: "post_tool",
      sessionId: id,
      turnId,
      cwd: workspace,
      tool: "run_command",
      args: { command: "echo built" },
      result: { ok: true, result: { stdout: "built\n", exitCode: 0 } },
    });
    // The known key is masked in the hook's output and in its command, as in a tool result.
    expect(JSON.stringify(all)).not.toContain(SECRET);
    expect(String(post?.stderr)).toContain("formatted with key");
    // The post hook ran after the call's result was recorded, and turn_end after the turn's end.
    const seqOf = (event: Event | undefined) => event?.seq ?? -1;
    expect(seqOf(post)).toBeGreaterThan(seqOf(toolResults(all)[0]));
    const end = ran(all, "turn_end")[0];
    expect(seqOf(end)).toBeGreaterThan(seqOf(all.find((event) => event.event === "turn.done")));
    expect(JSON.parse(String(end?.stdout))).toEqual({
      event: "turn_end",
      sessionId: id,
      turnId,
      cwd: workspace,
      outcome: "done",
      stopReason: "stop",
      steps: 2,
      toolCalls: 1,
    });
  });

  it("runs hooks in the command sandbox, where the workspace is writable (hook-sandbox.test.ts: nothing else)", async () => {
    if (!hasBwrap) return; // sandbox/bwrap.test.ts shows, visibly, that bwrap is missing here
    await userHooks("turn_end:\n  - command: 'echo x > ran.txt; echo end'\n");
    const all = await turn([{ chunks: ["hi"] }], workspace, (events) => ran(events, "turn_end").length > 0);
    expect(ran(all, "turn_end")[0]).toMatchObject({ sandbox: "workspace-write", exitCode: 0, stdout: "end\n" });
    // As for run_command, a formatter hook can do its job in the workspace.
    expect(await readOrMissing(join(workspace, "ran.txt"))).toBe("x\n");
  });

  it("a cancelled turn kills its running pre_tool hook (the call does not run) and still runs turn_end", async () => {
    await userHooks("pre_tool:\n  - command: 'sleep 3618 & wait'\n    timeout: 120\nturn_end:\n  - command: cat\n");
    const id = await start([{ toolCalls: [touch] }, { chunks: ["ok"] }]);
    const living = async () => {
      const pids = [];
      for (const pid of await hostPids(["sleep", "3618"])) if (await alive(pid)) pids.push(pid);
      return pids;
    };
    await until(async () => ((await living()).length > 0 ? true : undefined), "the hook's sleep to start");
    expect((await call(`/v3/sessions/${id}/stop`, { method: "POST" })).status).toBe(200);
    const all = await ended(id, (events) => ran(events, "turn_end").length > 0);
    expect(all.findLast((event) => event.event !== "hook.ran")).toMatchObject({ event: "session.cancelled" });
    // turn_end still runs for a cancelled turn, and says how it ended.
    expect(JSON.parse(String(ran(all, "turn_end")[0]?.stdout))).toMatchObject({ outcome: "cancelled", toolCalls: 1 });
    expect(ran(all, "pre_tool")[0]).toMatchObject({ exitCode: null, decision: "deny" });
    expect(toolResults(all)[0]).toMatchObject({ ok: false, code: "ABORTED" });
    expect(await readOrMissing(join(workspace, "ran.txt"))).toBeUndefined();
    await until(
      async () => ((await living()).length === 0 ? true : undefined),
      "the cancelled hook's sleep to be gone",
    );
  });

  it("a pre_tool hook whose sandbox cannot be set up denies, saying why", async () => {
    if (!hasBwrap) return; // without a sandbox there is no sandbox to fail
    const elsewhere = await tempHome("opta-elsewhere-");
    cleanups.push(elsewhere.cleanup);
    // The sandbox cannot keep a policy directory that is a symbolic link read-only, so it refuses to start.
    await symlink(elsewhere.home, join(workspace, ".opta"));
    await userHooks("pre_tool:\n  - command: 'true'\n");
    const all = await turn([{ toolCalls: [touch] }, { chunks: ["ok"] }]);
    expect(ran(all, "pre_tool")[0]).toMatchObject({ exitCode: null, decision: "deny" });
    expect(String(ran(all, "pre_tool")[0]?.error)).toContain("symbolic link");
    expect(toolResults(all)[0]).toMatchObject({ ok: false, code: "HOOK_DENIED" });
    expect(String(toolResults(all)[0]?.error)).toContain("could not run");
  });

  it("the model cannot install a hook: write_file of .opta/hooks.yaml is refused", async () => {
    const hooksFile = join(workspace, ".opta", "hooks.yaml");
    const all = await turn([
      {
        toolCalls: [
          {
            name: "write_file",
            arguments: { path: ".opta/hooks.yaml", content: "pre_tool:\n  - command: 'exit 2'\n" },
          },
        ],
      },
      { toolCalls: [touch] },
      { chunks: ["ok"] },
    ]);
    expect(toolResults(all)[0]).toMatchObject({ name: "write_file", ok: false, code: "PROTECTED_PATH" });
    expect(await readOrMissing(hooksFile)).toBeUndefined();
    expect(toolResults(all)[1]).toMatchObject({ name: "run_command", ok: true });
    expect(ran(all)).toEqual([]);
  });

  it("skips a project hooks file above the cwd that is neither a repository root nor trusted, and says why", async () => {
    const sub = join(workspace, "sub");
    await mkdir(sub, { recursive: true });
    await mkdir(join(workspace, ".opta"), { recursive: true });
    await writeFile(join(workspace, ".opta", "hooks.yaml"), "pre_tool:\n  - command: 'exit 2'\n");
    const replies = () => [
      { toolCalls: [{ name: "run_command", arguments: { command: "echo hi" } }] },
      { chunks: ["ok"] },
    ];

    const untrusted = await turn(replies(), sub);
    expect(ran(untrusted)).toEqual([]);
    expect(toolResults(untrusted)[0]).toMatchObject({ ok: true });
    const skipped = untrusted.find((event) => event.event === "hook.skipped");
    expect(skipped).toMatchObject({ scope: "project", file: join(workspace, ".opta", "hooks.yaml") });
    expect(String(skipped?.reason)).toContain(`opta trust ${workspace}`);

    // The same file governs a session in its own directory, and one below once the user trusts it.
    const own = await turn(replies(), workspace);
    expect(ran(own, "pre_tool")[0]).toMatchObject({ scope: "project", decision: "deny" });
    expect(toolResults(own)[0]).toMatchObject({ ok: false, code: "HOOK_DENIED" });
    await trustDirectory(home, workspace);
    const trusted = await turn(replies(), sub);
    expect(ran(trusted, "pre_tool")[0]).toMatchObject({ scope: "project", decision: "deny" });
  });

  it("skips a hooks file other users can write, and a broken one, naming the problem", async () => {
    await mkdir(join(workspace, ".opta"), { recursive: true });
    const file = join(workspace, ".opta", "hooks.yaml");
    await writeFile(file, "pre_tool:\n  - command: 'exit 2'\n");
    await chmod(file, 0o666);
    const writable = await turn([{ toolCalls: [touch] }, { chunks: ["ok"] }]);
    expect(ran(writable)).toEqual([]);
    expect(String(writable.find((event) => event.event === "hook.skipped")?.reason)).toContain(
      "writable by other users",
    );
    await rm(join(workspace, "ran.txt"), { force: true });

    await userHooks("pre_tool:\n  - command: 'exit 2'\n    timeout: forever\n");
    await chmod(file, 0o644);
    await writeFile(file, "pre-tool:\n  - command: 'exit 2'\n");
    const broken = await turn([{ toolCalls: [touch] }, { chunks: ["ok"] }]);
    expect(ran(broken)).toEqual([]);
    const reasons = broken.filter((event) => event.event === "hook.skipped").map((event) => String(event.reason));
    expect(reasons).toEqual([expect.stringContaining("pre_tool[0].timeout"), expect.stringContaining("pre-tool")]);
  });
});

describe("hooks where no sandbox works", () => {
  it("run unsandboxed, as commands the user approves do, and the event says so", async () => {
    const model = await startScriptedServer();
    const homeDir = await tempHome("opta-home-");
    const work = await tempHome("opta-work-");
    const daemon = await spawnDaemon(homeDir.home, {
      OPTA_LMX_HOST: model.host,
      OPTA_SANDBOX_BWRAP: "/nonexistent/bwrap",
    });
    try {
      await writeFile(join(homeDir.home, "hooks.yaml"), "turn_end:\n  - command: 'echo hi'\n");
      const call = api(daemon);
      model.setReplies([{ chunks: ["hello"] }]);
      const created = await call("/v3/sessions", { method: "POST", json: { cwd: work.home, mode: "do" } });
      const id = ((await created.json()) as { id: string }).id;
      await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text: "go", interactive: false } });
      const hook = await waitFor(async () => {
        const all = ((await (await call(`/v3/sessions/${id}/events`)).json()) as { events: Event[] }).events;
        return all.find((event) => event.event === "hook.ran");
      }, 20_000);
      expect(hook).toMatchObject({ hook: "turn_end", sandbox: "unavailable", exitCode: 0, stdout: "hi\n" });
    } finally {
      await daemon.stop();
      await model.close();
      await homeDir.cleanup();
      await work.cleanup();
    }
  });
});
