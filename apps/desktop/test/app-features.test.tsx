// @vitest-environment happy-dom
import type { DaemonEvent, GlobalFrame, SessionEvent } from "@opta/protocol";
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { eventFactory } from "./events.js";
import { button, fakeClient, type Mounted, mountApp, sessionInfo, settle, setValue, setViewport } from "./harness.js";

let mounted: Mounted | undefined;
beforeEach(() => setViewport(1440));
afterEach(() => {
  mounted?.unmount();
  mounted = undefined;
  vi.useRealTimers();
  vi.restoreAllMocks();
  document.body.innerHTML = "";
});

async function mount(...args: Parameters<typeof mountApp>) {
  mounted = await mountApp(...args);
  return mounted;
}

const frame = (event: SessionEvent | DaemonEvent): GlobalFrame => ({ cursor: "c", ...event }) as GlobalFrame;
const railTexts = (container: HTMLElement) =>
  [...container.querySelectorAll(".rail-item")].map((item) => item.textContent ?? "");
const key = (target: EventTarget, init: KeyboardEventInit) =>
  act(async () => {
    target.dispatchEvent(new KeyboardEvent("keydown", { bubbles: true, cancelable: true, ...init }));
  });

function turnStart(e: ReturnType<typeof eventFactory>, turnId: string, text = "hi") {
  return e({ event: "turn.start", turnId, role: "user", text, mode: "chat", model: "m", permission: "safe" });
}
function permissionRequest(e: ReturnType<typeof eventFactory>, turnId: string, requestId: string) {
  return e({
    event: "permission.request",
    turnId,
    requestId,
    callId: `call-${requestId}`,
    name: "write_file",
    args: { path: "a.txt" },
    risk: "write",
  });
}

