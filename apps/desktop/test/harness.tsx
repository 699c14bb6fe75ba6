import type { DaemonClient, SubscribeAllOptions, SubscribeLogsOptions, SubscribeOptions } from "@opta/daemon-client";
import type { SessionEvent, SessionInfo } from "@opta/protocol";
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { vi } from "vitest";
import type { Credential, Shell } from "../src/shell/shell.js";
import { AppController, type ControllerOptions } from "../src/state/app-controller.js";
import { ControllerContext } from "../src/state/hooks.js";
import { App } from "../src/views/app.js";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

export function sessionInfo(patch: Partial<SessionInfo> = {}): SessionInfo {
  const now = new Date().toISOString();
  return {
    id: "s-1",
    title: "refactor auth",
    cwd: "/work",
    mode: "chat",
    model: "m",
    status: "done",
    turnCount: 1,
    createdAt: now,
    updatedAt: now,
    lastSeq: 0,
    ...patch,
  };
}

/**
 * A DaemonClient stand-in: records calls and hands the test the stream callbacks. `sessions` is
 * what the daemon lists (searched by title or id like the daemon does); `events` what it stores.
 */
export function fakeClient(
  options: { sessions?: SessionInfo[]; events?: Record<string, SessionEvent[]>; models?: unknown } = {},
) {
  const streams: SubscribeOptions[] = [];
  const feeds: SubscribeAllOptions[] = [];
  /** Log streams opened, with their close spies. */
  const logStreams: Array<{ options: SubscribeLogsOptions; close: ReturnType<typeof vi.fn> }> = [];
  const data = {
    sessions: options.sessions ?? [sessionInfo({ status: "active" })],
    events: options.events ?? {},
  };
  const client = {
    subscribe: vi.fn((_id: string, subscribeOptions: SubscribeOptions) => {
      streams.push(subscribeOptions);
      return { close: vi.fn(), lastSeq: 0, status: "connected" };
    }),
    subscribeAll: vi.fn((subscribeOptions: SubscribeAllOptions) => {
      feeds.push(subscribeOptions);
      return { close: vi.fn(), cursor: undefined, status: "connected" };
    }),
    subscribeLogs: vi.fn((subscribeOptions: SubscribeLogsOptions) => {
      const close = vi.fn();
      logStreams.push({ options: subscribeOptions, close });
      return { close, status: "connected" };
    }),
    listSessions: vi.fn(async (query: { q?: string; limit?: number } = {}) => {
      const q = query.q?.toLowerCase();
      const sessions = q
        ? data.sessions.filter((item) => item.id.toLowerCase().includes(q) || item.title.toLowerCase().includes(q))
        : data.sessions;
      return { sessions: sessions.map((item) => ({ ...item })) };
    }),
    events: vi.fn(async (sessionId: string, query: { afterSeq?: number; limit?: number } = {}) => {
      const all = data.events[sessionId] ?? [];
      const after = all.filter((event) => event.seq > (query.afterSeq ?? 0));
      const events = query.limit ? after.slice(0, query.limit) : after;
      return { events, lastSeq: all.at(-1)?.seq ?? 0 };
    }),
    models: vi.fn(async () => options.models ?? { models: [], providers: [] }),
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
    submitTurn: vi.fn(async (sessionId: string) => ({ sessionId, turnId: "t-new", seq: 1 })),
    createSession: vi.fn(async () => sessionInfo({ id: "s-new", title: "", turnCount: 0, status: "idle" })),
    rewindSession: vi.fn(async (sessionId: string, request: { toTurn: string | number }) => ({
      sessionId,
      toTurnId: String(request.toTurn),
      scope: "both" as const,
      turnIds: [String(request.toTurn)],
      files: [],
      seq: 1,
    })),
    forkSession: vi.fn(async () => sessionInfo({ id: "s-fork", title: "refactor auth (fork)", turnCount: 1 })),
    stopTurn: vi.fn(async (): Promise<{ stopped: boolean; turnId?: string }> => ({ stopped: true })),
    pauseTurn: vi.fn(async (): Promise<{ paused: boolean; turnId?: string }> => ({ paused: true })),
    resumeTurn: vi.fn(async (sessionId: string, _request?: { interactive?: boolean }) => ({
      sessionId,
      turnId: "t-1",
      seq: 1,
      remainingSteps: 1,
    })),
    stopDaemon: vi.fn(async () => ({ ok: true as const, action: "stop" as const })),
    restartDaemon: vi.fn(async () => ({ ok: true as const, action: "restart" as const, token: "rotated" })),
    logs: vi.fn(
      async (): Promise<{ lines: Array<{ ts: string; level: string; scope: string; message: string }> }> => ({
        lines: [],
      }),
    ),
  };
  return { client, streams, feeds, logStreams, data };
}

