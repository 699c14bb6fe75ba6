/**
 * One long path must not freeze the daemon: paths over 4096 bytes or 256 components are refused
 * before any resolution (PATH_TOO_LONG), and resolution of the rest is linear. The event loop's
 * delay is measured while each attack runs (it once blocked for 30 s on `"a/".repeat(8000)`).
 */
import { mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { blockProbe } from "../../../../scripts/block-probe.mjs";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import type { ToolOutcome } from "../../src/tool/index.js";
import { makeWorkspace, type Workspace } from "./workspace.js";

/** The most the event loop may stall during one attack (the bound). */
const MAX_DELAY_MS = 100;

let ws: Workspace;
beforeEach(async () => {
  ws = await makeWorkspace();
});
afterEach(() => ws.cleanup());

/**
 * Runs `work` and reports the longest event-loop stall meanwhile, in ms: lateness of a 5 ms timer
 * counted only while the main thread was on the CPU, so a busy machine that merely deschedules the
 * test process is not mistaken for a stall (scripts/block-probe.mjs).
 */
async function stallOf(work: () => Promise<ToolOutcome>): Promise<{ outcome: ToolOutcome; stallMs: number }> {
  const probe = blockProbe(5);
  try {
    const outcome = await work();
    return { outcome, stallMs: await probe.next() };
  } finally {
    probe.stop();
  }
}

const TOO_LONG: Array<[string, string]> = [
  ['"a/" x 8000 + "x" (the issue)', `${"a/".repeat(8000)}x`],
  ['"../" x 5000', "../".repeat(5000)],
  ['"./" x 4000', "./".repeat(4000)],
  ['"./" x 2000 (4000 bytes, 2000 components)', "./".repeat(2000)],
  ['"a/" x 300 (600 bytes, 300 components)', "a/".repeat(300)],
  ["one 100 KB component", "x".repeat(100_000)],
  ['"/" x 5000 + "etc/passwd"', `${"/".repeat(5000)}etc/passwd`],
  ["1400 three-byte characters (4200 bytes)", "€".repeat(1400)],
];

const TOOL_ARGS: Array<[string, (path: string) => Record<string, unknown>]> = [
  ["read_file", (path) => ({ path })],
  ["list_dir", (path) => ({ path })],
  ["search_files", (path) => ({ pattern: "*", path })],
  ["grep", (path) => ({ pattern: "x", path })],
  ["write_file", (path) => ({ path, content: "x" })],
  ["edit_file", (path) => ({ path, old_string: "a", new_string: "b" })],
  ["run_command", (path) => ({ command: "true", cwd: path })],
];

describe("bounded path work", () => {
  it("refuses over-long paths in every tool at once, without stalling the event loop", async ({ task }) => {
    const cases: SecurityCase[] = [];
    for (const [name, path] of TOO_LONG) {
      for (const [tool, args] of TOOL_ARGS) {
        const { outcome, stallMs } = await stallOf(() => ws.call(tool, args(path)));
        const code = outcome.ok ? "ok" : outcome.code;
        cases.push({
          attack: `${tool} ${name}`,
          refused: code === "PATH_TOO_LONG" && stallMs < MAX_DELAY_MS,
          detail: `${code}, event loop stalled ${stallMs.toFixed(1)} ms`,
        });
      }
    }
    const report = reportFamily(task, "long-path", cases);
    expect(report.through).toEqual([]);
  });

  it("resolves the longest accepted paths, link chains and loops in linear time", async ({ task }) => {
    // 40 chained links (the most followed), each through a deep directory; a loop; links to ".".
    const deep = "d/".repeat(50);
    await mkdir(join(ws.cwd, deep), { recursive: true });
    for (let index = 0; index < 40; index++) {
      await symlink(index === 39 ? deep : `l${index + 1}`, join(ws.cwd, `l${index}`));
    }
    await symlink("loop-b", join(ws.cwd, "loop-a"));
    await symlink("loop-a", join(ws.cwd, "loop-b"));
    await symlink(".", join(ws.cwd, "s"));
    const attacks: Array<[string, string, string]> = [
      ['"a/" x 255 + "x", none of it existing', `${"a/".repeat(255)}x`, "NOT_FOUND"],
      ['"d/" x 50 + "../" x 50 + "d/" x 150 + "x"', `${deep}${"../".repeat(50)}${"d/".repeat(150)}x`, "NOT_FOUND"],
      ["a chain of 40 links into 50 directories", "l0/x", "NOT_FOUND"],
      ["a loop of two links", "loop-a/x", "TOOL_FAILED"],
      ['"s/" x 255 + "x" with s -> . (a link per component)', `${"s/".repeat(255)}x`, "TOOL_FAILED"],
    ];
    const cases: SecurityCase[] = [];
    for (const [name, path, expected] of attacks) {
      const { outcome, stallMs } = await stallOf(() => ws.call("read_file", { path }));
      const code = outcome.ok ? "ok" : outcome.code;
      cases.push({
        attack: `read_file ${name}`,
        refused: code === expected && stallMs < MAX_DELAY_MS,
        detail: `${code} (${outcome.ok ? "" : outcome.error.slice(0, 120)}), event loop stalled ${stallMs.toFixed(1)} ms`,
      });
    }
    const report = reportFamily(task, "long-path", cases);
    expect(report.through).toEqual([]);
  });

  it("measures a real stall: the probe is not blind", async () => {
    // The same measurement as above around 150 ms of synchronous work on the main thread: 150 ms
    // of CPU time, not of the clock, since the probe counts only time on the CPU.
    const { stallMs } = await stallOf(async () => {
      const start = process.cpuUsage();
      while (process.cpuUsage(start).user < 150_000) {
        // spin: this is what a pathological path resolution does to the loop
      }
      return ws.call("read_file", { path: "missing.txt" });
    });
    expect(stallMs).toBeGreaterThanOrEqual(MAX_DELAY_MS);
  });

  it("says what is wrong without echoing the path", async () => {
    const outcome = await ws.call("read_file", { path: `${"a/".repeat(8000)}x` });
    expect(outcome).toMatchObject({ ok: false, code: "PATH_TOO_LONG" });
    if (outcome.ok) return;
    expect(outcome.error).toContain("at most 4096 bytes");
    expect(outcome.error.length).toBeLessThan(200);
    const components = await ws.call("read_file", { path: "a/".repeat(300) });
    expect(components).toMatchObject({ ok: false, code: "PATH_TOO_LONG" });
    if (!components.ok) expect(components.error).toContain("at most 256");
  });
});
