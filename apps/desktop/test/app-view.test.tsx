// @vitest-environment happy-dom
import {
  DaemonApiError,
  type DaemonClient,
  type SubscribeAllOptions,
  type SubscribeOptions,
} from "@opta/daemon-client";
import type { SessionInfo } from "@opta/protocol";
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Shell } from "../src/shell/shell.js";
import { AppController } from "../src/state/app-controller.js";
import { ControllerContext } from "../src/state/hooks.js";
import { App } from "../src/views/app.js";
import { eventFactory } from "./events.js";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const SESSION: SessionInfo = {
  id: "s-1",
  title: "refactor auth",
  cwd: "/work",
  mode: "chat",
  model: "m",
  status: "active",
  turnCount: 1,
  createdAt: new Date().toISOString(),
  updatedAt: new Date().toISOString(),
  lastSeq: 0,
};

/** A DaemonClient stand-in: records calls, hands the test the stream callbacks. */
function fakeClient() {
  const streams: SubscribeOptions[] = [];
  const feeds: SubscribeAllOptions[] = [];
  const client = {
    subscribe: vi.fn((_id: string, options: SubscribeOptions) => {
      streams.push(options);
      return { close: vi.fn(), lastSeq: 0, status: "connected" };
    }),
    subscribeAll: vi.fn((options: SubscribeAllOptions) => {
      feeds.push(options);
      return { close: vi.fn(), cursor: undefined, status: "connected" };
    }),
    listSessions: vi.fn(async () => ({ sessions: [SESSION] })),
    models: vi.fn(async () => ({ models: [], providers: [] })),
    daemonStatus: vi.fn(async () => ({
      pid: 1,
      port: 9999,
      version: "0.1.0",
      startedAt: new Date().toISOString(),
      uptime: 5,
      sessions: { total: 1, active: 1 },
      providers: [],
      rss: 1e8,
    })),
    health: vi.fn(async (): Promise<{ ok: true; version: string }> => ({ ok: true, version: "0.1.0" })),
    resolvePermission: vi.fn(async () => ({ ok: true as const })),
    logs: vi.fn(async () => ({ lines: [] })),
  };
  return { client, streams, feeds };
}

function memoryShell(token: string | undefined): Shell {
  let stored = token;
  return {
    platform: "other",
    daemonBaseUrl: () => "http://127.0.0.1:9999",
    readToken: () => stored,
    writeToken: (value) => {
      stored = value;
    },
    clearToken: () => {
      stored = undefined;
    },
    onTokenChange: () => () => {},
    download: vi.fn(),
    setTitle: () => {},
  };
}

let root: Root | undefined;
let controller: AppController | undefined;
afterEach(() => {
  act(() => root?.unmount());
  controller?.dispose();
  document.body.innerHTML = "";
});

async function mount(token: string | undefined) {
  const fake = fakeClient();
  const frames: Array<() => void> = [];
  controller = new AppController({
    shell: memoryShell(token),
    createClient: () => fake.client as unknown as DaemonClient,
    scheduler: { request: (callback) => frames.push(callback) },
    heartbeatMs: 60_000,
  });
  const container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
  await act(async () => {
    controller!.start();
    root!.render(
      <ControllerContext.Provider value={controller!}>
        <App virtualize={false} />
      </ControllerContext.Provider>,
    );
  });
  const flushFrames = () =>
    act(() => {
      while (frames.length) frames.shift()!();
    });
  return { ...fake, container, flushFrames };
}

