import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon } from "../../../../packages/daemon/test/fixtures/daemon-harness.js";
import {
  type ScriptedServer,
  startScriptedServer,
} from "../../../../packages/daemon/test/fixtures/scripted-openai-server.js";
import { startPane } from "../fixtures/tmux.js";

/**
 * The real `opta tui` (the built CLI) in a real terminal: tmux gives it a 120×40 pseudo-terminal,
 * the test types into it and reads the screen back, against a real daemon and a scripted model.
 */
const BIN = fileURLToPath(new URL("../../dist/bin.js", import.meta.url));
const hasTmux = spawnSync("tmux", ["-V"]).status === 0;
if (!hasTmux) console.warn("tui e2e skipped: tmux is not installed (apt-get install tmux)");

let home: string;
let model: ScriptedServer;
let daemon: DaemonProcess;
let socket: string;
/** Everything `opta tui` wrote to its terminal (tmux pipe-pane), escape sequences included. */
let output: string;

function tmux(...args: string[]): string {
  // A private server (own socket, no user config), so nothing of the user's tmux is touched.
  return execFileSync("tmux", ["-f", "/dev/null", "-S", socket, ...args], { encoding: "utf8" });
}

function screen(): string {
  return tmux("capture-pane", "-p", "-t", "tui");
}

