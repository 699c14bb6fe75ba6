import {
  DaemonApiError,
  DaemonClient,
  type DaemonClientOptions,
  DaemonConnectionError,
  type GlobalSubscription,
  type LogSubscription,
  type SubscribeLogsOptions,
  type Subscription,
  type SubscriptionStatus,
  signInWithCode,
  tradeClientGrant,
} from "@opta/daemon-client";
import type {
  DaemonStatusResponse,
  GlobalFrame,
  Mode,
  ModelsResponse,
  PermissionDecision,
  PermissionLevel,
  SessionEvent,
  SessionInfo,
} from "@opta/protocol";
import { TurnErrorCode } from "@opta/protocol";
import type { Credential, Shell } from "../shell/shell.js";
import { ComposerStore } from "./composer-memory.js";
import { type FrameScheduler, SessionStore } from "./session-store.js";

/** What the header shows. */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected";

/**
 * Whether the app can talk to the daemon: `missing` (no token yet), `signing-in` (trading a
 * single-use code from `opta app` for the token), `rejected` (the daemon said 401, e.g. it
 * restarted and rotated its token), `ok`.
 */
export type AuthState = "ok" | "missing" | "signing-in" | "rejected";

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
  /** Permission level for this turn; undefined sends none, so the daemon's config decides. */
  permission?: PermissionLevel;
}

export interface ControllerOptions {
  shell: Shell;
  /** Client factory (tests inject fakes). */
  createClient?: (options: DaemonClientOptions) => DaemonClient;
  scheduler?: FrameScheduler;
  /** False disables per-frame batching (benchmark baseline). */
  batched?: boolean;
  heartbeatMs?: number;
  /** Trades a sign-in code for the token (tests inject fakes); default `signInWithCode`. */
  exchangeCode?: (
    baseUrl: string,
    code: string,
    grantKey?: string,
  ) => Promise<string | { token: string; grantKey?: string }>;
  /** Trades the client grant for the current token (tests inject fakes); default `tradeClientGrant`. */
  tradeGrant?: (baseUrl: string, grantKey: string) => Promise<string>;
}

/** A session event (it has a seq) from the daemon-wide feed. */
type SessionFrame = Extract<GlobalFrame, { seq: number }>;

/** Events fetched per page when looking for a running turn's pending approvals. */
const APPROVAL_SCAN_PAGE = 500;
/** Pages at most (a turn blocked on an approval has few events after its request). */
const APPROVAL_SCAN_PAGES = 8;

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
  "turn.paused",
  "turn.resumed",
  "permission.request",
  "permission.resolved",
  "daemon.start",
  "daemon.stop",
  "session.renamed",
  "session.pinned",
  "session.deleted",
] as const;

export class AppController {
  #state: AppState;
  #listeners = new Set<() => void>();
  /** Sessions whose pause request is in flight: ⌘. then cancels instead of pausing again. */
  #pausing = new Set<string>();
  #client: DaemonClient;
  #global: GlobalSubscription | undefined;
  #session: Subscription | undefined;
  #store: SessionStore | undefined;
  #storeListeners = new Set<() => void>();
  #timers: Array<ReturnType<typeof setInterval>> = [];
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #modelsTimer: ReturnType<typeof setTimeout> | undefined;
  #stopTokenWatch: (() => void) | undefined;
  #started = false;
  /** Pending approvals per session: request id → turn id. */
  #pending = new Map<string, Map<string, string>>();
  /** An approvals resync in flight: frames that arrive meanwhile are replayed over its result. */
  #attentionSync: { frames: SessionFrame[] } | undefined;
  /** The sign-in code the page was opened with, until it is traded for the token. */
  #signInCode: string | undefined;
  /** The one grant trade in flight: every 401 and reconnect that needs a token waits on it. */
  #trading: Promise<string | undefined> | undefined;
  /** Grant trades made (tests and the e2e count them). */
  grantTrades = 0;
  /** Why the grant was refused, once it was: the prompt says so. */
  #grantRefused: string | undefined;
  /** The daemon-wide stream's resume point, kept while the streams are closed (auth rejected). */
  #cursor: string | undefined;
  /** The log viewer's stream, reopened with every (re)connect. */
  #logs: { options: SubscribeLogsOptions; subscription: LogSubscription | undefined } | undefined;
  /** The error banner shows an unreachable daemon: it clears itself once the daemon answers. */
  #errorIsConnection = false;
  /** This outage has been told (the banner): the beats that fail after it stay quiet. */
  #outageReported = false;
  readonly shell: Shell;
  /** Each session's composer overrides and draft (localStorage, per session id). */
  readonly composer = new ComposerStore();

