// @vitest-environment happy-dom
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { applyEvents, emptySessionView, type SessionView } from "../src/state/session-view.js";
import { Timeline } from "../src/views/timeline.js";
import { eventFactory } from "./events.js";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

/** A session of `turns` finished turns, each with a few lines of answer. */
function tallSession(turns: number): SessionView {
  const e = eventFactory("s-tall");
  const events = [e({ event: "session.start", title: "tall", cwd: "/", mode: "chat", model: "m" })];
  for (let index = 1; index <= turns; index++) {
    const turnId = `t-${index}`;
    events.push(
      e({
        event: "turn.start",
        turnId,
        role: "user",
        text: `question ${index}`,
        mode: "chat",
        model: "m",
        permission: "safe",
      }),
      e({ event: "turn.token", turnId, delta: `Answer ${index}.\n\nSecond paragraph.`, model: "m" }),
      e({
        event: "turn.done",
        turnId,
        tokens: 5,
        thinkingTokens: 0,
        elapsed: 0.1,
        tokensPerSec: 50,
        toolCalls: 0,
        steps: 1,
        stopReason: "stop",
      }),
    );
  }
  return applyEvents(emptySessionView("s-tall"), events);
}

const VIEWPORT = 800;
let root: Root | undefined;
beforeEach(() => {
  // happy-dom does no layout: the scroller is 800 px tall and every row 150 px.
  vi.spyOn(HTMLElement.prototype, "getBoundingClientRect").mockImplementation(function (this: HTMLElement) {
    const height = this.classList.contains("timeline") ? VIEWPORT : this.classList.contains("timeline-row") ? 150 : 0;
    return { x: 0, y: 0, top: 0, left: 0, bottom: height, right: 900, width: 900, height, toJSON: () => ({}) };
  });
  vi.spyOn(HTMLElement.prototype, "offsetHeight", "get").mockImplementation(function (this: HTMLElement) {
    return this.classList.contains("timeline") ? VIEWPORT : this.classList.contains("timeline-row") ? 150 : 0;
  });
  vi.spyOn(HTMLElement.prototype, "offsetWidth", "get").mockReturnValue(900);
  vi.spyOn(HTMLElement.prototype, "clientHeight", "get").mockImplementation(function (this: Element) {
    return this.classList.contains("timeline") ? VIEWPORT : 0;
  });
  vi.spyOn(HTMLElement.prototype, "clientWidth", "get").mockReturnValue(900);
  vi.spyOn(Element.prototype, "scrollHeight", "get").mockImplementation(function (this: Element) {
    const inner = this.querySelector<HTMLElement>(".timeline-inner");
    return inner ? Number.parseInt(inner.style.height, 10) || 0 : 0;
  });
});
afterEach(() => {
  act(() => root?.unmount());
  root = undefined;
  vi.restoreAllMocks();
  document.body.innerHTML = "";
});

async function render(view: SessionView, virtualize: boolean) {
  const container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
  await act(async () => root!.render(<Timeline view={view} virtualize={virtualize} />));
  await act(async () => new Promise((resolve) => setTimeout(resolve, 50)));
  // The timeline scrolled itself to the end; a browser would fire the scroll event for it.
  await act(async () => {
    container.querySelector("[data-testid=timeline]")?.dispatchEvent(new Event("scroll"));
    await new Promise((resolve) => setTimeout(resolve, 50));
  });
  return container;
}

describe("virtualised timeline", () => {
  it("mounts only the turns near the viewport of a 2,000-turn session", async () => {
    const view = tallSession(2_000);
    const container = await render(view, true);
    const mounted = container.querySelectorAll("article.turn");
    // A screenful (800 / 150 ≈ 6 rows) plus overscan, nowhere near 2,000.
    expect(mounted.length).toBeGreaterThan(0);
    expect(mounted.length).toBeLessThan(20);
    // It opens at the end of the session.
    const shown = [...mounted].map((row) => row.getAttribute("aria-label"));
    expect(shown).toContain("Turn 2000");
    expect(shown).not.toContain("Turn 1");
    // The scroll height stands for every turn.
    const inner = container.querySelector<HTMLElement>(".timeline-inner")!;
    expect(Number.parseInt(inner.style.height, 10)).toBeGreaterThan(2_000 * 100);

    // Scrolled to the top: the first turns are mounted, the last ones are not.
    const scroller = container.querySelector<HTMLElement>("[data-testid=timeline]")!;
    await act(async () => {
      scroller.scrollTop = 0;
      scroller.dispatchEvent(new Event("scroll"));
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
    const afterScroll = [...container.querySelectorAll("article.turn")].map((row) => row.getAttribute("aria-label"));
    expect(afterScroll).toContain("Turn 1");
    expect(afterScroll).not.toContain("Turn 2000");
    expect(afterScroll.length).toBeLessThan(20);
  });

  it("mounts every turn with virtualisation off (the benchmark's baseline)", async () => {
    const container = await render(tallSession(60), false);
    expect(container.querySelectorAll("article.turn")).toHaveLength(60);
  });
});
