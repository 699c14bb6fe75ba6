import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type RecordedRequest,
  type ScriptedReply,
  type ScriptedServer,
  startScriptedServer,
} from "../../../../packages/daemon/test/fixtures/scripted-openai-server.js";
import { CLI_BIN, type CliResult, cliEnv, runCli, startCli } from "../fixtures/run-cli.js";

/**
 * `opta do`, chat approvals and `opta sessions tools`: the built CLI, a real daemon and a scripted
 * model. Two Opta homes, because OPTA_POLICY is read by the daemon: one daemon runs unrestricted,
 * the other with the default (safe) policy.
 */

interface Message {
  role: string;
  content: string | null;
}

/** Set once the "pause me" task's second model call has hung (the resumed one answers). */
let pauseHung = false;

/** The model's script, chosen by the turn's text; the step is the number of assistant messages since it. */
function reply(request: RecordedRequest): ScriptedReply {
  const messages = request.body.messages as Message[];
  const userIndex = messages.findLastIndex((message) => message.role === "user");
  const task = messages[userIndex]?.content ?? "";
  const step = messages.slice(userIndex + 1).filter((message) => message.role === "assistant").length;
  if (task.includes("fix the greeting")) {
    const script: ScriptedReply[] = [
      { chunks: ["Reading it."], toolCalls: [{ name: "read_file", arguments: { path: "greet.txt" } }] },
      { toolCalls: [{ name: "edit_file", arguments: { path: "greet.txt", old_string: "helo", new_string: "hello" } }] },
      { toolCalls: [{ name: "run_command", arguments: { command: "cat greet.txt" } }] },
      { chunks: ["Fixed", " the greeting."] },
    ];
    return script[step] ?? { chunks: ["done"] };
  }
  if (task.includes("write notes")) {
    return step === 0
      ? { toolCalls: [{ name: "write_file", arguments: { path: "notes.txt", content: "notes\n" } }] }
      : { chunks: ["I could not write the file."] };
  }
  if (task.includes("keep looking"))
    return { toolCalls: [{ name: "list_dir", arguments: { path: `.${"/.".repeat(step)}` } }] };
  if (task.includes("nap")) {
    return step === 0
      ? { toolCalls: [{ name: "run_command", arguments: { command: "touch napping && sleep 30" } }] }
      : { chunks: ["woke"] };
  }
  if (task.includes("two notes")) {
    const script: ScriptedReply[] = [
      { toolCalls: [{ name: "write_file", arguments: { path: "a.txt", content: "a\n" } }] },
      { toolCalls: [{ name: "write_file", arguments: { path: "b.txt", content: "b\n" } }] },
      { chunks: ["Both written."] },
    ];
    return script[step] ?? { chunks: ["done"] };
  }
  if (task.includes("pause me")) {
    if (step === 0) return { toolCalls: [{ name: "read_file", arguments: { path: "greet.txt" } }] };
    if (step === 1 && !pauseHung) {
      pauseHung = true;
      return { hang: true };
    }
    return { toolCalls: [{ name: "list_dir", arguments: { path: `.${"/.".repeat(step)}` } }] };
  }
  if (task.includes("peek")) {
    return step === 0
      ? { toolCalls: [{ name: "read_file", arguments: { path: "greet.txt" } }] }
      : { chunks: ["peeked"] };
  }
  return { chunks: ["Continuing", " where we left off."] };
}

let model: ScriptedServer;
let root: string;
/** A home whose daemon runs with OPTA_POLICY=unrestricted, and one with the default policy. */
let openHome: string;
let safeHome: string;
let repo: string;
let fakeBin: string;

/** What a run in `home` adds to the environment: the scripted model, and that home's policy. */
function optaEnv(home: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    OPTA_DAEMON_PORT: "0",
    OPTA_LMX_HOST: model.host,
    ...(home === openHome ? { OPTA_POLICY: "unrestricted" } : { OPTA_POLICY: "" }),
    ...env,
  };
}

