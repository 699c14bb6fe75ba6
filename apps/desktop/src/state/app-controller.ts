import {
  DaemonApiError,
  DaemonClient,
  type DaemonClientOptions,
  DaemonConnectionError,
  type GlobalSubscription,
  type Subscription,
  type SubscriptionStatus,
} from "@opta/daemon-client";
import type {
  DaemonStatusResponse,
  GlobalFrame,
  LogLine,
  Mode,
  ModelsResponse,
  PermissionDecision,
  PermissionLevel,
  SessionInfo,
} from "@opta/protocol";
import type { Shell } from "../shell/shell.js";
import { type FrameScheduler, SessionStore } from "./session-store.js";

/** What the header shows. */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected";

/**
 * Whether the app can talk to the daemon: `missing` (no token yet), `rejected` (the daemon said 401,
 * e.g. it restarted and rotated its token), `ok`.
 */
export type AuthState = "ok" | "missing" | "rejected";

/** Daemon heartbeat: the last answer to `GET /v3/daemon`. */
export interface Heartbeat {
  status?: DaemonStatusResponse;
  /** Time (ms, this clock) of the last good answer. */
  lastOkAt?: number;
  latencyMs?: number;
  /** The last attempt failed. */
  failing: boolean;
  /** True once the daemon has been asked to stop from this app. */
  stopped?: boolean;
}

/** Application state outside any one session. Immutable: every change makes a new object. */
export interface AppState {
  auth: AuthState;
  /** Why auth is not ok, in words. */
  authMessage?: string;
  connection: ConnectionState;
  sessions: SessionInfo[];
  sessionsQuery: string;
  sessionsLoaded: boolean;
  selectedId?: string;
  /** The selected session's stream. */
  sessionConnection?: SubscriptionStatus;
  models?: ModelsResponse;
  heartbeat: Heartbeat;
  /** Pending approvals per session, from the daemon-wide feed (rail badges). */
  attention: Record<string, number>;
  /** Last problem worth telling the user (cleared by `dismissError`). */
  error?: string;
  /** A restart was requested; the new token has not arrived yet. */
  restarting: boolean;
}

export interface TurnOptions {
  mode: Mode;
  /** Model ref; undefined uses the session's. */
  model?: string;
  permission: PermissionLevel;
}

export interface ControllerOptions {
  shell: Shell;
  /** Client factory (tests inject fakes). */
  createClient?: (options: DaemonClientOptions) => DaemonClient;
  scheduler?: FrameScheduler;
  /** False disables per-frame batching (benchmark baseline). */
  batched?: boolean;
  heartbeatMs?: number;
}

/**
 * Owns the daemon client, both streams and the app state. Views read state through
 * `useSyncExternalStore` and call the methods; nothing in here knows about React.
 */
/** Events the app needs from the daemon-wide stream (the open session has its own full stream). */
const GLOBAL_EVENTS = [
  "session.created",
  "session.start",
  "turn.start",
  "turn.done",
  "turn.error",
  "session.cancelled",
  "permission.request",
  "permission.resolved",
  "daemon.start",
  "daemon.stop",
] as const;

export class AppController {
  #state: AppState;
  #listeners = new Set<() => void>();
  #client: DaemonClient;
  #global: GlobalSubscription | undefined;
  #session: Subscription | undefined;
  #store: SessionStore | undefined;
  #storeListeners = new Set<() => void>();
  #timers: Array<ReturnType<typeof setInterval>> = [];
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #stopTokenWatch: (() => void) | undefined;
  #started = false;
  #pending = new Map<string, Set<string>>();
  readonly shell: Shell;

