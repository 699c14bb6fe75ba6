import { DaemonApiError } from "@opta/daemon-client";
import { render } from "ink-testing-library";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { App } from "../../src/tui/app.js";
import { TuiController } from "../../src/tui/controller.js";
import { RecentStore } from "../../src/tui/recent.js";
import { setColor } from "../../src/tui/text.js";
import { fakeClient, sessionInfo, stripAnsi, waitFor } from "./fake-client.js";

/** Pause and resume of a Do turn in `opta tui`, and its rewind and fork commands. */

const KEYS = { enter: "\r", ctrlC: "\u0003", backspace: "\u007f" };

beforeAll(() => setColor(false));

const mounted: Array<{ unmount: () => void; controller: TuiController }> = [];
afterEach(() => {
  for (const { unmount, controller } of mounted.splice(0)) {
    controller.stop();
    unmount();
  }
});

function mount() {
  const fake = fakeClient();
  const onExit = vi.fn();
  const controller = new TuiController({
    client: fake.client,
    session: sessionInfo({ mode: "do" }),
    recent: new RecentStore(),
    frameMs: 0,
    onExit,
  });
  const app = render(<App controller={controller} size={{ columns: 110, rows: 30 }} />);
  controller.start();
  mounted.push({ unmount: app.unmount, controller });
  const frame = () => stripAnsi(app.lastFrame());
  const press = async (...keys: string[]) => {
    for (const key of keys) {
      app.stdin.write(key);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  return { ...fake, controller, frame, press, onExit };
}

function doTurn(ui: ReturnType<typeof mount>, turnId = "t-1") {
  ui.emit(
    { event: "turn.start", turnId, role: "user", text: "refactor it", mode: "do", model: "m", permission: "safe" },
    { event: "turn.token", turnId, delta: "Working on it", model: "m" },
  );
}

function paused(ui: ReturnType<typeof mount>, turnId = "t-1") {
  ui.emit({
    event: "turn.paused",
    turnId,
    steps: 1,
    maxSteps: 3,
    remainingSteps: 2,
    toolCalls: 1,
    interactive: true,
  });
}

describe("pause and resume", () => {
  it("pauses a Do turn on the first Ctrl+C, shows Paused, and Enter resumes the same turn", async () => {
    const ui = mount();
    doTurn(ui);
    await waitFor(() => expect(ui.frame()).toContain("Working on it"));
    expect(ui.frame().split("\n").at(-1)).toContain("Ctrl+C pauses");
    await ui.press(KEYS.ctrlC);
    await waitFor(() => expect(ui.calls.paused).toBe(1));
    expect(ui.calls.stopped).toBe(0);
    expect(ui.frame()).toContain("Pausing after the running tool calls… (Ctrl+C again cancels)");
    paused(ui);
    await waitFor(() => expect(ui.frame().split("\n")[0]).toContain("⏸ Paused"));
    expect(ui.frame()).toContain("⏸ Paused after 1 step (2 left) · Enter resumes · Ctrl+C cancels");
    expect(ui.frame().split("\n").at(-1)).toContain("⏸ Paused · Enter resumes · Ctrl+C cancels");
    // A new message now would run ahead of the paused turn: it is held back, with what to do.
    await ui.press("x", KEYS.enter);
    await waitFor(() => expect(ui.frame()).toContain("A turn is paused — Enter on an empty line (or /resume)"));
    expect(ui.calls.submitted).toHaveLength(0);
    await ui.press(KEYS.backspace, KEYS.enter);
    await waitFor(() => expect(ui.calls.resumed).toEqual([{ sessionId: "s-test1", interactive: true }]));
    ui.emit(
      { event: "turn.resumed", turnId: "t-1", steps: 1, remainingSteps: 2 },
      { event: "turn.token", turnId: "t-1", delta: " and done.", model: "m" },
    );
    await waitFor(() => expect(ui.frame().split("\n")[0]).not.toContain("Paused"));
    expect(ui.frame()).not.toContain("⏸ Paused after");
    expect(ui.frame().split("\n").at(-1)).toContain("● running");
  });

  it("a second Ctrl+C cancels: while the pause is under way, and once paused", async () => {
    const ui = mount();
    doTurn(ui);
    await waitFor(() => expect(ui.frame()).toContain("Working on it"));
    await ui.press(KEYS.ctrlC, KEYS.ctrlC);
    await waitFor(() => expect(ui.calls.stopped).toBe(1));
    expect(ui.calls.paused).toBe(1);
    ui.emit({ event: "session.cancelled", turnId: "t-1" });
    await waitFor(() => expect(ui.frame()).toContain("⊘ cancelled"));

    doTurn(ui, "t-2");
    await waitFor(() => expect(ui.controller.running).toBe(true));
    await ui.press(KEYS.ctrlC);
    await waitFor(() => expect(ui.calls.paused).toBe(2));
    paused(ui, "t-2");
    await waitFor(() => expect(ui.controller.paused).toBe(true));
    await ui.press(KEYS.ctrlC);
    await waitFor(() => expect(ui.calls.stopped).toBe(2));
    expect(ui.frame()).toContain("Cancelling the paused turn…");
    ui.emit({ event: "session.cancelled", turnId: "t-2" });
    await waitFor(() => expect(ui.controller.paused).toBe(false));
    expect(ui.frame().split("\n")[0]).not.toContain("Paused");
    expect(ui.onExit).not.toHaveBeenCalled();
  });

  it("/resume resumes, and says so when nothing is paused", async () => {
    const ui = mount();
    await ui.press("/", "resume", KEYS.enter);
    await waitFor(() => expect(ui.frame()).toContain("No turn is paused"));
    doTurn(ui);
    paused(ui);
    await waitFor(() => expect(ui.controller.paused).toBe(true));
    await ui.press("/", "resume", KEYS.enter);
    await waitFor(() => expect(ui.calls.resumed).toHaveLength(1));
  });
});

describe("rewind and fork", () => {
  it("/rewind N scope calls the daemon and shows what the rewind did", async () => {
    const ui = mount();
    await ui.press("/", "rewind 2 files", KEYS.enter);
    await waitFor(() =>
      expect(ui.calls.rewound).toEqual([{ sessionId: "s-test1", request: { toTurn: 2, scope: "files" } }]),
    );
    ui.emit({
      event: "session.rewound",
      toTurnId: "t-2",
      scope: "files",
      fromSeq: 5,
      turnIds: [],
      files: [
        { path: "src/a.ts", action: "restored", sha256: "ab" },
        { path: "b.txt", action: "removed", sha256: null },
      ],
    });
    await waitFor(() =>
      expect(ui.frame()).toContain("⟲ rewound to t-2 (files): files: restored src/a.ts, removed b.txt"),
    );
    expect(ui.frame()).toContain("Rewound to turn 2 (files)");
  });

  it("/rewind explains a conflict and how to force it, and refuses a bad turn number", async () => {
    const ui = mount();
    ui.failRewind(
      new DaemonApiError(
        "REWIND_CONFLICT",
        "src/a.ts changed outside the agent since turn 1; rewinding would lose that edit",
        409,
      ),
    );
    await ui.press("/", "rewind 1", KEYS.enter);
    await waitFor(() => expect(ui.frame()).toContain("changed outside the agent"));
    expect(ui.frame()).toContain("/rewind 1 --force puts them back anyway");
    ui.failRewind(undefined);
    await ui.press("/", "rewind 1 --force", KEYS.enter);
    await waitFor(() => expect(ui.calls.rewound.at(-1)?.request).toEqual({ toTurn: 1, force: true }));
    await ui.press("/", "rewind zero", KEYS.enter);
    await waitFor(() => expect(ui.frame()).toContain("Use /rewind N [files|conversation|both] [--force]"));
    expect(ui.calls.rewound).toHaveLength(2);
  });

  it("/fork N follows the new session, and says how to get back to the old one", async () => {
    const ui = mount();
    await ui.press("/", "fork 1", KEYS.enter);
    await waitFor(() => expect(ui.calls.forked).toEqual([{ sessionId: "s-test1", request: { atTurn: 1 } }]));
    await waitFor(() => expect(ui.frame().split("\n")[0]).toContain("s-fork1"));
    expect(ui.frame()).toContain("Forked s-test1 into s-fork1; the original stays: opta tui --session s-test1");
    expect(ui.calls.subscribed.at(-1)).toBe("s-fork1");
  });
});