function start(args: string[], options: { home: string; cwd?: string; env?: Record<string, string> }) {
  return startCli(args, { home: options.home, cwd: options.cwd ?? repo, env: optaEnv(options.home, options.env) });
}

function opta(
  args: string[],
  options: { home: string; cwd?: string; input?: string; env?: Record<string, string> },
): Promise<CliResult> {
  return runCli(args, { ...options, cwd: options.cwd ?? repo, env: optaEnv(options.home, options.env) });
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Runs the CLI on a pseudo-terminal (util-linux `script`), so stdin and stderr are TTYs. */
function inTerminal(args: string[], home: string) {
  const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;
  const command = [process.execPath, CLI_BIN, ...args].map(quote).join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd: repo, env: cliEnv(home, optaEnv(home)) });
  const output = { text: "" };
  child.stdout.on("data", (chunk) => {
    output.text += chunk;
  });
  const done = new Promise<number | null>((resolve) => child.on("close", resolve));
  return { child, output, done };
}

const hasScript = spawnSync("script", ["--version"]).status === 0;

const sessionId = (stderr: string) => /session (s-[0-9a-z]+)/.exec(stderr)?.[1] ?? "";

beforeAll(async () => {
  model = await startScriptedServer({ replies: reply });
  root = await mkdtemp(join(tmpdir(), "opta-do-"));
  openHome = join(root, "home-open");
  safeHome = join(root, "home-safe");
  repo = join(root, "repo");
  fakeBin = join(root, "bin");
  await Promise.all([mkdir(join(repo, ".git"), { recursive: true }), mkdir(fakeBin), mkdir(openHome), mkdir(safeHome)]);
  await writeFile(join(repo, "greet.txt"), "helo world\n");
  // A notify-send that records what it was asked to show.
  await writeFile(join(fakeBin, "notify-send"), `#!/bin/sh\nprintf '%s|' "$@" > "${join(root, "notified")}"\n`);
  await chmod(join(fakeBin, "notify-send"), 0o755);
});

afterAll(async () => {
  await Promise.all([opta(["daemon", "stop"], { home: openHome }), opta(["daemon", "stop"], { home: safeHome })]);
  await model.close();
  await rm(root, { recursive: true, force: true });
});

describe("opta do (OPTA_POLICY=unrestricted)", () => {
  let editSession = "";

  it("runs a multi-step task that edits a file and runs a command, then notifies (--watch)", async () => {
    const result = await opta(["do", "--watch", "fix the greeting in greet.txt"], {
      home: openHome,
      env: { PATH: `${fakeBin}${delimiter}${process.env.PATH ?? ""}` },
    });
    expect(result.stderr).toContain("opta do · session s-");
    expect(result.code).toBe(0);
    expect(await readFile(join(repo, "greet.txt"), "utf8")).toBe("hello world\n");
    expect(result.stdout).toContain("Reading it.");
    expect(result.stdout).toContain("Fixed the greeting.");
    expect(result.stderr).toMatch(/▸ read_file\(greet\.txt\) ✓ 1 lines? \d+ms/);
    expect(result.stderr).toMatch(/▸ edit_file\(greet\.txt\) ✓ 1 replacement in greet\.txt/);
    expect(result.stderr).toMatch(/▸ run_command\(cat greet\.txt\) ✓ exit 0/);
    expect(result.stderr).toContain("· step 2");
    expect(result.stderr).toMatch(/✓ done · 4 steps · 3 tool calls · \d+ tokens/);
    expect(await readFile(join(root, "notified"), "utf8")).toMatch(
      /^Opta\|Done: fix the greeting in greet\.txt · 4 steps/,
    );
    editSession = sessionId(result.stderr);
    expect(editSession).not.toBe("");
  });

  it("lists the session's tool calls with their decisions and outcomes", async () => {
    const table = await opta(["sessions", "tools", editSession], { home: openHome });
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^TIME\s+TOOL\s+DECISION\s+OUTCOME$/);
    expect(lines.slice(1)).toHaveLength(3);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d\s+read_file\(greet\.txt\)\s+allowed by policy\s+ok · 1 line/);
    expect(lines[3]).toMatch(/run_command\(cat greet\.txt\)\s+allowed by policy\s+ok · exit 0/);
    const json = JSON.parse((await opta(["sessions", "tools", editSession, "--json"], { home: openHome })).stdout) as {
      calls: Array<{ name: string; decision: string; decidedBy: string; ok: boolean; summary: string }>;
    };
    expect(json.calls.map((call) => [call.name, call.decision, call.decidedBy, call.ok])).toEqual([
      ["read_file", "allowed", "policy", true],
      ["edit_file", "allowed", "policy", true],
      ["run_command", "allowed", "policy", true],
    ]);
  });

  it("resumes a session with its full history (--session)", async () => {
    const before = model.requests.length;
    const result = await opta(["do", "--session", editSession, "continue"], { home: openHome });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Continuing where we left off.");
    expect(result.stderr).toContain(`session ${editSession}`);
    const sent = model.requests.slice(before).at(-1)?.body.messages as Message[];
    const texts = sent.map((message) => `${message.role}:${message.content ?? ""}`);
    expect(texts).toContainEqual(expect.stringMatching(/^user:fix the greeting/));
    expect(texts).toContainEqual(expect.stringMatching(/^tool:.*helo world/));
    expect(texts).toContainEqual("assistant:Fixed the greeting.");
    expect(texts.at(-1)).toBe("user:continue");
  });

  it("stops at --max-steps with exit 1 and says how to continue", async () => {
    const result = await opta(["do", "--max-steps", "1", "keep looking around"], { home: openHome });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/✗ stopped: reached the step limit \(1 step\)/);
    expect(result.stderr).toMatch(/continue with: opta do --session s-[0-9a-z]+ "continue"/);
    const bad = await opta(["do", "--max-steps", "0", "x"], { home: openHome });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("error: --max-steps must be a whole number from 1 to 1000; got '0'\n");
  });
});