async function waitForScreen(check: (text: string) => boolean, what: string, ms = 15_000): Promise<string> {
  const deadline = Date.now() + ms;
  let text = "";
  while (Date.now() < deadline) {
    try {
      text = screen();
    } catch {
      text = "";
    }
    if (check(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}; the screen shows:\n${text}`);
}

/**
 * Waits for the process in the pane to end; returns its exit status when tmux knows it (tmux marks
 * the pane dead when the terminal closes and sometimes learns the status only later).
 */
async function waitForExit(ms = 10_000): Promise<number | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const [dead, status, signal] = tmux(
      "list-panes",
      "-t",
      "tui",
      "-F",
      "#{pane_dead} #{pane_dead_status} #{pane_dead_signal}",
    )
      .trim()
      .split(" ");
    if (dead === "1" && signal) throw new Error(`opta tui was killed by signal ${signal}:\n${screen().trimEnd()}`);
    if (dead === "1") {
      if (status) return Number(status);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const again = tmux("list-panes", "-t", "tui", "-F", "#{pane_dead_status}").trim();
      return again ? Number(again) : undefined;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`opta tui did not exit; the screen shows:\n${screen().trimEnd()}`);
}

const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;

let tmuxStarted = false;

/** Starts `opta tui …` in the tmux session "tui" (created on first use; it stays after the exit). */
function startTui(args: string[]): void {
  const env = {
    OPTA_HOME: home,
    OPTA_LMX_HOST: model.host,
    TERM: "xterm-256color",
    NO_COLOR: "",
  };
  const command = [
    "env", // CI=true stays: opta tui must still draw when a person runs it (CI reaches this from .ci/run)
    ...Object.entries(env).map(([key, value]) => `${key}=${quote(value)}`),
    quote(process.execPath),
    quote(BIN),
    "tui",
    ...args.map(quote),
  ].join(" ");
  if (tmuxStarted) {
    // Same pane, new process (killing the only session would stop the tmux server).
    tmux("respawn-pane", "-k", "-t", "tui", command);
    return;
  }
  // Keep the pane after the process exits, to see how it ended; record what it writes (in the same
  // tmux command, so before the process has written anything).
  tmux(
    "new-session",
    "-d",
    "-x",
    "120",
    "-y",
    "40",
    "-s",
    "tui",
    command,
    ";",
    "set-option",
    "-t",
    "tui",
    "remain-on-exit",
    "on",
    ";",
    "pipe-pane",
    "-O",
    "-t",
    "tui",
    `cat >> ${quote(output)}`,
  );
  tmuxStarted = true;
}

beforeAll(async () => {
  if (!hasTmux) return;
  home = await mkdtemp(join(tmpdir(), "opta-tui-e2e-"));
  socket = join(home, "tmux.sock");
  output = join(home, "pane-output.bin");
  model = await startScriptedServer({
    replies: [
      {
        chunks: ["Hello", " from", " the **scripted**", " model.\n\n", "| key | value |\n|---|---|\n| alpha | 1 |\n"],
        delayMs: 30,
      },
    ],
  });
  daemon = await spawnDaemon(home, { OPTA_LMX_HOST: model.host });
});

afterAll(async () => {
  if (!hasTmux) return;
  try {
    tmux("kill-server");
  } catch {
    // already gone
  }
  await daemon?.stop();
  await model?.close();
  await rm(home, { recursive: true, force: true });
});

describe.skipIf(!hasTmux)("opta tui in a terminal", () => {
  it("streams an answer onto the screen, exits on Ctrl+C twice, and resumes the session with its history", async () => {
    startTui([]);
    const first = await waitForScreen(
      (text) => text.includes("● connected") && text.includes("Type a message"),
      "the TUI to connect",
    );
    expect(first).toContain("Tab: model · Ctrl+K: menu · [Chat]");
    const sessionId = /session (s-\S+)/.exec(first)?.[1];
    expect(sessionId).toBeDefined();

    // The text and Enter in one send-keys call: they reach opta tui in one read.
    tmux("send-keys", "-t", "tui", "say hello", "Enter");
    const answered = await waitForScreen(
      (text) => text.includes("Hello from the scripted model.") && /tok\/s/.test(text),
      "the streamed answer and its stats",
    );
    expect(answered).toContain("› say hello");
    expect(answered).not.toContain("**scripted**"); // rendered, not raw markdown
    expect(answered).toMatch(/│ alpha\s+│ 1\s+│/); // the table
    // The frame fits the 120×40 terminal.
    for (const line of answered.split("\n")) expect(line.length).toBeLessThanOrEqual(120);

    // A paste: tmux brackets it only because opta tui turned bracketed paste on (ESC[?2004h); its
    // line breaks (sent as \r) stay in the composer, even the last one, and nothing is sent.
    const requests = model.requests.length;
    tmux("set-buffer", "-b", "paste", "first pasted line\nsecond pasted line\n");
    tmux("paste-buffer", "-p", "-b", "paste", "-t", "tui");
    const pasted = await waitForScreen(
      (text) => text.includes("▌ first pasted line") && text.includes("second pasted line"),
      "the pasted lines in the composer",
    );
    expect(pasted.split("\n").findIndex((line) => line.includes("second pasted line"))).toBe(
      pasted.split("\n").findIndex((line) => line.includes("▌ first pasted line")) + 1,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(model.requests.length).toBe(requests);

    // Ctrl+C clears the composer (and arms the exit); the second one leaves.
    tmux("send-keys", "-t", "tui", "C-c");
    await waitForScreen((text) => text.includes("Press Ctrl+C again to exit"), "the exit hint");
    tmux("send-keys", "-t", "tui", "C-c");
    expect([0, undefined]).toContain(await waitForExit());
    // The terminal is left as found: bracketed paste off, the alternate screen left.
    const written = await readFile(output, "latin1");
    expect(written).toContain("\u001b[?2004h");
    const off = written.lastIndexOf("\u001b[?2004l");
    expect(off).toBeGreaterThan(written.lastIndexOf("\u001b[?2004h"));
    expect(written.lastIndexOf("\u001b[?1049l")).toBeGreaterThan(written.lastIndexOf("\u001b[?1049h"));

    startTui(["--session", sessionId!]);
    const resumed = await waitForScreen(
      (text) => text.includes("● connected") && text.includes("Hello from the scripted model."),
      "the resumed history",
    );
    expect(resumed).toContain(`session ${sessionId}`);
    expect(resumed).toContain("› say hello");
    tmux("send-keys", "-t", "tui", "C-c");
    await waitForScreen((text) => text.includes("Press Ctrl+C again to exit"), "the exit hint");
    tmux("send-keys", "-t", "tui", "C-c");
    expect([0, undefined]).toContain(await waitForExit());
  });

  it("keeps streaming across a daemon restart: every token once, in order, and the next turn works", async () => {
    const words = Array.from({ length: 24 }, (_, i) => `w${String(i).padStart(2, "0")}`);
    // The answer is held after w11 until the restart is done, so the restart is surely mid-stream.
    let release = () => {};
    const resume = new Promise<void>((resolve) => {
      release = resolve;
    });
    model.setReplies([
      { chunks: words.map((word) => `${word} `), delayMs: 20, holdAfterChunks: 12, resume },
      { chunks: ["Second", " answer", " after", " the restart."], delayMs: 10 },
    ]);
    startTui([]);
    await waitForScreen((text) => text.includes("● connected") && text.includes("Type a message"), "the TUI");
    tmux("send-keys", "-t", "tui", "count", "Enter");
    await waitForScreen((text) => text.includes("w03"), "the first tokens");

    // POST /v3/daemon/restart: the token rotates and every WebSocket is closed (1012); the turn
    // carries on in the daemon, the SDK reconnects with the new token after the last seq it had.
    const oldToken = daemon.token;
    const response = await api(daemon)("/v3/daemon/restart", { method: "POST" });
    expect(response.status).toBe(200);
    expect(screen()).not.toContain(words.at(-1)); // it was mid-stream
    expect(await daemon.readToken()).not.toBe(oldToken);
    release();

    const answered = await waitForScreen(
      (text) => text.includes(words.at(-1)!) && /tok\/s/.test(text),
      "the whole answer after the restart",
    );
    expect(answered).toContain(words.join(" "));
    for (const word of words) expect(answered.split(word).length - 1).toBe(1);
    expect(answered).toContain("● connected");

    // HTTP calls pick up the new token too.
    tmux("send-keys", "-t", "tui", "again", "Enter");
    await waitForScreen((text) => text.includes("Second answer after the restart."), "the next turn's answer");
    daemon.token = await daemon.readToken();

    // /clear moves to a new session; leaving names that one for resuming.
    const before = /session (s-\S+)/.exec(screen())?.[1];
    tmux("send-keys", "-t", "tui", "/clear", "Enter");
    const cleared = await waitForScreen((text) => text.includes("New session"), "the new session");
    const after = /session (s-\S+)/.exec(cleared)?.[1];
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    tmux("send-keys", "-t", "tui", "C-c");
    await waitForScreen((text) => text.includes("Press Ctrl+C again to exit"), "the exit hint");
    tmux("send-keys", "-t", "tui", "C-c");
    expect([0, undefined]).toContain(await waitForExit());
    // (With the scrollback: tmux's "Pane is dead" line can push it off the screen.)
    const normalScreen = tmux("capture-pane", "-p", "-S", "-100", "-t", "tui");
    expect(normalScreen).toContain(`resume with: opta tui --session ${after}`);
  });

  it("at 80 columns: the header takes the daemon's title after the first turn, and names the model after --session", async () => {
    model.setReplies([{ chunks: ["Looked", " at it."] }]);
    const title = "why does the login redirect loop forever";
    const env = { OPTA_HOME: home, OPTA_LMX_HOST: model.host, NO_COLOR: "" };
    const first = startPane({
      dir: home,
      script: BIN,
      args: ["tui", "--model", "lmx/scripted-model"],
      env,
      columns: 80,
      rows: 30,
    });
    try {
      await first.waitFor((text) => text.includes("●") && text.includes("Type a message"), "the TUI at 80 columns");
      first.keys(title, "Enter");
      const titled = await first.waitFor(
        (text) => text.includes("Looked at it.") && (text.split("\n")[0] ?? "").includes(title),
        "the title in the header",
      );
      const header = titled.split("\n")[0]!;
      expect(header).toContain("lmx/scripted-model");
      expect(header.length).toBeLessThanOrEqual(80);
      first.keys("C-c");
      first.keys("C-c");
    } finally {
      first.kill();
    }
    const sessions = (await (await api(daemon)("/v3/sessions")).json()) as {
      sessions: Array<{ id: string; title: string }>;
    };
    const session = sessions.sessions.find((each) => each.title === title)!;
    expect(session).toBeDefined();

    const resumed = startPane({
      dir: home,
      script: BIN,
      args: ["tui", "--session", session.id],
      env,
      columns: 80,
      rows: 30,
    });
    try {
      const screen = await resumed.waitFor(
        (text) => text.includes("Looked at it.") && text.includes("●"),
        "the resumed session",
      );
      const header = screen.split("\n")[0]!;
      expect(header).toContain(title);
      expect(header).toContain("lmx/scripted-model");
      resumed.keys("C-c");
      resumed.keys("C-c");
    } finally {
      resumed.kill();
    }
  });
});