export type FakeClient = ReturnType<typeof fakeClient>;

/** A shell that keeps the token in memory; `emit` plays a credential arriving from outside. */
export function memoryShell(token: string | undefined, options: { code?: string; grantKey?: string } = {}) {
  let stored = token;
  let grantKey = options.grantKey;
  let code = options.code;
  const listeners = new Set<(credential: Credential) => void>();
  const shell: Shell & { emit: (credential: Credential) => void } = {
    platform: "other",
    daemonBaseUrl: () => "http://127.0.0.1:9999",
    readToken: () => stored,
    writeToken: (value) => {
      stored = value;
    },
    clearToken: () => {
      stored = undefined;
    },
    readGrantKey: () => grantKey,
    writeGrantKey: (value) => {
      grantKey = value;
    },
    clearGrantKey: () => {
      grantKey = undefined;
    },
    copyText: vi.fn(async () => true),
    takeSignInCode: () => {
      const taken = code;
      code = undefined;
      return taken;
    },
    onCredential: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit: (credential) => {
      for (const listener of listeners) listener(credential);
    },
    download: vi.fn(),
    setTitle: () => {},
  };
  return shell;
}

export interface Mounted extends FakeClient {
  controller: AppController;
  container: HTMLElement;
  shell: ReturnType<typeof memoryShell>;
  /** Runs the queued animation frames (the store's batched flushes). */
  flushFrames: () => void;
  unmount: () => void;
}

/** Renders the whole app against a fake client. */
export async function mountApp(
  options: {
    token?: string;
    code?: string;
    fake?: FakeClient;
    controller?: Partial<ControllerOptions>;
    virtualize?: boolean;
  } = {},
): Promise<Mounted> {
  const fake = options.fake ?? fakeClient();
  const frames: Array<() => void> = [];
  const shell = memoryShell("token" in options ? options.token : "token-1", {
    ...(options.code ? { code: options.code } : {}),
  });
  const controller = new AppController({
    shell,
    createClient: () => fake.client as unknown as DaemonClient,
    scheduler: { request: (callback) => frames.push(callback) },
    heartbeatMs: 60_000,
    ...options.controller,
  });
  const container = document.createElement("div");
  document.body.append(container);
  const root: Root = createRoot(container);
  await act(async () => {
    controller.start();
    root.render(
      <ControllerContext.Provider value={controller}>
        <App virtualize={options.virtualize ?? false} />
      </ControllerContext.Provider>,
    );
  });
  await settle();
  const flushFrames = () =>
    act(() => {
      while (frames.length) frames.shift()!();
    });
  const unmount = () => {
    act(() => root.unmount());
    controller.dispose();
    container.remove();
  };
  return { ...fake, controller, container, shell, flushFrames, unmount };
}

/** Lets pending promises (fake API calls) and the React updates they cause finish. */
export async function settle(rounds = 5): Promise<void> {
  for (let index = 0; index < rounds; index++) {
    await act(async () => {
      await Promise.resolve();
    });
  }
}

/** Sets a controlled input's or select's value the way React notices. */
export async function setValue(element: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement, value: string) {
  await act(async () => {
    const prototype = Object.getPrototypeOf(element) as object;
    const setter = Object.getOwnPropertyDescriptor(prototype, "value")!.set!;
    setter.call(element, value);
    element.dispatchEvent(new Event(element instanceof HTMLSelectElement ? "change" : "input", { bubbles: true }));
  });
}

export function button(container: ParentNode, text: string | RegExp): HTMLButtonElement {
  const found = [...container.querySelectorAll("button")].find((item) =>
    typeof text === "string"
      ? item.textContent?.trim() === text || item.getAttribute("aria-label") === text
      : text.test(item.textContent ?? ""),
  );
  if (!found) throw new Error(`no button ${String(text)}`);
  return found;
}

/** Width of the (happy-dom) window; the side panel is a drawer at 1100 px and below. */
export function setViewport(width: number, height = 900): void {
  (
    window as unknown as { happyDOM: { setViewport(viewport: { width: number; height: number }): void } }
  ).happyDOM.setViewport({
    width,
    height,
  });
}