describe("opta do and chat (default policy)", () => {
  it("denies a write that would ask when there is no terminal, naming the policy line (exit 1)", async () => {
    const result = await opta(["do", "write notes please"], { home: safeHome });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /▸ write_file\(notes\.txt\) ✗ denied: needs approval, and there is no terminal to ask on\n/,
    );
    expect(result.stderr).toContain("to allow it, add to .opta/policy.yaml:");
    expect(result.stderr).toContain("    allow:\n      - write_file(notes.txt)\n");
    expect(result.stderr).toMatch(/✗ finished, but 1 tool call needed approval and was denied · 2 steps/);
    expect(result.stdout).toContain("I could not write the file.");
    await expect(readFile(join(repo, "notes.txt"))).rejects.toThrow();

    const tools = JSON.parse(
      (await opta(["sessions", "tools", sessionId(result.stderr), "--json"], { home: safeHome })).stdout,
    ) as { calls: Array<{ name: string; decision: string; decidedBy: string; ok: boolean }> };
    expect(tools.calls).toMatchObject([
      { name: "write_file", decision: "denied", decidedBy: "no-terminal", ok: false },
    ]);
    const table = await opta(["sessions", "tools", sessionId(result.stderr)], { home: safeHome });
    expect(table.stdout).toMatch(/write_file\(notes\.txt\)\s+denied: needs approval, no terminal\s+not run$/m);
  });

  it("takes OPTA_POLICY=unrestricted on the command even though the running daemon was started without it", async () => {
    // The daemon for this home is already running (started by the test above, without OPTA_POLICY).
    const result = await opta(["do", "write notes please"], { home: safeHome, env: { OPTA_POLICY: "unrestricted" } });
    expect(result.code, result.stderr).toBe(0);
    expect(await readFile(join(repo, "notes.txt"), "utf8")).toBe("notes\n");
    await rm(join(repo, "notes.txt"));
  });
  it("pauses on the first Ctrl+C, and --resume finishes the same turn within its step budget", async () => {
    const before = model.requests.length;
    const run = start(["do", "pause me", "--max-steps", "4"], { home: openHome });
    run.child.stdin.end();
    // The second model call hangs: the turn is between its first and second step.
    await until(() => model.requests.length >= before + 2, "the second model call");
    run.child.kill("SIGINT");
    const paused = await run.done;
    const id = sessionId(paused.stderr);
    expect(paused.code, paused.stderr).toBe(130);
    expect(paused.stderr).toContain("^C pausing after the running tool calls… (Ctrl+C again cancels)");
    expect(paused.stderr).toContain(`Paused after 1 step — resume with: opta do --session ${id} --resume`);
    expect(paused.stderr).toContain("3 of 4 steps left");
    const shown = await opta(["sessions", "show", id], { home: openHome });
    expect(shown.stdout).toContain(`[paused after 1 step, 3 left · resume with: opta do --session ${id} --resume]`);

    // A new task on the paused session is refused by the daemon, saying how to go on.
    const refused = await opta(["do", "--session", id, "something else"], { home: openHome });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("--resume");
    const misuse = await opta(["do", "--session", id, "--resume", "more text"], { home: openHome });
    expect(misuse.code).toBe(2);

    const resumed = await opta(["do", "--session", id, "--resume"], { home: openHome });
    expect(resumed.stderr).toContain("resuming the paused turn");
    // 1 step before the pause, 3 after it: the budget of 4 ends it.
    expect(resumed.stderr).toContain("reached the step limit (4 steps)");
    expect(resumed.code).toBe(1);
    const show = JSON.parse((await opta(["sessions", "show", id, "--json"], { home: openHome })).stdout) as {
      events: Array<{ event: string; turnId?: string }>;
    };
    const names = show.events.map((event) => event.event);
    expect(names.filter((name) => name === "turn.start")).toHaveLength(1);
    expect(names.indexOf("turn.paused")).toBeLessThan(names.indexOf("turn.resumed"));
    expect(show.events.at(-1)).toMatchObject({ event: "turn.done", turnId: show.events[1]?.turnId });
  });

  it("cancels on a second Ctrl+C during a long run_command: exit 130, session.cancelled", async () => {
    await mkdir(join(repo, ".opta"), { recursive: true });
    await writeFile(join(repo, ".opta", "policy.yaml"), "allow:\n  - run_command(sleep)\n  - run_command(touch)\n");
    const before = model.requests.length;
    const run = start(["do", "take a nap"], { home: safeHome });
    run.child.stdin.end();
    await until(() => model.requests.length > before, "the model request");
    // The command marks that it runs, so the Ctrl+C comes while it does.
    await until(() => existsSync(join(repo, "napping")), "the command to start");
    // The first Ctrl+C would wait for the command to finish (a pause); the second cancels it.
    run.child.kill("SIGINT");
    await until(() => run.output.stderr.includes("^C pausing"), "the pause notice");
    run.child.kill("SIGINT");
    // `sleep 30` is cut short (the result line says so), not waited for.
    const result = await run.done;
    expect(result.code).toBe(130);
    expect(result.stderr).toContain("^C cancelling…");
    expect(result.stderr).toMatch(/▸ run_command\(touch napping && sleep 30\) ✗ command cancelled by the user/);
    expect(result.stderr).toContain("✗ cancelled");
    const show = JSON.parse(
      (await opta(["sessions", "show", sessionId(result.stderr), "--json"], { home: safeHome })).stdout,
    ) as { events: Array<{ event: string }> };
    expect(show.events.at(-1)?.event).toBe("session.cancelled");
    await rm(join(repo, ".opta"), { recursive: true });
    await rm(join(repo, "napping"), { force: true });
  });

  it("shows tool calls in a piped chat and says how to approve them", async () => {
    const chat = await opta(["chat"], { home: safeHome, input: "peek at greet.txt\n" });
    expect(chat.code).toBe(0);
    expect(chat.stdout).toBe("peeked\n");
    expect(chat.stderr).toMatch(
      /▸ read_file\(greet\.txt\) ✗ denied: needs approval, and there is no terminal to ask on\n/,
    );
    expect(chat.stderr).toContain("      - read_file(greet.txt)\n");
  });
});

