import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type RecordedRequest,
  type ScriptedServer,
  startScriptedServer,
} from "../../../packages/daemon/test/fixtures/scripted-openai-server.js";
import { CLI_LAUNCHER, type CliResult, runCli, startCli } from "./fixtures/run-cli.js";

let home: string;
let model: ScriptedServer;

/** The built `opta` command, run as users run it, against a temporary home and a scripted model. */
function opta(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return runCli(args, {
    home,
    input: options.input,
    env: { OPTA_DAEMON_PORT: "0", OPTA_LMX_HOST: model.host, ...options.env },
  });
}

/** The model answers by the last user message: "fail" → HTTP 500, "slow" → a long stream. */
function reply(request: RecordedRequest) {
  const messages = request.body.messages as Array<{ role: string; content: string }>;
  const text = messages.at(-1)?.content ?? "";
  if (text.includes("fail")) return { status: 500, errorMessage: "model exploded" };
  if (text.includes("slow")) return { chunks: Array.from({ length: 200 }, (_, i) => `s${i} `), delayMs: 20 };
  return { chunks: ["Hello", " from", " the model"] };
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "opta-cli-"));
  model = await startScriptedServer({ replies: reply });
});

afterAll(async () => {
  await opta(["daemon", "stop"]);
  await model.close();
  await rm(home, { recursive: true, force: true });
});

