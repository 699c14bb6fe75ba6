import type { SessionEvent } from "@opta/protocol";
import { afterEach, expect, it, vi } from "vitest";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import { Timeline } from "../../src/agent-view/timeline.js";

/**
 * `opta do` and `opta chat` print the model's answer, its thinking, tool outcomes and hook output
 * straight to the terminal. Text a prompt-injected file makes the model (or a tool) print must not
 * drive that terminal: no clipboard write (OSC 52), title, hyperlink, cursor move, clear or reset.
 * Piped to a file, the answer stays byte for byte what the model wrote.
 */
const ATTACKS: Record<string, string> = {
  "OSC 0 title, BEL": "\u001b]0;PWNED\u0007",
  "OSC 52 clipboard, BEL": "\u001b]52;c;cm0gLXJmIH4=\u0007",
  "OSC 8 hyperlink, ST": "\u001b]8;;https://evil.example\u001b\\",
  "8-bit OSC, 8-bit ST": "\u009d0;PWNED\u009c",
  "CSI clear screen": "\u001b[2J\u001b[H",
  "CSI cursor up": "\u001b[10A",
  "8-bit CSI": "\u009b2J",
  DCS: "\u001bPq#0;2;0;0;0\u001b\\",
  "RIS full reset": "\u001bc",
  "bare carriage return over a line": "\rrm -rf ~ # ",
};
/** All a line may hold: printable text, \n, \t, SGR styles, and the view's own "\r ESC[K" rewrite. */
const ONLY_SAFE = /^(?:[^\u0000-\u001f\u007f-\u009f]|[\n\t]|\u001b\[[0-9;]*m|\r\u001b\[K)*$/;

const base = { sessionId: "s-1", ts: "2026-01-01T00:00:00.000Z", turnId: "t-1" };

function capture(stdoutIsTTY: boolean) {
  const written = { out: "", err: "" };
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    written.out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    written.err += String(chunk);
    return true;
  });
  const tty = Object.getOwnPropertyDescriptor(process.stdout, "isTTY");
  Object.defineProperty(process.stdout, "isTTY", { value: stdoutIsTTY, configurable: true });
  return {
    written,
    restore: () => {
      if (tty) Object.defineProperty(process.stdout, "isTTY", tty);
      else delete (process.stdout as { isTTY?: boolean }).isTTY;
    },
  };
}

/** Every place the view prints daemon text, each carrying the attack (the answer split in two). */
function run(attack: string): void {
  const timeline = new Timeline({ live: true, thinking: true });
  let seq = 0;
  const send = (event: Record<string, unknown>) => timeline.handle({ ...base, seq: ++seq, ...event } as SessionEvent);
  const half = Math.ceil(attack.length / 2);
  send({ event: "turn.token", delta: `answer ${attack.slice(0, half)}`, model: "m" });
  send({ event: "turn.token", delta: `${attack.slice(half)} end\n`, model: "m" });
  send({ event: "turn.thinking", delta: `thinking ${attack}\n` });
  send({ event: "tool.call", callId: "c-1", name: "read_file", args: { path: `a${attack}.ts` } });
  send({ event: "tool.result", callId: "c-1", name: "read_file", ok: false, error: `bad ${attack}`, elapsedMs: 1 });
  send({ event: "provider.fallback", from: `lmx/a${attack}`, to: "openai/b", reason: `down ${attack}` });
  send({
    event: "hook.ran",
    hook: "pre_tool",
    scope: "user",
    source: "hooks.yaml",
    command: `check${attack}`,
    tool: "run_command",
    exitCode: 2,
    stdout: "",
    stderr: "",
    elapsedMs: 1,
    sandbox: "read-only",
    decision: "deny",
    reason: `no ${attack}`,
  });
  timeline.endLine();
}

afterEach(() => vi.restoreAllMocks());

it("no escape sequence from the model, a tool or a hook reaches the terminal", ({ task }) => {
  const cases: SecurityCase[] = [];
  for (const [attack, text] of Object.entries(ATTACKS)) {
    const { written, restore } = capture(true);
    try {
      run(text);
    } finally {
      restore();
      vi.restoreAllMocks();
    }
    const unsafe = [written.out, written.err].filter((stream) => !ONLY_SAFE.test(stream));
    cases.push({
      attack,
      refused: unsafe.length === 0 && written.out.includes("answer") && written.err.includes("read_file"),
      ...(unsafe.length ? { detail: JSON.stringify(unsafe[0]).slice(0, 120) } : {}),
    });
  }
  const report = reportFamily(task, "terminal-escape", cases);
  expect(report.through).toEqual([]);
});

it("piped to a file, the answer is exactly what the model wrote", () => {
  const { written, restore } = capture(false);
  try {
    run(ATTACKS["OSC 52 clipboard, BEL"]!);
  } finally {
    restore();
  }
  expect(written.out).toBe(`answer ${ATTACKS["OSC 52 clipboard, BEL"]} end\n`);
  expect(written.err).toMatch(ONLY_SAFE);
});