describe.skipIf(!hasScript)("approvals on a terminal", () => {
  it("asks inline in opta do: [a]llow runs the call, a[l]ways persists a rule", async () => {
    const run = inTerminal(["do", "write two notes"], safeHome);
    await until(() => run.output.text.includes("[a]llow / [d]eny / a[l]ways"), "the first prompt");
    expect(run.output.text).toMatch(/\? write_file\(a\.txt\) needs approval \(write\)/);
    run.child.stdin.write("a");
    await until(() => run.output.text.split("[a]llow").length === 3, "the second prompt");
    run.child.stdin.write("l");
    expect(await run.done).toBe(0);
    expect(run.output.text).toMatch(/▸ write_file\(a\.txt\) ✓ created a\.txt/);
    expect(run.output.text).toMatch(/▸ write_file\(b\.txt\) ✓ created b\.txt/);
    expect(run.output.text).toContain("Both written.");
    expect(await readFile(join(repo, "b.txt"), "utf8")).toBe("b\n");
    expect(await readFile(join(safeHome, "policies", "always.yaml"), "utf8")).toContain("b.txt");

    const tools = JSON.parse(
      (await opta(["sessions", "tools", sessionId(run.output.text), "--json"], { home: safeHome })).stdout,
    ) as { calls: Array<{ name: string; decision: string; decidedBy: string }> };
    expect(tools.calls.map((call) => [call.decision, call.decidedBy])).toEqual([
      ["approved", "user"],
      ["always", "user"],
    ]);
    await Promise.all([rm(join(repo, "a.txt")), rm(join(repo, "b.txt"))]);
  });

  it("pauses on Ctrl+C pressed at an approval prompt (exit 130); --resume finishes the turn", async () => {
    const run = inTerminal(["do", "write notes"], safeHome);
    await until(() => run.output.text.includes("[a]llow / [d]eny / a[l]ways"), "the prompt");
    run.child.stdin.write("\u0003"); // raw mode: Ctrl+C arrives as a key
    expect(await run.done).toBe(130);
    const id = sessionId(run.output.text);
    expect(run.output.text).toContain(`Paused after 1 step — resume with: opta do --session ${id} --resume`);
    expect(run.output.text).not.toContain("✗ cancelled");
    await expect(readFile(join(repo, "notes.txt"))).rejects.toThrow();
    const resumed = await opta(["do", "--session", id, "--resume"], { home: safeHome });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout + resumed.stderr).toContain("I could not write the file.");
    expect(resumed.stderr).toContain("✓ done · 2 steps");
  });

  it("asks inline in opta chat: [d]eny refuses the call", async () => {
    const run = inTerminal(["chat"], safeHome);
    await until(() => run.output.text.includes("› "), "the chat prompt");
    run.child.stdin.write("write notes\r");
    await until(() => run.output.text.includes("[a]llow / [d]eny / a[l]ways"), "the approval prompt");
    run.child.stdin.write("d\r");
    await until(() => run.output.text.includes("I could not write the file."), "the answer");
    expect(run.output.text).toMatch(/▸ write_file\(notes\.txt\) ✗ the user denied this call/);
    run.child.stdin.write("\u0004"); // Ctrl+D
    expect(await run.done).toBe(0);
    await expect(readFile(join(repo, "notes.txt"))).rejects.toThrow();
  });
});

describe("opta do when LMX is down", () => {
  it("says the turn fell back to the next provider and finishes there", async () => {
    const home = join(root, "home-fallback");
    await mkdir(home);
    await writeFile(
      join(home, "config.yaml"),
      `providers:\n  backup:\n    type: openai-compatible\n    baseUrl: ${model.url}\n`,
    );
    const env = { OPTA_LMX_HOST: "127.0.0.1:9" };
    try {
      const result = await opta(["do", "peek at greet.txt"], { home, env });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/↪ lmx\S* failed \(.*\); continuing with backup\//);
      expect(result.stdout).toContain("peeked");
    } finally {
      await opta(["daemon", "stop"], { home, env });
    }
  });
});
