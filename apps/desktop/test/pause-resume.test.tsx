// @vitest-environment happy-dom
import type { GlobalFrame, Mode, SessionEvent } from "@opta/protocol";
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { eventFactory } from "./events.js";
import { button, fakeClient, type Mounted, mountApp, sessionInfo, settle, setViewport } from "./harness.js";

/** Pausing a Do turn from Code Desktop (⌘. / Alt+.), the "Paused" state, and Resume. */

let mounted: Mounted | undefined;
beforeEach(() => setViewport(1440));
afterEach(() => {
  mounted?.unmount();
  mounted = undefined;
  vi.restoreAllMocks();
  document.body.innerHTML = "";
});

const press = (init: KeyboardEventInit) =>
  act(async () => {
    window.dispatchEvent(new KeyboardEvent("keydown", { bubbles: true, cancelable: true, ...init }));
  });
const altPeriod = { key: "≥", code: "Period", altKey: true };
const cmdPeriod = { key: ".", code: "Period", metaKey: true };

/** A session whose turn t-1 runs now, in `mode`. */
async function runningTurn(mode: Mode) {
  mounted = await mountApp();
  const e = eventFactory("s-1");
  const { streams, flushFrames } = mounted;
  streams[0]!.onEvent(
    e({ event: "turn.start", turnId: "t-1", role: "user", text: "refactor it", mode, model: "m", permission: "safe" }),
  );
  streams[0]!.onEvent(e({ event: "turn.token", turnId: "t-1", delta: "Working", model: "m" }));
  flushFrames();
  return { ...mounted, e };
}

describe("pause and resume in Code Desktop", () => {
  it("Alt+. pauses a running Do turn; the session shows Paused, and Resume continues it", async () => {
    const { container, client, streams, flushFrames, e } = await runningTurn("do");
    await press(altPeriod);
    await settle();
    expect(client.pauseTurn).toHaveBeenCalledWith("s-1");
    expect(client.stopTurn).not.toHaveBeenCalled();

    streams[0]!.onEvent(
      e({
        event: "turn.paused",
        turnId: "t-1",
        steps: 1,
        maxSteps: 3,
        remainingSteps: 2,
        toolCalls: 1,
        interactive: true,
      }),
    );
    flushFrames();
    expect(container.querySelector('[data-testid="turn-paused"]')?.textContent).toContain(
      "Paused after 1 step · 2 left",
    );
    expect(container.querySelector('[data-testid="composer-paused"]')?.textContent).toContain("Paused");
    // Nothing new can be sent while it is paused; Resume and Cancel are offered.
    expect(button(container, /Send/).disabled).toBe(true);
    expect(button(container, "■ Cancel")).toBeTruthy();
    await act(async () => button(container, "▶ Resume").click());
    await settle();
    expect(client.resumeTurn).toHaveBeenCalledWith("s-1", { interactive: true });

    streams[0]!.onEvent(e({ event: "turn.resumed", turnId: "t-1", steps: 1, remainingSteps: 2 }));
    flushFrames();
    expect(container.querySelector('[data-testid="turn-paused"]')).toBeNull();
    expect(container.querySelector('[data-testid="composer-paused"]')).toBeNull();
    expect(() => button(container, "▶ Resume")).toThrow();
    expect(container.querySelector('[data-testid="streaming"]')).not.toBeNull();
  });

  it("⌘. again while the pause is under way cancels; ⌘. on a paused turn cancels it", async () => {
    const { client, streams, flushFrames, e } = await runningTurn("do");
    // The pause answers only once the turn reaches a step boundary: it is still in flight here.
    let finishPause: (value: { paused: boolean }) => void = () => {};
    client.pauseTurn.mockImplementationOnce(
      () =>
        new Promise((resolve) => {
          finishPause = resolve;
        }),
    );
    await press(cmdPeriod);
    await settle();
    expect(client.pauseTurn).toHaveBeenCalledTimes(1);
    await press(cmdPeriod);
    await settle();
    expect(client.stopTurn).toHaveBeenCalledWith("s-1");
    expect(client.pauseTurn).toHaveBeenCalledTimes(1);
    finishPause({ paused: true });
    await settle();

    streams[0]!.onEvent(
      e({
        event: "turn.paused",
        turnId: "t-1",
        steps: 0,
        maxSteps: 3,
        remainingSteps: 3,
        toolCalls: 0,
        interactive: true,
      }),
    );
    flushFrames();
    await press(cmdPeriod);
    await settle();
    expect(client.stopTurn).toHaveBeenCalledTimes(2);
    expect(client.pauseTurn).toHaveBeenCalledTimes(1);
  });

  it("a Chat turn cancels on the first ⌘. (only Do turns pause)", async () => {
    const { client } = await runningTurn("chat");
    await press(cmdPeriod);
    await settle();
    expect(client.stopTurn).toHaveBeenCalledWith("s-1");
    expect(client.pauseTurn).not.toHaveBeenCalled();
  });

  it("the rail says Paused from the daemon-wide feed, and Active again once resumed", async () => {
    const fake = fakeClient({
      sessions: [sessionInfo({ status: "active", turnCount: 1, lastSeq: 10, activeTurnId: "t-1" })],
    });
    mounted = await mountApp({ fake });
    const rail = () => mounted!.container.querySelector(".rail-item")?.textContent ?? "";
    const frame = (event: SessionEvent) => ({ cursor: "c", ...event }) as GlobalFrame;
    const e = eventFactory("s-1");
    await act(async () =>
      mounted!.feeds[0]!.onFrame(
        frame({
          ...e({
            event: "turn.paused",
            turnId: "t-1",
            steps: 2,
            maxSteps: 5,
            remainingSteps: 3,
            toolCalls: 2,
            interactive: true,
          }),
          seq: 11,
        }),
      ),
    );
    expect(rail()).toContain("Paused · 1 turn");
    await act(async () =>
      mounted!.feeds[0]!.onFrame(
        frame({ ...e({ event: "turn.resumed", turnId: "t-1", steps: 2, remainingSteps: 3 }), seq: 12 }),
      ),
    );
    expect(rail()).toContain("Active · 1 turn");
  });
});