describe("session rail", () => {
  it("searches sessions by title and by id", async () => {
    const fake = fakeClient({
      sessions: [
        sessionInfo({ id: "abc-123", title: "refactor auth" }),
        sessionInfo({ id: "def-456", title: "fix the parser" }),
      ],
    });
    const { container, client } = await mount({ fake });
    expect(railTexts(container)).toHaveLength(2);
    const search = container.querySelector<HTMLInputElement>("#session-search")!;

    await setValue(search, "parser");
    await act(async () => new Promise((resolve) => setTimeout(resolve, 200)));
    await settle();
    expect(client.listSessions).toHaveBeenLastCalledWith({ q: "parser", limit: 500 });
    expect(railTexts(container)).toEqual([expect.stringContaining("fix the parser")]);

    await setValue(search, "ABC-1");
    await act(async () => new Promise((resolve) => setTimeout(resolve, 200)));
    await settle();
    expect(client.listSessions).toHaveBeenLastCalledWith({ q: "ABC-1", limit: 500 });
    expect(railTexts(container)).toEqual([expect.stringContaining("refactor auth")]);

    await setValue(search, "nothing like it");
    await act(async () => new Promise((resolve) => setTimeout(resolve, 200)));
    await settle();
    expect(railTexts(container)).toEqual([]);
    expect(container.querySelector(".rail-empty")?.textContent).toBe("No session matches.");
  });

  it("updates status and turn count from turn frames at once, and ignores frames it already has", async () => {
    const fake = fakeClient({ sessions: [sessionInfo({ status: "done", turnCount: 1, lastSeq: 10 })] });
    const { container, feeds } = await mount({ fake });
    expect(railTexts(container)[0]).toContain("Done · 1 turn ·");
    const feed = feeds[0]!;
    const start = {
      ...turnStart(eventFactory("s-1"), "t-2"),
      seq: 11,
    } as SessionEvent;
    await act(async () => feed.onFrame(frame(start)));
    expect(railTexts(container)[0]).toContain("Active · 2 turns");
    // The same frame again (a replay after a reconnect) changes nothing.
    await act(async () => feed.onFrame(frame(start)));
    expect(railTexts(container)[0]).toContain("Active · 2 turns");
    // A refresh that is older than what the rail has does not take it back.
    await act(async () => mounted!.controller.refreshSessions());
    expect(railTexts(container)[0]).toContain("Active · 2 turns");
    const error = {
      seq: 14,
      ts: new Date().toISOString(),
      sessionId: "s-1",
      event: "turn.error",
      turnId: "t-2",
      message: "gone",
      code: "TURN_INTERRUPTED",
      retryable: false,
    } as SessionEvent;
    await act(async () => feed.onFrame(frame(error)));
    expect(railTexts(container)[0]).toContain("Interrupted · 2 turns");
  });

  it("shows an approval that was waiting before the app opened, and clears it by permission.resolved alone", async () => {
    const e = eventFactory("s-2");
    const events = [
      e({ event: "session.start", title: "waits", cwd: "/w", mode: "do", model: "m" }),
      turnStart(e, "t-1"),
      permissionRequest(e, "t-1", "p-old"),
      e({ event: "permission.resolved", turnId: "t-1", requestId: "p-old", decision: "allow", by: "user" }),
      permissionRequest(e, "t-1", "p-1"),
    ];
    const fake = fakeClient({
      sessions: [
        sessionInfo({ id: "s-1", title: "open one" }),
        sessionInfo({ id: "s-2", title: "waits", status: "active", activeTurnId: "t-1", lastSeq: events.length }),
      ],
      events: { "s-2": events },
    });
    const { container, feeds, client } = await mount({ fake });
    expect(client.events).toHaveBeenCalledWith("s-2", expect.objectContaining({ afterSeq: 0 }));
    const badge = () => container.querySelectorAll(".rail-item")[1]?.querySelector(".attention")?.textContent;
    expect(badge()).toBe("1 approval");

    const resolved = {
      ...e({ event: "permission.resolved", turnId: "t-1", requestId: "p-1", decision: "deny", by: "cli" }),
    };
    await act(async () => feeds[0]!.onFrame(frame(resolved)));
    expect(badge()).toBeUndefined();
  });

  it("drops approval badges when the daemon stops, and asks again when the feed comes back", async () => {
    const e = eventFactory("s-1");
    const fake = fakeClient({ sessions: [sessionInfo({ status: "active", activeTurnId: "t-1", lastSeq: 0 })] });
    const { container, feeds, data } = await mount({ fake });
    const badge = () => container.querySelector(".attention")?.textContent;
    const start = turnStart(e, "t-1");
    const request = permissionRequest(e, "t-1", "p-1");
    await act(async () => feeds[0]!.onFrame(frame(request)));
    expect(badge()).toBe("1 approval");
    await act(async () =>
      feeds[0]!.onFrame(frame({ event: "daemon.stop", ts: new Date().toISOString(), reason: "x" })),
    );
    expect(badge()).toBeUndefined();

    // The daemon crashed with the approval waiting and came back: the turn is interrupted.
    await act(async () => feeds[0]!.onFrame(frame(request)));
    expect(badge()).toBe("1 approval");
    const interrupted = e({
      event: "turn.error",
      turnId: "t-1",
      message: "x",
      code: "TURN_INTERRUPTED",
      retryable: false,
    });
    data.events["s-1"] = [start, request, interrupted];
    data.sessions = [sessionInfo({ status: "interrupted", lastSeq: interrupted.seq })];
    await act(async () => feeds[0]!.onStatus?.("reconnecting"));
    await act(async () => feeds[0]!.onStatus?.("connected"));
    await settle();
    expect(badge()).toBeUndefined();
  });
});