describe("opta (no daemon needed)", () => {
  it("prints its version fast and its help", async () => {
    const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    const version = await opta(["--version"]);
    expect(version).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    // The checked-in launcher npm links as the `opta` bin runs the same command.
    const viaLauncher = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [CLI_LAUNCHER, "--version"]);
      let out = "";
      child.stdout.on("data", (chunk) => {
        out += chunk;
      });
      child.on("close", () => resolve(out));
    });
    expect(viaLauncher).toBe(`${pkg.version}\n`);
    const help = await opta(["--help"]);
    expect(help.code).toBe(0);
    for (const command of ["daemon", "chat", "sessions", "status", "config"]) expect(help.stdout).toContain(command);
  });

  it("turns a bad command or flag into one line on stderr and a non-zero exit", async () => {
    const bad = await opta(["chta"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toEqual(["error: unknown command 'chta' (Did you mean chat?)"]);
    const badFlag = await opta(["daemon", "logs", "--level", "loud"]);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toBe("error: --level must be one of debug, info, warn, error; got 'loud'\n");
  });

  it("gets, sets and lists config.yaml", async () => {
    expect(await opta(["config", "set", "max-steps", "7"])).toMatchObject({ code: 0, stdout: "max-steps = 7\n" });
    expect(await opta(["config", "set", "lmx.host", "127.0.0.1:1"])).toMatchObject({ code: 0 });
    expect((await opta(["config", "get", "max-steps"])).stdout).toBe("7\n");
    expect((await opta(["config", "get", "lmx"])).stdout).toBe("host: 127.0.0.1:1\n");
    expect((await opta(["config", "get", "thinking"])).stdout).toBe("false\n"); // default
    expect(await readFile(join(home, "config.yaml"), "utf8")).toContain("max-steps: 7");
    const list = await opta(["config", "list"]);
    expect(list.stdout).toContain("lmx.host = 127.0.0.1:1\n");
    expect(list.stdout).toContain("permission = safe (default)\n");
    expect(list.stdout).toContain("max-output-tokens = 4096 (default)\n");
    expect(list.stdout).toContain("thinking-budget = 4096 (default)\n");
    const budget = await opta(["config", "set", "thinking-budget", "100"]);
    expect(budget).toMatchObject({ code: 1 });
    expect(budget.stderr).toBe(
      "error: cannot set 'thinking-budget' to '100': must be at least 1024 tokens (Anthropic's smallest thinking budget)\n",
    );
    expect(JSON.parse((await opta(["config", "list", "--json"])).stdout)).toMatchObject({ "max-steps": 7 });
    expect(await opta(["config", "unset", "lmx.host"])).toMatchObject({ code: 0 });

    const bad = await opta(["config", "set", "max-steps", "lots"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/^error: cannot set 'max-steps'/);
    expect(await opta(["config", "get", "nope"])).toMatchObject({ code: 1 });
    const typo = await opta(["config", "set", "max-step", "5"]);
    expect(typo.code).toBe(0);
    expect(typo.stderr).toContain("'max-step' is not a key this version of Opta reads");
    expect((await opta(["config", "set", "max-steps", "5"])).stderr).toBe("");
    await opta(["config", "unset", "max-step"]);
  });

  it("reports the daemon as down without starting it", async () => {
    expect((await opta(["status"])).stdout).toMatch(/^daemon down/);
    expect((await opta(["daemon", "status"])).code).toBe(1);
    await expect(readFile(join(home, "daemon", "state.json"))).rejects.toThrow();
  });
});

describe("opta with the daemon", () => {
  it("starts, reports and reuses the daemon", async () => {
    const start = await opta(["daemon", "start"]);
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/^Opta daemon started on http:\/\/127\.0\.0\.1:\d+ \(pid \d+\)/);
    expect((await opta(["daemon", "start"])).stdout).toMatch(/already running/);
    const status = await opta(["status"]);
    expect(status.stdout).toMatch(/^daemon up · 127\.0\.0\.1:\d+ · pid \d+ · v[\d.]+ · \d+ sessions? \(\d+ active\)/);
    const json = JSON.parse((await opta(["daemon", "status", "--json"])).stdout) as { running: boolean; pid: number };
    expect(json.running).toBe(true);
  });

  it("chats with piped stdin, streaming each reply, and lists, shows and exports the session", async () => {
    const chat = await opta(["chat"], { input: "hi there\nand again\n" });
    expect(chat.code).toBe(0);
    expect(chat.stdout).toBe("Hello from the model\nHello from the model\n");
    const id = /session (s-[0-9a-z]+)/.exec(chat.stderr)?.[1];
    expect(id).toBeDefined();

    const list = await opta(["sessions", "list"]);
    expect(list.stdout).toContain(id!);
    const listed = JSON.parse((await opta(["sessions", "list", "--json", "--query", id!])).stdout) as { id: string }[];
    expect(listed.map((session) => session.id)).toEqual([id]);

    const show = await opta(["sessions", "show", id!]);
    expect(show.stdout).toContain("› hi there");
    expect(show.stdout).toContain("Hello from the model");

    const markdown = await opta(["sessions", "export", id!]);
    expect(markdown.code).toBe(0);
    expect(markdown.stdout).toContain("hi there");
    const file = join(home, "export.json");
    const exported = await opta(["sessions", "export", id!, "--format", "json", "--output", file]);
    expect(exported).toMatchObject({ code: 0, stdout: "" });
    const body = JSON.parse(await readFile(file, "utf8")) as { session: { id: string }; events: { event: string }[] };
    expect(body.session.id).toBe(id);
    expect(body.events.filter((event) => event.event === "turn.done")).toHaveLength(2);

    const missing = await opta(["sessions", "show", "s-000000000000nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("handles /compact and unknown slash commands itself instead of sending them to the model", async () => {
    const before = model.requests.length;
    const chat = await opta(["chat"], { input: "/compact\nhello\n/frobnicate\n/compact\n" });
    expect(chat.code).toBe(0);
    expect(chat.stderr).toContain("[nothing to compact yet]");
    expect(chat.stderr).toContain("unknown command /frobnicate");
    expect(chat.stderr).toContain("[compacted");
    const sent = model.requests.slice(before).map((request) => JSON.stringify(request.body.messages));
    expect(sent.some((messages) => messages.includes("/frobnicate"))).toBe(false);
    const id = /session (s-[0-9a-z]+)/.exec(chat.stderr)?.[1];
    const events = JSON.parse((await opta(["sessions", "show", id!, "--json"])).stdout) as {
      events: Array<{ event: string }>;
    };
    expect(events.events.some((event) => event.event === "session.compacted")).toBe(true);
  });

  it("continues a session and reports a failing model with exit 1", async () => {
    const first = await opta(["chat"], { input: "hello\n" });
    const id = /session (s-[0-9a-z]+)/.exec(first.stderr)![1]!;
    const failing = await opta(["chat", "--session", id], { input: "please fail\n" });
    expect(failing.code).toBe(1);
    expect(failing.stderr).toMatch(/error: .*model exploded|error: .*500/);
    expect((await opta(["sessions", "show", id, "--json"])).stdout).toContain('"turn.error"');
  });

  it("cancels the running turn on Ctrl+C (SIGINT) and keeps going", async () => {
    const { child, output, done } = startCli(["chat"], { home, env: { OPTA_DAEMON_PORT: "0" } });
    child.stdin.write("be slow\n");
    const deadline = Date.now() + 10_000;
    while (!output.stdout.includes("s3 ") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGINT");
    while (!output.stderr.includes("[cancelled]") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(output.stderr).toContain("[cancelled]");
    child.stdin.end("hi\n");
    expect((await done).code).toBe(0);
    expect(output.stdout).not.toContain("s199");
    expect(output.stdout).toContain("Hello from the model");
  });

  it("prints daemon logs", async () => {
    const logs = await opta(["daemon", "logs", "--limit", "50"]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/info\s+daemon: Listening on/);
  });

  it("stops the daemon, and a command that needs it starts it again", async () => {
    expect((await opta(["daemon", "stop"])).stdout).toMatch(/^Opta daemon stopped/);
    expect((await opta(["daemon", "stop"])).stdout).toBe("Opta daemon is not running\n");
    const list = await opta(["sessions", "list"]);
    expect(list.code).toBe(0);
    expect(list.stderr).toMatch(/^Started the Opta daemon on/);
    expect(list.stdout).toContain("ID");
  });

  it("cleans up after a daemon that crashed, without signalling whatever now has its pid", async () => {
    const statePath = join(home, "daemon", "state.json");
    const state = JSON.parse(await readFile(statePath, "utf8")) as { pid: number };
    const killed = new Promise((resolve) => {
      const timer = setInterval(() => {
        try {
          process.kill(state.pid, 0);
        } catch {
          clearInterval(timer);
          resolve(undefined);
        }
      }, 20);
    });
    process.kill(state.pid, "SIGKILL");
    await killed;
    // Pretend the dead daemon's pid now belongs to an unrelated program: this test process.
    await writeFile(statePath, JSON.stringify({ ...state, pid: process.pid }));
    const stop = await opta(["daemon", "stop"]);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain("was not running");
    expect(stop.stdout).toContain("stale state");
    expect(existsSync(statePath)).toBe(false);
  });
});