  constructor(private readonly options: ControllerOptions) {
    this.shell = options.shell;
    this.#client = this.#newClient();
    this.#state = {
      auth: this.shell.readToken() ? "ok" : "missing",
      connection: "connecting",
      sessions: [],
      sessionsQuery: "",
      sessionsLoaded: false,
      heartbeat: { failing: false },
      attention: {},
      restarting: false,
    };
  }

  get client(): DaemonClient {
    return this.#client;
  }

  getState = (): AppState => this.#state;

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  /** The selected session's store (changes when the selection changes). */
  getSessionStore = (): SessionStore | undefined => this.#store;

  subscribeSessionStore = (listener: () => void): (() => void) => {
    this.#storeListeners.add(listener);
    return () => this.#storeListeners.delete(listener);
  };

  /** Connects: the global feed, the session list, models, the heartbeat. Idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#stopTokenWatch = this.shell.onTokenChange((token) => this.setToken(token));
    if (this.#state.auth === "missing") return;
    this.#connect();
  }

  /** Closes every stream and timer. */
  dispose(): void {
    this.#started = false;
    this.#stopTokenWatch?.();
    this.#global?.close();
    this.#session?.close();
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    clearTimeout(this.#refreshTimer);
  }

  /** A new token (pasted, or from a new `opta app` URL): store it and reconnect everything at once. */
  setToken(token: string): void {
    const trimmed = token.trim();
    if (!trimmed) return;
    if (this.shell.readToken() !== trimmed) this.shell.writeToken(trimmed);
    this.#client = this.#newClient();
    this.#set({ auth: "ok", authMessage: undefined, restarting: false, error: undefined });
    if (!this.#started) return;
    this.#connect();
  }

  #newClient(): DaemonClient {
    const options: DaemonClientOptions = {
      baseUrl: this.shell.daemonBaseUrl(),
      // A function, so every reconnect and every 401 retry reads the latest stored token.
      token: () => this.shell.readToken() ?? "",
      backoff: { initialDelayMs: 250, maxDelayMs: 5_000, disconnectedAfter: 4 },
      timeoutMs: 15_000,
    };
    return this.options.createClient ? this.options.createClient(options) : new DaemonClient(options);
  }

  /** (Re)opens the streams, resuming where they were, and reloads what the views show. */
  #connect(): void {
    const cursor = this.#global?.cursor;
    this.#global?.close();
    this.#global = this.#client.subscribeAll({
      ...(cursor ? { cursor } : {}),
      // The rail needs turn boundaries, approvals and daemon events, not every token of every session.
      events: GLOBAL_EVENTS,
      onFrame: (frame) => this.#onGlobalFrame(frame),
      onStatus: (status) => this.#onGlobalStatus(status),
    });
    if (this.#state.selectedId && this.#store) this.#openSessionStream(this.#state.selectedId, this.#store);
    void this.refreshSessions();
    void this.loadModels();
    void this.heartbeat();
    if (this.#timers.length === 0) {
      this.#timers.push(setInterval(() => void this.heartbeat(), this.options.heartbeatMs ?? 5_000));
    }
  }

  #onGlobalStatus(status: SubscriptionStatus): void {
    if (status === "closed") return;
    this.#set({ connection: status });
    if (status === "reconnecting" || status === "disconnected") void this.#probeAuth();
  }

  #onGlobalFrame(frame: GlobalFrame): void {
    // Every case below must be in GLOBAL_EVENTS, or the daemon never sends it.
    switch (frame.event) {
      case "session.created":
      case "turn.start":
      case "turn.done":
      case "turn.error":
      case "session.cancelled":
      case "session.start":
        this.#scheduleSessionsRefresh();
        break;
      case "permission.request":
      case "permission.resolved": {
        // A set of request ids, not a counter: a replayed frame must not count twice.
        const pending = this.#pending.get(frame.sessionId) ?? new Set<string>();
        if (frame.event === "permission.request") pending.add(frame.requestId);
        else pending.delete(frame.requestId);
        this.#pending.set(frame.sessionId, pending);
        const attention = { ...this.#state.attention };
        if (pending.size > 0) attention[frame.sessionId] = pending.size;
        else delete attention[frame.sessionId];
        this.#set({ attention });
        break;
      }
      case "daemon.start":
      case "daemon.stop":
        void this.heartbeat();
        break;
    }
  }

  /**
   * A stream dropped: ask the daemon why. A 401 means the token rotated (restart): say so and
   * wait for a new one rather than retry in silence.
   */
  async #probeAuth(): Promise<void> {
    try {
      await this.#client.health();
    } catch (error) {
      this.#noteFailure(error);
    }
  }

  #noteFailure(error: unknown): void {
    if (error instanceof DaemonApiError && error.status === 401) {
      this.#set({
        auth: "rejected",
        authMessage: this.#state.restarting
          ? "The daemon restarted and rotated its token."
          : "The daemon no longer accepts this app's token (it was restarted or its token rotated).",
      });
    }
  }

  #scheduleSessionsRefresh(): void {
    if (this.#refreshTimer) return;
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined;
      void this.refreshSessions();
    }, 300);
  }

  /** Reloads the session list (with the current search). */
  async refreshSessions(): Promise<void> {
    const q = this.#state.sessionsQuery.trim();
    try {
      const { sessions } = await this.#client.listSessions({ ...(q ? { q } : {}), limit: 500 });
      if (q !== this.#state.sessionsQuery.trim()) return; // a newer search is under way
      this.#set({ sessions, sessionsLoaded: true });
    } catch (error) {
      this.#report(error);
    }
  }

  /** Filters the rail by title or id (the daemon searches). */
  setSessionsQuery(query: string): void {
    this.#set({ sessionsQuery: query });
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined;
      void this.refreshSessions();
    }, 150);
  }

  async loadModels(): Promise<void> {
    try {
      this.#set({ models: await this.#client.models() });
    } catch (error) {
      this.#report(error, { quiet: true });
    }
  }

  /** One heartbeat: `GET /v3/daemon`, timed. */
  async heartbeat(): Promise<void> {
    if (this.#state.auth !== "ok") return;
    const started = performance.now();
    try {
      const status = await this.#client.daemonStatus();
      this.#set({
        heartbeat: {
          status,
          lastOkAt: Date.now(),
          latencyMs: Math.round(performance.now() - started),
          failing: false,
        },
      });
    } catch (error) {
      this.#set({ heartbeat: { ...this.#state.heartbeat, failing: true } });
      this.#noteFailure(error);
    }
  }

  /** Opens a session: replays its events from the start, then follows it live. */
  selectSession(sessionId: string | undefined): void {
    if (sessionId === this.#state.selectedId) return;
    this.#session?.close();
    this.#session = undefined;
    this.#store = sessionId
      ? new SessionStore(sessionId, this.options.scheduler, this.options.batched ?? true)
      : undefined;
    this.#set({ selectedId: sessionId, sessionConnection: undefined });
    if (sessionId && this.#store && this.#state.auth === "ok") this.#openSessionStream(sessionId, this.#store);
    for (const listener of this.#storeListeners) listener();
  }

  #openSessionStream(sessionId: string, store: SessionStore): void {
    this.#session?.close();
    this.#session = this.#client.subscribe(sessionId, {
      // Resume after what the store already has: a reconnect never delivers an event twice.
      afterSeq: store.lastSeq,
      onEvent: (event) => store.push(event),
      onStatus: (status) => {
        if (this.#store === store) this.#set({ sessionConnection: status });
      },
      onError: (error) => this.#report(error),
    });
  }

  /** Creates a session and opens it. */
  async createSession(title?: string): Promise<SessionInfo | undefined> {
    try {
      const session = await this.#client.createSession(title ? { title } : {});
      this.#set({ sessions: [session, ...this.#state.sessions.filter((item) => item.id !== session.id)] });
      this.selectSession(session.id);
      return session;
    } catch (error) {
      this.#report(error);
      return undefined;
    }
  }

  /** Submits a turn to the selected session. Resolves true when the daemon accepted it. */
  async submitTurn(text: string, options: TurnOptions): Promise<boolean> {
    let sessionId = this.#state.selectedId;
    if (!sessionId) {
      const session = await this.createSession();
      if (!session) return false;
      sessionId = session.id;
    }
    try {
      await this.#client.submitTurn(sessionId, {
        text,
        mode: options.mode,
        permission: options.permission,
        ...(options.model ? { model: options.model } : {}),
      });
      return true;
    } catch (error) {
      this.#report(error);
      return false;
    }
  }

  /** Cancels the selected session's running turn. */
  async cancelTurn(): Promise<void> {
    const sessionId = this.#state.selectedId;
    if (!sessionId) return;
    try {
      await this.#client.stopTurn(sessionId);
    } catch (error) {
      this.#report(error);
    }
  }

  /** Answers an approval. The card leaves when `permission.resolved` arrives (from any client). */
  async resolvePermission(sessionId: string, requestId: string, decision: PermissionDecision): Promise<void> {
    try {
      await this.#client.resolvePermission(sessionId, requestId, decision);
    } catch (error) {
      // Already answered elsewhere: the resolved event is on its way; nothing to tell the user.
      if (error instanceof DaemonApiError && error.code === "PERMISSION_REQUEST_NOT_FOUND") return;
      this.#report(error);
    }
  }

  /** Downloads the selected session as JSON or Markdown. */
  async exportSession(format: "json" | "md"): Promise<void> {
    const sessionId = this.#state.selectedId;
    if (!sessionId) return;
    try {
      if (format === "md") {
        const text = await this.#client.exportSession(sessionId, { format: "md" });
        this.shell.download(`${sessionId}.md`, text, "text/markdown");
      } else {
        const data = await this.#client.exportSession(sessionId, { format: "json" });
        this.shell.download(`${sessionId}.json`, `${JSON.stringify(data, null, 2)}\n`, "application/json");
      }
    } catch (error) {
      this.#report(error);
    }
  }

  /** Recent daemon log lines, oldest first. */
  async logs(limit = 500): Promise<LogLine[]> {
    try {
      return (await this.#client.logs({ level: "info", limit })).lines;
    } catch (error) {
      this.#report(error, { quiet: true });
      return [];
    }
  }

  /**
   * Restarts the daemon. It rotates its token and hands the new one back to us (we held the old one),
   * so the streams reconnect by themselves and resume from their last seq. A daemon that does not
   * return a token leaves the app waiting for one (a new `opta app` URL, another tab, or pasted), and
   * the app says so instead of failing quietly.
   */
  async restartDaemon(): Promise<void> {
    try {
      this.#set({ restarting: true });
      const result = await this.#client.restartDaemon();
      if (result.token) {
        this.setToken(result.token);
        return;
      }
      this.#set({
        auth: "rejected",
        authMessage: "The daemon restarted and rotated its token.",
      });
    } catch (error) {
      this.#set({ restarting: false });
      this.#report(error);
    }
  }

  /** Stops the daemon. */
  async stopDaemon(): Promise<void> {
    try {
      await this.#client.stopDaemon();
      this.#set({ heartbeat: { ...this.#state.heartbeat, stopped: true, failing: true } });
    } catch (error) {
      this.#report(error);
    }
  }

  dismissError(): void {
    this.#set({ error: undefined });
  }

  #report(error: unknown, options: { quiet?: boolean } = {}): void {
    if (error instanceof DaemonApiError && error.status === 401) {
      this.#noteFailure(error);
      return;
    }
    if (options.quiet) return;
    if (error instanceof DaemonApiError || error instanceof DaemonConnectionError) {
      this.#set({ error: error.message });
    } else if (error instanceof Error && error.name !== "AbortError") {
      this.#set({ error: error.message });
    }
  }

  #set(patch: Partial<AppState>): void {
    this.#state = { ...this.#state, ...patch };
    for (const listener of this.#listeners) listener();
  }
}