describe("composer pills", () => {
  it("sends the chosen model and permission with the turn, and no permission for Daemon default", async () => {
    const fake = fakeClient({
      models: {
        models: [
          { id: "qwen", provider: "lmx", ref: "lmx/qwen", loaded: true },
          { id: "gpt", provider: "openai", ref: "openai/gpt" },
        ],
        providers: [],
      },
    });
    const { container, client } = await mount({ fake });
    const input = container.querySelector<HTMLTextAreaElement>("#composer-input")!;
    const permission = container.querySelector<HTMLSelectElement>("[data-testid=permission-pill]")!;
    expect(permission.value).toBe("");
    expect(permission.selectedOptions[0]?.textContent).toBe("Daemon default");

    await setValue(input, "first");
    await act(async () => button(container, /Send/).click());
    await settle();
    expect(client.submitTurn).toHaveBeenLastCalledWith("s-1", { text: "first", mode: "chat" });

    await setValue(container.querySelector<HTMLSelectElement>("[data-testid=model-pill]")!, "openai/gpt");
    await setValue(permission, "standard");
    await setValue(input, "second");
    await key(input, { key: "Enter", ctrlKey: true });
    await settle();
    expect(client.submitTurn).toHaveBeenLastCalledWith("s-1", {
      text: "second",
      mode: "chat",
      model: "openai/gpt",
      permission: "standard",
    });
  });

  it("starts the mode pill from the selected session's mode", async () => {
    const fake = fakeClient({
      sessions: [
        sessionInfo({ id: "s-do", mode: "do" }),
        sessionInfo({ id: "s-chat", title: "chat one", mode: "chat" }),
      ],
    });
    const { container, controller } = await mount({ fake });
    const pill = () => container.querySelector("[data-testid=mode-pill]")!;
    expect(pill().textContent).toBe("Do mode");
    await act(async () => controller.selectSession("s-chat"));
    expect(pill().textContent).toBe("Chat mode");
    await act(async () => controller.selectSession("s-do"));
    expect(pill().textContent).toBe("Do mode");
  });
});

describe("approvals", () => {
  it("takes focus, answers with its keys once armed, and leaves on permission.resolved alone", async () => {
    const { container, streams, flushFrames, client } = await mount();
    const e = eventFactory("s-1");
    streams[0]!.onEvent(turnStart(e, "t-1"));
    streams[0]!.onEvent(permissionRequest(e, "t-1", "p-1"));
    flushFrames();
    const card = container.querySelector<HTMLElement>("[data-testid=approval]")!;
    expect(document.activeElement).toBe(card);
    expect(button(card, "Allow").textContent).toContain("Y");
    expect(button(card, "Deny").getAttribute("aria-keyshortcuts")).toBe("N");

    // A key already on its way when the card appeared does not answer it.
    await key(card, { key: "n" });
    expect(client.resolvePermission).not.toHaveBeenCalled();
    const later = Date.now() + 1_000;
    vi.spyOn(Date, "now").mockReturnValue(later);
    await key(card, { key: "n" });
    expect(client.resolvePermission).toHaveBeenCalledWith("s-1", "p-1", "deny");

    // No turn.done, no tool.result: the resolution alone clears the card.
    streams[0]!.onEvent(
      e({ event: "permission.resolved", turnId: "t-1", requestId: "p-1", decision: "deny", by: "cli" }),
    );
    flushFrames();
    expect(container.querySelector("[data-testid=approval]")).toBeNull();
    expect(container.querySelector("[data-testid=streaming]")).not.toBeNull();
    // Focus went back to the composer.
    expect(document.activeElement?.id).toBe("composer-input");
  });

  it("does not take focus from a draft being written", async () => {
    const { container, streams, flushFrames } = await mount();
    const input = container.querySelector<HTMLTextAreaElement>("#composer-input")!;
    input.focus();
    await setValue(input, "next question");
    const e = eventFactory("s-1");
    streams[0]!.onEvent(turnStart(e, "t-1"));
    streams[0]!.onEvent(permissionRequest(e, "t-1", "p-1"));
    flushFrames();
    expect(container.querySelector("[data-testid=approval]")).not.toBeNull();
    expect(document.activeElement).toBe(input);
  });
});