  constructor(private readonly options: ControllerOptions) {
    this.shell = options.shell;
    this.#client = this.#newClient();
    this.#signInCode = this.shell.takeSignInCode();
    this.#state = {
      auth: this.#signInCode ? "signing-in" : this.shell.readToken() ? "ok" : "missing",
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
    this.#stopTokenWatch = this.shell.onCredential((credential) => this.#onCredential(credential));
    const code = this.#signInCode;
    this.#signInCode = undefined;
    if (code) {
      void this.signIn(code);
      return;
    }
    if (this.#state.auth === "missing") return;
    this.#connect();
  }

  #onCredential(credential: Credential): void {
    if (credential.kind === "token") this.setToken(credential.token);
    else void this.signIn(credential.code);
  }

  /**
   * Trades a single-use sign-in code (`#code=` from `opta app`) for the daemon's token, then
   * connects with it. A code that expired or was used already leaves the app on the token it had,
   * if any, or asks for a new `opta app` — it never fails in silence.
   */
  async signIn(code: string): Promise<void> {
    if (this.#state.auth !== "ok") this.#set({ auth: "signing-in", authMessage: undefined });
    const exchange =
      this.options.exchangeCode ??
      ((baseUrl: string, signInCode: string, grantKey?: string) =>
        signInWithCode(baseUrl, signInCode, grantKey ? { grantKey } : {}));
    let token: string;
    try {
      const held = this.shell.readGrantKey();
      const answer = await (held
        ? exchange(this.shell.daemonBaseUrl(), code, held)
        : exchange(this.shell.daemonBaseUrl(), code));
      token = typeof answer === "string" ? answer : answer.token;
      // From the daemon's own origin the sign-in comes with a client grant: keep its key.
      if (typeof answer !== "string" && answer.grantKey) this.shell.writeGrantKey(answer.grantKey);
      this.#grantRefused = undefined;
    } catch (error) {
      const why =
        error instanceof DaemonApiError
          ? error.message
          : error instanceof Error
            ? error.message
            : "The sign-in code could not be used.";
      if (this.#state.auth === "ok") {
        this.#set({ error: why });
        return;
      }
      const stored = this.shell.readToken();
      if (stored) {
        // Try the token this window already had; a 401 on it brings the re-auth prompt.
        this.#set({ auth: "ok", error: why });
        if (this.#started) this.#connect();
        return;
      }
      this.#set({ auth: "missing", authMessage: why });
      return;
    }
    this.setToken(token);
  }

  /** Closes every stream and timer. */
  dispose(): void {
    this.#started = false;
    this.#stopTokenWatch?.();
    this.#global?.close();
    this.#session?.close();
    this.#logs?.subscription?.close();
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#modelsTimer);
  }

  /** A new token (pasted, or from a new `opta app` URL): store it and reconnect everything at once. */
  setToken(token: string): void {
    const trimmed = token.trim();
    if (!trimmed) return;
    if (this.shell.readToken() !== trimmed) this.shell.writeToken(trimmed);
    this.#client = this.#newClient();
    this.#set({ auth: "ok", authMessage: undefined, restarting: false });
    if (!this.#started) return;
    this.#connect();
  }

  #newClient(): DaemonClient {
    const options: DaemonClientOptions = {
      baseUrl: this.shell.daemonBaseUrl(),
      // A function: the SDK calls it again on every reconnect and every 401, and it trades the
      // client grant for the daemon's current token then (restart, stop/start, crash).
      token: () => this.#currentToken(),
      backoff: { initialDelayMs: 250, maxDelayMs: 5_000, disconnectedAfter: 4 },
      timeoutMs: 15_000,
    };
    return this.options.createClient ? this.options.createClient(options) : new DaemonClient(options);
  }

  /**
   * The token for the next request or connection. With a client grant it asks the daemon for its
   * current one (one trade at a time: concurrent callers share it); a grant the daemon refuses is
   * forgotten, so a dead grant is never tried again. Without one, or while the daemon is down, the
   * stored token.
   */
  async #currentToken(): Promise<string> {
    const key = this.shell.readGrantKey();
    if (key) {
      this.#trading ??= this.#tradeGrant(key).finally(() => {
        this.#trading = undefined;
      });
      const token = await this.#trading;
      if (token) return token;
    }
    return this.shell.readToken() ?? "";
  }

  async #tradeGrant(key: string): Promise<string | undefined> {
    const trade =
      this.options.tradeGrant ?? ((baseUrl: string, grantKey: string) => tradeClientGrant(baseUrl, grantKey));
    this.grantTrades += 1;
    try {
      const token = await trade(this.shell.daemonBaseUrl(), key);
      // Other tabs of this origin pick it up from storage too.
      if (this.shell.readToken() !== token) this.shell.writeToken(token);
      return token;
    } catch (error) {
      if (error instanceof DaemonApiError && (error.status === 401 || error.status === 403)) {
        this.shell.clearGrantKey();
        this.#grantRefused = error.message;
      }
      // Unreachable (the daemon is down): the caller's attempt fails as it would anyway, and the
      // next reconnect (backing off up to 5 s) trades again.
      return undefined;
    }
  }

  /** (Re)opens the streams, resuming where they were, and reloads what the views show. */
  #connect(): void {
    const cursor = this.#global?.cursor ?? this.#cursor;
    this.#global?.close();
    this.#global = this.#client.subscribeAll({
      ...(cursor ? { cursor } : {}),
      // The rail needs turn boundaries, approvals and daemon events, not every token of every session.
      events: GLOBAL_EVENTS,
      onFrame: (frame) => this.#onGlobalFrame(frame),
      onStatus: (status) => this.#onGlobalStatus(status),
    });
    if (this.#state.selectedId && this.#store) this.#openSessionStream(this.#state.selectedId, this.#store);
    if (this.#logs) this.#openLogStream();
    void this.refreshSessions();
    void this.#syncAttention();
    void this.loadModels();
    void this.heartbeat();
    if (this.#timers.length === 0) {
      this.#timers.push(setInterval(() => void this.heartbeat(), this.options.heartbeatMs ?? 5_000));
    }
  }

  #onGlobalStatus(status: SubscriptionStatus): void {
    if (status === "closed") return;
    const previous = this.#state.connection;
    this.#set({ connection: status });
    if (status === "reconnecting" || status === "disconnected") void this.#probeAuth();
    // Back after a drop (a crash and a new daemon, a network blip): what waits for approval may
    // have changed while we were away; ask again rather than trust the badges.
    if (status === "connected") this.#clearConnectionError();
    if (status === "connected" && (previous === "reconnecting" || previous === "disconnected")) {
      void this.#syncAttention();
      this.#scheduleSessionsRefresh();
    }
  }

  #onGlobalFrame(frame: GlobalFrame): void {
    // Every case below must be in GLOBAL_EVENTS, or the daemon never sends it.
    switch (frame.event) {
      case "session.created":
      case "session.start":
        this.#scheduleSessionsRefresh();
        break;
      case "session.renamed":
      case "session.pinned":
        this.#applyToRail(frame);
        break;
      case "session.deleted":
        this.#forget(frame.sessionId);
        break;
      case "turn.start":
      case "turn.done":
      case "turn.error":
      case "session.cancelled":
      case "turn.paused":
      case "turn.resumed":
        // The rail changes at once; the refresh that follows brings the daemon's own figures.
        this.#applyToRail(frame);
        this.#applyToPending(frame);
        this.#scheduleSessionsRefresh();
        this.#scheduleModelsRefresh();
        break;
      case "permission.request":
      case "permission.resolved":
        this.#applyToPending(frame);
        break;
      case "daemon.start":
        void this.heartbeat();
        void this.#syncAttention();
        break;
      case "daemon.stop":
        // Stopping cancels every running turn: nothing waits for approval any more.
        this.#pending.clear();
        this.#publishAttention();
        // Stopped on purpose (from here, the CLI or another window): say so rather than "not answering".
        this.#set({ heartbeat: { ...this.#state.heartbeat, stopped: true } });
        void this.heartbeat();
        break;
    }
  }

  /** Folds a turn boundary into the rail's copy of the session, like the daemon's index does. */
  #applyToRail(frame: SessionFrame): void {
    const index = this.#state.sessions.findIndex((session) => session.id === frame.sessionId);
    const current = this.#state.sessions[index];
    // Seqs make this idempotent: a frame the listed figures already include changes nothing.
    if (!current || frame.seq <= current.lastSeq) return;
    const next = applyToSessionInfo(current, frame);
    const sessions = this.#state.sessions.slice();
    sessions[index] = next;
    sessions.sort(newestFirst);
    this.#set({ sessions });
  }

  #applyToPending(frame: SessionFrame): void {
    if (this.#attentionSync) this.#attentionSync.frames.push(frame);
    if (applyToPending(this.#pending, frame)) this.#publishAttention();
  }

  #publishAttention(): void {
    const attention: Record<string, number> = {};
    for (const [sessionId, requests] of this.#pending) if (requests.size > 0) attention[sessionId] = requests.size;
    this.#set({ attention });
  }

  /**
   * Rebuilds the approval badges from the daemon: for every session with a running turn, the
   * permission requests of that turn nobody has answered (read from the end of its events). Runs
   * when the app connects (so a badge is right for an approval that was waiting before the app
   * opened) and after the daemon restarted or came back (so no stale badge survives a crash).
   */
  async #syncAttention(): Promise<void> {
    const sync: { frames: SessionFrame[] } = { frames: [] };
    this.#attentionSync = sync;
    try {
      const client = this.#client;
      const { sessions } = await client.listSessions({ limit: 500 });
      const pending = new Map<string, Map<string, string>>();
      const covered = new Map<string, number>();
      for (const session of sessions) covered.set(session.id, session.lastSeq);
      await Promise.all(
        sessions
          .filter((session) => session.activeTurnId)
          .map(async (session) => {
            const found = await pendingApprovals(client, session);
            if (found.requests.size > 0) pending.set(session.id, found.requests);
            covered.set(session.id, found.lastSeq);
          }),
      );
      if (this.#attentionSync !== sync) return; // a newer sync replaced this one
      this.#attentionSync = undefined;
      this.#pending = pending;
      // Frames that arrived while we were asking, and that the answers do not include yet.
      for (const frame of sync.frames) {
        if (frame.seq > (covered.get(frame.sessionId) ?? 0)) applyToPending(this.#pending, frame);
      }
      this.#publishAttention();
    } catch (error) {
      if (this.#attentionSync === sync) this.#attentionSync = undefined;
      this.#report(error, { quiet: true });
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

  /**
   * A 401 that survived the SDK's retry (which traded the grant, if any): neither the grant nor the
   * stored token works. Show the sign-in prompt and close the streams, so no dead token is retried
   * in a loop; a new credential (`opta app`, a pasted token, another tab) reopens them.
   */
  #noteFailure(error: unknown): void {
    if (!(error instanceof DaemonApiError && error.status === 401)) return;
    if (this.#state.auth !== "rejected") {
      this.#cursor = this.#global?.cursor ?? this.#cursor;
      this.#global?.close();
      this.#global = undefined;
      this.#session?.close();
      this.#session = undefined;
      this.#logs?.subscription?.close();
      if (this.#logs) this.#logs.subscription = undefined;
    }
    this.#set({
      auth: "rejected",
      connection: "disconnected",
      authMessage: this.#grantRefused
        ? `This window's sign-in no longer works: ${this.#grantRefused}`
        : this.#state.restarting
          ? "The daemon restarted and rotated its token."
          : "The daemon no longer accepts this app's token (it was restarted or its token rotated).",
    });
  }

  #scheduleSessionsRefresh(): void {
    if (this.#refreshTimer) return;
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined;
      void this.refreshSessions();
    }, 300);
  }

  /** Turn boundaries can load or unload models (and change their memory): ask again, once. */
  #scheduleModelsRefresh(): void {
    if (this.#modelsTimer) return;
    this.#modelsTimer = setTimeout(() => {
      this.#modelsTimer = undefined;
      void this.loadModels();
    }, 1_000);
  }

  /** Reloads the session list (with the current search). */
  async refreshSessions(): Promise<void> {
    const q = this.#state.sessionsQuery.trim();
    try {
      const { sessions } = await this.#client.listSessions({ ...(q ? { q } : {}), limit: 500 });
      if (q !== this.#state.sessionsQuery.trim()) return; // a newer search is under way
      // A frame folded in while the request was in flight is newer than the answer: keep it.
      const local = new Map(this.#state.sessions.map((session) => [session.id, session]));
      const merged = sessions.map((session) => {
        const mine = local.get(session.id);
        return mine && mine.lastSeq > session.lastSeq ? mine : session;
      });
      this.#set({ sessions: merged, sessionsLoaded: true });
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
      this.#outageReported = false;
      this.#clearConnectionError();
    } catch (error) {
      this.#set({ heartbeat: { ...this.#state.heartbeat, failing: true } });
      // Once per outage, not every beat: a dismissed banner stays dismissed until the next one.
      if (!this.#outageReported && error instanceof DaemonConnectionError) {
        this.#outageReported = true;
        this.#report(error);
      }
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
      // What was picked before the session existed is that session's from now on.
      const { draft: _draft, ...overrides } = this.composer.get(undefined);
      this.composer.set(sessionId, overrides);
      this.composer.set(undefined, { mode: undefined, model: "", permission: "" });
    }
    try {
      await this.#client.submitTurn(sessionId, {
        text,
        mode: options.mode,
        ...(options.permission ? { permission: options.permission } : {}),
        ...(options.model ? { model: options.model } : {}),
      });
      return true;
    } catch (error) {
      this.#report(error);
      return false;
    }
  }

  /** Cancels the selected session's running (or paused) turn. */
  async cancelTurn(): Promise<void> {
    const sessionId = this.#state.selectedId;
    if (!sessionId) return;
    try {
      await this.#client.stopTurn(sessionId);
    } catch (error) {
      this.#report(error);
    }
  }

  /**
   * Pauses the selected session's running turn at its next step boundary (the running tool calls
   * finish); the session then shows "Paused" and Resume. Answers once `turn.paused` is recorded.
   */
  async pauseTurn(): Promise<void> {
    const sessionId = this.#state.selectedId;
    if (!sessionId || this.#pausing.has(sessionId)) return;
    this.#pausing.add(sessionId);
    try {
      await this.#client.pauseTurn(sessionId);
    } catch (error) {
      this.#report(error);
    } finally {
      this.#pausing.delete(sessionId);
    }
  }

  /**
   * ⌘. / Alt+. on a running turn: a Do turn pauses, and a press while that pause is under way
   * cancels it; any other turn cancels at once.
   */
  async interruptTurn(mode: Mode | undefined): Promise<void> {
    const sessionId = this.#state.selectedId;
    if (!sessionId) return;
    if (mode === "do" && !this.#pausing.has(sessionId)) return this.pauseTurn();
    return this.cancelTurn();
  }

  /** Resumes the selected session's paused turn: the same turn goes on with the steps it had left. */
  async resumeTurn(): Promise<void> {
    const sessionId = this.#state.selectedId;
    if (!sessionId) return;
    try {
      await this.#client.resumeTurn(sessionId, { interactive: true });
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

  /**
   * Follows the daemon log (`WS /v3/daemon/logs/stream`) for the log viewer, across reconnects and
   * new tokens. Returns the function that stops it.
   */
  followLogs(options: SubscribeLogsOptions): () => void {
    this.#logs?.subscription?.close();
    const follow = { options, subscription: undefined as LogSubscription | undefined };
    this.#logs = follow;
    if (this.#state.auth === "ok" && this.#started) this.#openLogStream();
    return () => {
      follow.subscription?.close();
      if (this.#logs === follow) this.#logs = undefined;
    };
  }

  #openLogStream(): void {
    const follow = this.#logs;
    if (!follow) return;
    follow.subscription?.close();
    follow.subscription = this.#client.subscribeLogs(follow.options);
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

  /** Renames a session (`session.renamed`; every client's rail follows through the feed). */
  async renameSession(sessionId: string, title: string): Promise<boolean> {
    const trimmed = title.trim();
    if (!trimmed) return false;
    try {
      this.#replaceInRail(await this.#client.renameSession(sessionId, trimmed));
      return true;
    } catch (error) {
      this.#report(error);
      return false;
    }
  }

  /**
   * Rewinds a session to just before a turn (files and conversation). Files changed outside the
   * agent are refused (REWIND_CONFLICT): `confirmOverwrite` is asked with the daemon's message and
   * the rewind is forced only if it says yes. Resolves true when the session was rewound.
   */
  async rewindSession(
    sessionId: string,
    turnId: string,
    confirmOverwrite: (message: string) => boolean,
  ): Promise<boolean> {
    try {
      await this.#client.rewindSession(sessionId, { toTurn: turnId, scope: "both" });
      return true;
    } catch (error) {
      if (error instanceof DaemonApiError && error.code === "REWIND_CONFLICT" && confirmOverwrite(error.message)) {
        try {
          await this.#client.rewindSession(sessionId, { toTurn: turnId, scope: "both", force: true });
          return true;
        } catch (forced) {
          this.#report(forced);
          return false;
        }
      }
      this.#report(error);
      return false;
    }
  }

  /** Forks a session after a turn (its history up to there) and opens the new session. */
  async forkSession(sessionId: string, turnId: string): Promise<SessionInfo | undefined> {
    try {
      const session = await this.#client.forkSession(sessionId, { atTurn: turnId });
      this.#set({ sessions: [session, ...this.#state.sessions.filter((item) => item.id !== session.id)] });
      this.selectSession(session.id);
      return session;
    } catch (error) {
      this.#report(error);
      return undefined;
    }
  }

  /** Pins or unpins a session: pinned sessions are listed first and never pruned. */
  async setPinned(sessionId: string, pinned: boolean): Promise<void> {
    try {
      this.#replaceInRail(await this.#client.updateSession(sessionId, { pinned }));
    } catch (error) {
      this.#report(error);
    }
  }

  /** Deletes a session (the daemon archives it, gzipped); it leaves the rail at once. */
  async deleteSession(sessionId: string): Promise<boolean> {
    try {
      await this.#client.deleteSession(sessionId);
      this.#forget(sessionId);
      return true;
    } catch (error) {
      this.#report(error);
      return false;
    }
  }

  #replaceInRail(session: SessionInfo): void {
    const sessions = this.#state.sessions.map((item) =>
      item.id === session.id && session.lastSeq >= item.lastSeq ? session : item,
    );
    this.#set({ sessions });
  }

  /** A session that no longer exists: out of the rail, its badges, and the view if it was open. */
  #forget(sessionId: string): void {
    this.composer.forget(sessionId);
    if (this.#pending.delete(sessionId)) this.#publishAttention();
    if (this.#state.selectedId === sessionId) this.selectSession(undefined);
    if (this.#state.sessions.some((session) => session.id === sessionId)) {
      this.#set({ sessions: this.#state.sessions.filter((session) => session.id !== sessionId) });
    }
  }

  dismissError(): void {
    this.#errorIsConnection = false;
    this.#set({ error: undefined });
  }

  /** The daemon answers again: a "Could not reach the daemon" banner is stale now. */
  #clearConnectionError(): void {
    if (!this.#errorIsConnection) return;
    this.#errorIsConnection = false;
    this.#set({ error: undefined });
  }

  #report(error: unknown, options: { quiet?: boolean } = {}): void {
    if (error instanceof DaemonApiError && error.status === 401) {
      this.#noteFailure(error);
      return;
    }
    if (options.quiet) return;
    if (error instanceof DaemonApiError || error instanceof DaemonConnectionError) {
      this.#errorIsConnection = error instanceof DaemonConnectionError;
      this.#set({ error: error.message });
    } else if (error instanceof Error && error.name !== "AbortError") {
      this.#errorIsConnection = false;
      this.#set({ error: error.message });
    }
  }

  #set(patch: Partial<AppState>): void {
    this.#state = { ...this.#state, ...patch };
    for (const listener of this.#listeners) listener();
  }
}

/** The daemon's list order: most recently updated first. */
function newestFirst(a: SessionInfo, b: SessionInfo): number {
  return a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : b.id.localeCompare(a.id);
}

/** A session's listed figures after one more event (the same fold as the daemon's session index). */
export function applyToSessionInfo(session: SessionInfo, event: SessionEvent): SessionInfo {
  // Renaming and pinning are not activity: the session keeps its place (as in the daemon's index).
  const metadata = event.event === "session.renamed" || event.event === "session.pinned";
  const next: SessionInfo = { ...session, lastSeq: event.seq, ...(metadata ? {} : { updatedAt: event.ts }) };
  switch (event.event) {
    case "session.renamed":
      next.title = event.title;
      break;
    case "session.pinned":
      if (event.pinned) next.pinned = true;
      else delete next.pinned;
      break;
    case "turn.start":
      next.turnCount += 1;
      next.status = "active";
      next.activeTurnId = event.turnId;
      break;
    case "turn.done":
      next.status = "done";
      delete next.activeTurnId;
      delete next.pausedTurnId;
      break;
    case "turn.error":
      next.status = event.code === TurnErrorCode.interrupted ? "interrupted" : "error";
      delete next.activeTurnId;
      delete next.pausedTurnId;
      break;
    case "session.cancelled":
      next.status = "cancelled";
      delete next.activeTurnId;
      delete next.pausedTurnId;
      break;
    case "turn.paused":
      next.status = "paused";
      delete next.activeTurnId;
      next.pausedTurnId = event.turnId;
      break;
    case "turn.resumed":
      next.status = "active";
      next.activeTurnId = event.turnId;
      delete next.pausedTurnId;
      break;
    default:
      break;
  }
  return next;
}

/**
 * Folds one event into the pending approvals (session → request id → turn id). A request waits
 * until its `permission.resolved`, or until its turn ends. Returns whether anything changed.
 */
export function applyToPending(pending: Map<string, Map<string, string>>, event: SessionEvent): boolean {
  const requests = pending.get(event.sessionId);
  switch (event.event) {
    case "permission.request": {
      // Keyed by request id, not counted: a replayed frame must not count twice.
      if (requests?.has(event.requestId)) return false;
      const next = requests ?? new Map<string, string>();
      next.set(event.requestId, event.turnId);
      pending.set(event.sessionId, next);
      return true;
    }
    case "permission.resolved":
      if (!requests?.delete(event.requestId)) return false;
      if (requests.size === 0) pending.delete(event.sessionId);
      return true;
    case "turn.done":
    case "turn.error":
    case "session.cancelled":
    case "turn.paused": {
      if (!requests) return false;
      let changed = false;
      for (const [requestId, turnId] of requests) {
        if (turnId === event.turnId) changed = requests.delete(requestId) || changed;
      }
      if (requests.size === 0) pending.delete(event.sessionId);
      return changed;
    }
    default:
      return false;
  }
}

/**
 * The unanswered permission requests of a session's running turn, read from the end of its event
 * log a page at a time until the turn's start is found.
 */
async function pendingApprovals(
  client: DaemonClient,
  session: SessionInfo,
): Promise<{ requests: Map<string, string>; lastSeq: number }> {
  const turnId = session.activeTurnId;
  let events: SessionEvent[] = [];
  let after = Math.max(0, session.lastSeq - APPROVAL_SCAN_PAGE);
  const first = await client.events(session.id, { afterSeq: after });
  events = first.events;
  let lastSeq = first.lastSeq;
  for (let page = 1; page < APPROVAL_SCAN_PAGES && after > 0; page++) {
    if (events.some((event) => event.event === "turn.start" && event.turnId === turnId)) break;
    const from = Math.max(0, after - APPROVAL_SCAN_PAGE);
    const older = await client.events(session.id, { afterSeq: from, limit: after - from });
    events = [...older.events.filter((event) => event.seq <= after), ...events];
    after = from;
  }
  const pending = new Map<string, Map<string, string>>();
  for (const event of events) applyToPending(pending, event);
  const requests = pending.get(session.id) ?? new Map<string, string>();
  // Only the running turn can still be waiting.
  for (const [requestId, requestTurn] of requests) if (requestTurn !== turnId) requests.delete(requestId);
  lastSeq = Math.max(lastSeq, events.at(-1)?.seq ?? 0);
  return { requests, lastSeq };
}