describe("App", () => {
  it("lists sessions, streams the selected one and resolves an approval from its card", async () => {
    const { container, streams, client, flushFrames } = await mount("token-1");
    expect(container.querySelector(".rail-title")?.textContent).toBe("refactor auth");
    expect(client.subscribe).toHaveBeenCalledWith("s-1", expect.objectContaining({ afterSeq: 0 }));
    const stream = streams[0]!;
    const e = eventFactory("s-1");
    stream.onEvent(
      e({
        event: "turn.start",
        turnId: "t-1",
        role: "user",
        text: "write it",
        mode: "chat",
        model: "m",
        permission: "safe",
      }),
    );
    stream.onEvent(e({ event: "turn.token", turnId: "t-1", delta: "On ", model: "m" }));
    stream.onEvent(e({ event: "turn.token", turnId: "t-1", delta: "it.", model: "m" }));
    stream.onEvent(
      e({ event: "tool.call", turnId: "t-1", callId: "c-1", name: "write_file", args: { path: "a.txt" } }),
    );
    stream.onEvent(
      e({
        event: "permission.request",
        turnId: "t-1",
        requestId: "p-1",
        callId: "c-1",
        name: "write_file",
        args: { path: "a.txt" },
        risk: "write",
      }),
    );
    flushFrames();

    expect(container.querySelector(".user-text")?.textContent).toBe("write it");
    expect(container.querySelector(".markdown")?.textContent).toBe("On it.");
    const card = container.querySelector<HTMLElement>("[data-testid=tool-card]")!;
    expect(card.dataset.status).toBe("awaiting");
    expect(card.querySelector(".tool-header")?.getAttribute("aria-expanded")).toBe("false");
    const approval = container.querySelector("[data-testid=approval]")!;
    expect(approval.textContent).toContain("write_file");
    // Cancel is offered while the turn runs.
    expect([...container.querySelectorAll("button")].some((button) => button.textContent?.includes("Cancel"))).toBe(
      true,
    );

    const allow = [...approval.querySelectorAll("button")].find((button) => button.textContent === "Allow")!;
    await act(async () => allow.click());
    expect(client.resolvePermission).toHaveBeenCalledWith("s-1", "p-1", "allow");

    // Resolved (here, or by the CLI): the card goes everywhere.
    stream.onEvent(e({ event: "permission.resolved", turnId: "t-1", requestId: "p-1", decision: "allow", by: "user" }));
    stream.onEvent(
      e({
        event: "tool.result",
        turnId: "t-1",
        callId: "c-1",
        name: "write_file",
        ok: true,
        result: { bytes: 1 },
        elapsedMs: 12,
      }),
    );
    stream.onEvent(
      e({
        event: "turn.done",
        turnId: "t-1",
        tokens: 2,
        thinkingTokens: 0,
        elapsed: 0.4,
        tokensPerSec: 5,
        toolCalls: 1,
        steps: 2,
        stopReason: "stop",
      }),
    );
    flushFrames();
    expect(container.querySelector("[data-testid=approval]")).toBeNull();
    expect(card.dataset.status).toBe("ok");
    expect(container.querySelector("[data-testid=turn-stats]")?.textContent).toContain("2 tokens");

    // Tool cards expand to the full payload.
    await act(async () => card.querySelector<HTMLButtonElement>(".tool-header")!.click());
    expect(card.querySelector(".tool-body")?.textContent).toContain('"bytes": 1');
  });

  it("asks for a new token when the daemon refuses the old one, and reconnects with the new one", async () => {
    const { container, client, feeds } = await mount("old-token");
    client.health.mockRejectedValueOnce(new DaemonApiError("UNAUTHORIZED", "wrong token", 401));
    await act(async () => {
      feeds[0]!.onStatus?.("reconnecting");
      await Promise.resolve();
    });
    expect(container.querySelector("[data-testid=connection]")?.textContent).toBe("Disconnected");
    const prompt = container.querySelector("[data-testid=auth-prompt]");
    expect(prompt?.textContent).toContain("opta app");

    const input = prompt!.querySelector<HTMLInputElement>("#token-input")!;
    await act(async () => {
      const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!;
      setter.call(input, "new-token");
      input.dispatchEvent(new Event("input", { bubbles: true }));
    });
    await act(async () => prompt!.querySelector<HTMLFormElement>("form")!.requestSubmit());
    expect(container.querySelector("[data-testid=auth-prompt]")).toBeNull();
    expect(controller!.shell.readToken()).toBe("new-token");
    // Both streams were reopened at once with the new token, the session one resuming where it was.
    expect(client.subscribeAll).toHaveBeenCalledTimes(2);
    expect(client.subscribe).toHaveBeenCalledTimes(2);
  });

  it("shows a help overlay with every shortcut", async () => {
    const { container } = await mount("t");
    await act(async () => {
      window.dispatchEvent(new KeyboardEvent("keydown", { key: "?", code: "Slash", shiftKey: true }));
    });
    const overlay = container.querySelector("[data-testid=help-overlay]");
    expect(overlay?.textContent).toContain("Toggle Chat / Do");
    expect(overlay?.textContent).toContain("Open the daemon panel");
    await act(async () => {
      window.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", code: "Escape" }));
    });
    expect(container.querySelector("[data-testid=help-overlay]")).toBeNull();
  });
});