describe("screen readers", () => {
  it("announces a turn's start and end once, not every streamed frame", async () => {
    const { container, streams, flushFrames } = await mount();
    const announcer = container.querySelector("[data-testid=turn-announcer]")!;
    expect(announcer.getAttribute("role")).toBe("status");
    const e = eventFactory("s-1");
    const stream = streams[0]!;
    stream.onEvent(turnStart(e, "t-1"));
    flushFrames();
    expect(announcer.textContent).toBe("The assistant is answering…");
    const mutations: MutationRecord[] = [];
    const observer = new MutationObserver((records) => mutations.push(...records));
    observer.observe(announcer, { childList: true, subtree: true, characterData: true });
    for (let index = 0; index < 20; index++) {
      stream.onEvent(e({ event: "turn.token", turnId: "t-1", delta: `w${index} `, model: "m" }));
      flushFrames();
    }
    await settle(1);
    expect(mutations).toHaveLength(0);
    const streaming = container.querySelector("[data-testid=streaming]")!;
    expect(streaming.getAttribute("role")).toBeNull();
    expect(streaming.closest("[aria-live]:not([aria-live=off])")).toBeNull();
    stream.onEvent(
      e({
        event: "turn.done",
        turnId: "t-1",
        tokens: 20,
        thinkingTokens: 0,
        elapsed: 1,
        tokensPerSec: 20,
        toolCalls: 0,
        steps: 1,
        stopReason: "stop",
      }),
    );
    flushFrames();
    await settle(1);
    observer.disconnect();
    expect(announcer.textContent).toBe("The answer is complete.");
  });
});

describe("side panel", () => {
  it("has tabs that control their panel and move with the arrow keys", async () => {
    const { container } = await mount();
    const tabs = [...container.querySelectorAll<HTMLButtonElement>("[role=tab]")];
    expect(tabs.map((tab) => tab.textContent)).toEqual(["Telemetry", "Daemon"]);
    const panelOf = (tab: HTMLElement) => document.getElementById(tab.getAttribute("aria-controls") ?? "");
    expect(panelOf(tabs[0]!)?.getAttribute("role")).toBe("tabpanel");
    expect(tabs[0]!.tabIndex).toBe(0);
    expect(tabs[1]!.tabIndex).toBe(-1);
    tabs[0]!.focus();
    await key(tabs[0]!, { key: "ArrowRight" });
    const daemonTab = container.querySelector<HTMLButtonElement>("[data-testid=daemon-tab]")!;
    expect(daemonTab.getAttribute("aria-selected")).toBe("true");
    expect(document.activeElement).toBe(daemonTab);
    expect(panelOf(daemonTab)?.textContent).toContain("Restart");
    await key(daemonTab, { key: "ArrowLeft" });
    expect(container.querySelector("[data-testid=telemetry-tab]")?.getAttribute("aria-selected")).toBe("true");
  });

  it("is a drawer on a narrow window that Alt+D and Alt+T open and Esc closes", async () => {
    setViewport(1000);
    const { container } = await mount();
    const side = container.querySelector<HTMLElement>("[data-testid=side-panel]")!;
    expect(side.classList.contains("drawer")).toBe(true);
    expect(side.classList.contains("open")).toBe(false);
    expect(side.hasAttribute("inert")).toBe(true);
    await key(window, { key: "∂", code: "KeyD", altKey: true });
    expect(side.classList.contains("open")).toBe(true);
    expect(side.hasAttribute("inert")).toBe(false);
    expect(document.activeElement).toBe(container.querySelector("[data-testid=daemon-tab]"));
    await key(document.activeElement!, { key: "Escape", code: "Escape" });
    expect(side.classList.contains("open")).toBe(false);
    await key(window, { key: "†", code: "KeyT", altKey: true });
    expect(side.classList.contains("open")).toBe(true);
    expect(container.querySelector("[data-testid=telemetry-tab]")?.getAttribute("aria-selected")).toBe("true");
    await act(async () => container.querySelector<HTMLButtonElement>("[aria-label='Close panels']")!.click());
    expect(side.classList.contains("open")).toBe(false);
  });

  it("shows model memory where the provider reports it", async () => {
    const fake = fakeClient({
      models: {
        models: [
          { id: "qwen", provider: "lmx", ref: "lmx/qwen", loaded: true, memoryBytes: 8 * 1024 ** 3 },
          { id: "llama", provider: "other", ref: "other/llama", loaded: true },
          { id: "gpt", provider: "openai", ref: "openai/gpt" },
        ],
        providers: [],
      },
    });
    const { container } = await mount({ fake });
    const memory = container.querySelector("[data-testid=model-memory]")!;
    expect(memory.textContent).toContain("qwen8.0 GB");
    expect(memory.textContent).toContain("llamanot reported by this provider");
    expect(memory.textContent).not.toContain("gpt");
  });
});
