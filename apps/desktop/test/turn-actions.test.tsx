// @vitest-environment happy-dom
import { DaemonApiError } from "@opta/daemon-client";
import type { SessionEvent } from "@opta/protocol";
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { eventFactory } from "./events.js";
import { button, type Mounted, mountApp, settle, setViewport } from "./harness.js";

let mounted: Mounted | undefined;
beforeEach(() => setViewport(1440));
afterEach(() => {
  mounted?.unmount();
  mounted = undefined;
  vi.restoreAllMocks();
  document.body.innerHTML = "";
});

/** A session with two finished turns, streamed in. */
async function twoTurns() {
  mounted = await mountApp();
  const e = eventFactory("s-1");
  const turn = (turnId: string, text: string): SessionEvent[] => [
    e({ event: "turn.start", turnId, role: "user", text, mode: "do", model: "m", permission: "safe" }),
    e({
      event: "turn.done",
      turnId,
      tokens: 1,
      thinkingTokens: 0,
      elapsed: 0.1,
      tokensPerSec: 10,
      toolCalls: 0,
      steps: 1,
      stopReason: "stop",
    }),
  ];
  for (const event of [...turn("t-1", "first"), ...turn("t-2", "second")]) mounted.streams[0]!.onEvent(event);
  mounted.flushFrames();
  return { ...mounted, e };
}
/** window.confirm, answering `yes` (happy-dom has none of its own). */
function answer(yes: boolean) {
  const confirm = vi.fn((_message?: string) => yes);
  window.confirm = confirm;
  return confirm;
}
const turnRow = (container: HTMLElement, turnId: string) =>
  container.querySelector<HTMLElement>(`[data-turn-id="${turnId}"]`);

describe("rewind and fork on a turn", () => {
  it("Rewind to here asks, rewinds to before that turn, and the rewound turns leave the timeline", async () => {
    const { container, client, streams, flushFrames, e } = await twoTurns();
    const confirm = answer(true);
    await act(async () => button(turnRow(container, "t-2")!, "Rewind to here").click());
    await settle();
    expect(confirm).toHaveBeenCalledWith(expect.stringContaining("Rewind to before this turn?"));
    expect(client.rewindSession).toHaveBeenCalledWith("s-1", { toTurn: "t-2", scope: "both" });
    streams[0]!.onEvent(
      e({ event: "session.rewound", toTurnId: "t-2", scope: "both", fromSeq: 3, turnIds: ["t-2"], files: [] }),
    );
    flushFrames();
    expect(turnRow(container, "t-1")).not.toBeNull();
    expect(turnRow(container, "t-2")).toBeNull();
  });

  it("does nothing when the question is declined", async () => {
    const { container, client } = await twoTurns();
    answer(false);
    await act(async () => button(turnRow(container, "t-1")!, "Rewind to here").click());
    await settle();
    expect(client.rewindSession).not.toHaveBeenCalled();
  });

  it("a refusal over files edited outside the agent is shown and forced only when the user agrees", async () => {
    const { container, client } = await twoTurns();
    client.rewindSession.mockRejectedValueOnce(
      new DaemonApiError("REWIND_CONFLICT", "Not rewound: 1 file cannot be put back: /work/a.txt", 409),
    );
    const confirm = answer(true);
    await act(async () => button(turnRow(container, "t-1")!, "Rewind to here").click());
    await settle();
    expect(confirm).toHaveBeenLastCalledWith(expect.stringContaining("/work/a.txt"));
    expect(client.rewindSession).toHaveBeenLastCalledWith("s-1", { toTurn: "t-1", scope: "both", force: true });
  });

  it("Fork from here starts a new session at that turn and opens it", async () => {
    const { container, client, controller } = await twoTurns();
    await act(async () => button(turnRow(container, "t-1")!, "Fork from here").click());
    await settle();
    expect(client.forkSession).toHaveBeenCalledWith("s-1", { atTurn: "t-1" });
    expect(controller.getState().selectedId).toBe("s-fork");
    expect(container.textContent).toContain("refactor auth (fork)");
  });
});
