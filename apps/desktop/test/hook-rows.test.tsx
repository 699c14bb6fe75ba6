// @vitest-environment happy-dom
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { eventFactory } from "./events.js";
import { type Mounted, mountApp, setViewport } from "./harness.js";

/** The user's hooks in the timeline: each hook.ran in its turn, where it happened, and hook.skipped. */

let mounted: Mounted | undefined;
beforeEach(() => setViewport(1440));
afterEach(() => {
  mounted?.unmount();
  mounted = undefined;
  vi.restoreAllMocks();
  document.body.innerHTML = "";
});

const ran = {
  event: "hook.ran",
  turnId: "t-1",
  scope: "user",
  source: "/home/me/.opta/hooks.yaml: pre_tool[0]",
  stderr: "",
  elapsedMs: 12.4,
  sandbox: "read-only",
} as const;

describe("hooks in the timeline", () => {
  it("shows a pre_tool denial right after the call it refused, with its reason and output, and turn_end after the answer", async () => {
    mounted = await mountApp();
    const e = eventFactory("s-1");
    const { container, streams, flushFrames } = mounted;
    streams[0]!.onEvent(
      e({
        event: "turn.start",
        turnId: "t-1",
        role: "user",
        text: "build",
        mode: "do",
        model: "m",
        permission: "safe",
      }),
    );
    streams[0]!.onEvent(
      e({
        event: "hook.skipped",
        turnId: "t-1",
        scope: "project",
        file: "/repo/.opta/hooks.yaml",
        reason: "not trusted",
      }),
    );
    // The call is recorded first; its pre_tool hook runs before it would run.
    streams[0]!.onEvent(
      e({ event: "tool.call", turnId: "t-1", callId: "c-1", name: "run_command", args: { command: "make" } }),
    );
    streams[0]!.onEvent(
      e({
        ...ran,
        hook: "pre_tool",
        command: "./scripts/check-command.sh",
        callId: "c-1",
        tool: "run_command",
        exitCode: 2,
        stdout: "",
        stderr: "use npm run build",
        decision: "deny",
        reason: "use npm run build",
      }),
    );
    streams[0]!.onEvent(e({ event: "turn.token", turnId: "t-1", delta: "Used npm instead.", model: "m" }));
    streams[0]!.onEvent(
      e({
        ...ran,
        hook: "turn_end",
        source: "hooks.yaml: turn_end[0]",
        command: "notify-send done",
        exitCode: 0,
        stdout: "sent",
      }),
    );
    await act(async () => flushFrames());

    const rows = [...container.querySelectorAll('[data-testid="hook-row"], [data-testid="hook-skipped"], .tool-card')];
    expect(rows.map((row) => (row.classList.contains("tool-card") ? "tool" : row.getAttribute("data-testid")))).toEqual(
      ["hook-skipped", "tool", "hook-row", "hook-row"],
    );
    const [skipped, , denial, end] = rows as HTMLElement[];
    expect(skipped!.textContent).toContain("/repo/.opta/hooks.yaml");
    expect(skipped!.textContent).toContain("not trusted");
    expect(denial!.textContent).toContain("hook pre_tool");
    expect(denial!.textContent).toContain("./scripts/check-command.sh");
    expect(denial!.textContent).toContain("denied the call: use npm run build");
    expect(denial!.className).toContain("hook-warn");
    expect(denial!.querySelector("figure")?.textContent).toContain("stderr");
    expect(end!.textContent).toContain("hook turn_end");
    expect(end!.textContent).toContain("exit 0");
    expect(end!.querySelector("pre")?.textContent).toBe("sent");
  });

  it("says when a hook timed out, could not run, or ran without a sandbox", async () => {
    mounted = await mountApp();
    const e = eventFactory("s-1");
    const { container, streams, flushFrames } = mounted;
    streams[0]!.onEvent(
      e({ event: "turn.start", turnId: "t-1", role: "user", text: "go", mode: "do", model: "m", permission: "safe" }),
    );
    streams[0]!.onEvent(
      e({ ...ran, hook: "post_tool", command: "sleep 60", exitCode: null, stdout: "", timedOut: true }),
    );
    streams[0]!.onEvent(
      e({
        ...ran,
        hook: "turn_end",
        command: "lint",
        exitCode: null,
        stdout: "",
        error: "spawn failed",
        sandbox: "unavailable",
      }),
    );
    await act(async () => flushFrames());
    const rows = [...container.querySelectorAll<HTMLElement>('[data-testid="hook-row"]')];
    expect(rows.map((row) => row.querySelector(".hook-outcome")?.textContent)).toEqual([
      "timed out (killed)",
      "could not run: spawn failed",
    ]);
    expect(rows.every((row) => row.className.includes("hook-error"))).toBe(true);
    expect(rows[1]!.textContent).toContain("unsandboxed");
  });
});
