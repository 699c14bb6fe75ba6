import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DaemonProcess, spawnDaemon } from "../../../../packages/daemon/test/fixtures/daemon-harness.js";
import {
  type ScriptedServer,
  startScriptedServer,
} from "../../../../packages/daemon/test/fixtures/scripted-openai-server.js";

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

/** Starts `opta tui …` in the tmux session "tui" (created on first use; it stays after the exit). */
function startTui(args: string[], respawn = false): void {
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
  if (respawn) {
    // Same pane, new process (killing the only session would stop the tmux server).
    tmux("respawn-pane", "-k", "-t", "tui", command);
    return;
  }
  // Keep the pane after the process exits, to see how it ended.
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
  );
}

beforeAll(async () => {
  if (!hasTmux) return;
  home = await mkdtemp(join(tmpdir(), "opta-tui-e2e-"));
  socket = join(home, "tmux.sock");
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

    tmux("send-keys", "-t", "tui", "-l", "say hello");
    await waitForScreen((text) => text.includes("say hello"), "the typed prompt");
    tmux("send-keys", "-t", "tui", "Enter");
    const answered = await waitForScreen(
      (text) => text.includes("Hello from the scripted model.") && /tok\/s/.test(text),
      "the streamed answer and its stats",
    );
    expect(answered).toContain("› say hello");
    expect(answered).not.toContain("**scripted**"); // rendered, not raw markdown
    expect(answered).toMatch(/│ alpha\s+│ 1\s+│/); // the table
    // The frame fits the 120×40 terminal.
    for (const line of answered.split("\n")) expect(line.length).toBeLessThanOrEqual(120);

    tmux("send-keys", "-t", "tui", "C-c");
    await waitForScreen((text) => text.includes("Press Ctrl+C again to exit"), "the exit hint");
    tmux("send-keys", "-t", "tui", "C-c");
    expect([0, undefined]).toContain(await waitForExit());

    startTui(["--session", sessionId!], true);
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
});
