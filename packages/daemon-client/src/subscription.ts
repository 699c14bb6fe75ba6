import {
  DaemonEvent,
  type GlobalFrame,
  type LogLevel,
  LogLine,
  SessionEvent,
  StreamControlFrame,
} from "@opta/protocol";
import { DaemonApiError } from "./errors.js";
import { frameText, type WebSocketConstructor, type WebSocketLike } from "./websocket.js";

/**
 * Where a subscription stands. `disconnected` means several reconnect attempts in a row failed; the
 * subscription keeps retrying until `close()`.
 */
export type SubscriptionStatus = "connecting" | "connected" | "reconnecting" | "disconnected" | "closed";

/** Reconnect timing: exponential backoff with jitter. */
export interface BackoffOptions {
  /** First retry delay in ms (default 250). */
  initialDelayMs?: number;
  /** Longest delay between retries in ms (default 10 000). */
  maxDelayMs?: number;
  /** Failed attempts in a row after which the status becomes `disconnected` (default 5). */
  disconnectedAfter?: number;
}

/** A live subscription; `close()` stops it for good. */
export interface Subscription {
  /** Stops reconnecting and closes the socket. */
  close(): void;
  /** Highest seq delivered so far (the resume point). */
  readonly lastSeq: number;
  /** Current connection state. */
  readonly status: SubscriptionStatus;
}

/** Callbacks and resume point of `DaemonClient.subscribe`. */
export interface SubscribeOptions {
  /** Deliver events with seq greater than this (default 0: the whole session). */
  afterSeq?: number;
  /** Called once per event, in seq order, never twice for the same seq. */
  onEvent: (event: SessionEvent) => void;
  /** Called on every status change. */
  onStatus?: (status: SubscriptionStatus) => void;
  /** Called for errors that reconnecting cannot fix: a terminal close (unknown session), a bad frame. */
  onError?: (error: Error) => void;
  /** Called each time the server says the replay has caught up (after every (re)connect). */
  onReplayed?: (lastSeq: number) => void;
  /** Reconnect timing. */
  backoff?: BackoffOptions;
}

/** A global subscription; `cursor` is where it would resume. */
export interface GlobalSubscription {
  close(): void;
  /** Cursor of the last frame delivered, if any. */
  readonly cursor: string | undefined;
  readonly status: SubscriptionStatus;
}

/** Callbacks and resume point of `DaemonClient.subscribeAll`. */
export interface SubscribeAllOptions {
  /** Resume after this cursor; without one the stream is live-only. */
  cursor?: string;
  /** Only these event names (e.g. `["turn.start", "turn.done"]`); default every event. */
  events?: readonly string[];
  /** Called once per frame; session events are deduplicated by (sessionId, seq). */
  onFrame: (frame: GlobalFrame) => void;
  onStatus?: (status: SubscriptionStatus) => void;
  onError?: (error: Error) => void;
  onReplayed?: (cursor: string | undefined) => void;
  backoff?: BackoffOptions;
}

/** Close codes after which reconnecting cannot help. */
const TERMINAL_CLOSE: Record<number, { code: string; message: string }> = {
  4404: { code: "SESSION_NOT_FOUND", message: "session not found" },
  4400: { code: "BAD_REQUEST", message: "the daemon rejected the stream request" },
};

interface SocketSpec {
  /** Builds the URL for the next attempt; `refresh` asks for a freshly read token. */
  url: (refresh: boolean) => Promise<string>;
  WebSocket: WebSocketConstructor;
  onFrame: (frame: unknown) => void;
  onStatus?: (status: SubscriptionStatus) => void;
  onError?: (error: Error) => void;
  backoff?: BackoffOptions;
  /** Names the stream in error messages. */
  label: string;
}

/** One WebSocket that reconnects with exponential backoff until closed. */
class ReconnectingSocket {
  #socket: WebSocketLike | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Failed attempts since the last successful open. */
  #failures = 0;
  #everOpened = false;
  #status: SubscriptionStatus = "connecting";
  #closed = false;

  constructor(private readonly spec: SocketSpec) {
    spec.onStatus?.("connecting");
    void this.#connect();
  }

  get status(): SubscriptionStatus {
    return this.#status;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.close(1000);
    this.#setStatus("closed");
  }

  #setStatus(status: SubscriptionStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.spec.onStatus?.(status);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    let socket: WebSocketLike;
    try {
      // Any attempt after the first re-reads the token: a daemon restart rotates it.
      const url = await this.spec.url(this.#everOpened || this.#failures > 0);
      if (this.#closed) return;
      socket = new this.spec.WebSocket(url);
    } catch {
      // No token yet (daemon restarting) or a refused constructor: a failed attempt like any other.
      this.#retry();
      return;
    }
    this.#socket = socket;
    socket.onopen = () => {
      if (this.#socket !== socket) return;
      this.#failures = 0;
      this.#everOpened = true;
      this.#setStatus("connected");
    };
    socket.onmessage = (event) => {
      if (this.#socket !== socket) return;
      let frame: unknown;
      try {
        frame = JSON.parse(frameText(event.data));
      } catch {
        this.spec.onError?.(new DaemonApiError("INVALID_FRAME", `${this.spec.label}: a frame was not JSON`, 0));
        return;
      }
      this.spec.onFrame(frame);
    };
    // A close event always follows an error; reconnecting happens there.
    socket.onerror = () => {};
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      if (this.#closed) return;
      const terminal = TERMINAL_CLOSE[event.code];
      if (terminal) {
        this.spec.onError?.(
          new DaemonApiError(terminal.code, `${this.spec.label}: ${event.reason || terminal.message}`, 0),
        );
        this.close();
        return;
      }
      this.#retry();
    };
  }

  #retry(): void {
    if (this.#closed) return;
    this.#failures += 1;
    const { initialDelayMs = 250, maxDelayMs = 10_000, disconnectedAfter = 5 } = this.spec.backoff ?? {};
    this.#setStatus(this.#failures > disconnectedAfter ? "disconnected" : "reconnecting");
    const base = Math.min(maxDelayMs, initialDelayMs * 2 ** (this.#failures - 1));
    // Jitter spreads reconnects of many clients after a daemon restart.
    const delay = base * (0.5 + Math.random() / 2);
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }
}

/** Shared by the client: a resumable, deduplicated session stream. */
export function openSessionSubscription(
  options: SubscribeOptions,
  spec: Omit<SocketSpec, "url" | "onFrame" | "onStatus" | "onError" | "backoff"> & {
    url: (afterSeq: number, refresh: boolean) => Promise<string>;
  },
): Subscription {
  let lastSeq = options.afterSeq ?? 0;
  const socket = new ReconnectingSocket({
    ...spec,
    url: (refresh) => spec.url(lastSeq, refresh),
    onStatus: options.onStatus,
    onError: options.onError,
    backoff: options.backoff,
    onFrame: (frame) => {
      const control = StreamControlFrame.safeParse(frame);
      if (control.success && typeof (frame as { control?: unknown }).control === "string") {
        // "reset": the server no longer has what we had (e.g. a repaired file); follow its numbering.
        if (control.data.control === "reset") lastSeq = control.data.lastSeq ?? 0;
        options.onReplayed?.(control.data.lastSeq ?? lastSeq);
        return;
      }
      const seq = (frame as { seq?: unknown }).seq;
      if (typeof seq !== "number" || seq <= lastSeq) return; // duplicate or stale
      const parsed = SessionEvent.safeParse(frame);
      lastSeq = seq;
      // An event a newer daemon added is skipped (the seq still advances), never fatal.
      if (parsed.success) options.onEvent(parsed.data);
    },
  });
  return {
    close: () => socket.close(),
    get lastSeq() {
      return lastSeq;
    },
    get status() {
      return socket.status;
    },
  };
}

/** Shared by the client: the resumable `/v3/events` stream, deduplicated by (sessionId, seq). */
export function openGlobalSubscription(
  options: SubscribeAllOptions,
  spec: Omit<SocketSpec, "url" | "onFrame" | "onStatus" | "onError" | "backoff"> & {
    url: (cursor: string | undefined, refresh: boolean) => Promise<string>;
  },
): GlobalSubscription {
  let cursor = options.cursor;
  const seen = new Map<string, number>();
  const seenDaemonEvents = new Set<string>();
  const socket = new ReconnectingSocket({
    ...spec,
    url: (refresh) => spec.url(cursor, refresh),
    onStatus: options.onStatus,
    onError: options.onError,
    backoff: options.backoff,
    onFrame: (frame) => {
      const record = frame as { control?: unknown; cursor?: unknown; seq?: unknown; sessionId?: unknown };
      if (typeof record.control === "string") {
        if (typeof record.cursor === "string") cursor = record.cursor;
        options.onReplayed?.(cursor);
        return;
      }
      if (typeof record.cursor === "string") cursor = record.cursor;
      const frameCursor = typeof record.cursor === "string" ? record.cursor : "";
      if (typeof record.seq === "number" && typeof record.sessionId === "string") {
        if (record.seq <= (seen.get(record.sessionId) ?? 0)) return;
        seen.set(record.sessionId, record.seq);
        const parsed = SessionEvent.safeParse(frame);
        if (parsed.success) options.onFrame({ ...parsed.data, cursor: frameCursor });
        return;
      }
      const parsed = DaemonEvent.safeParse(frame);
      if (!parsed.success) return;
      // Daemon events have no seq; after a restart's superset replay, drop the ones already seen.
      const key = `${parsed.data.event}|${parsed.data.ts}|${"sessionId" in parsed.data ? parsed.data.sessionId : ""}`;
      if (seenDaemonEvents.has(key)) return;
      seenDaemonEvents.add(key);
      if (seenDaemonEvents.size > 10_000) seenDaemonEvents.delete(seenDaemonEvents.values().next().value!);
      options.onFrame({ ...parsed.data, cursor: frameCursor });
    },
  });
  return {
    close: () => socket.close(),
    get cursor() {
      return cursor;
    },
    get status() {
      return socket.status;
    },
  };
}

/** Callbacks of `DaemonClient.subscribeLogs`. */
export interface SubscribeLogsOptions {
  /** Only lines at or above this level (default: every level the daemon records). */
  level?: LogLevel;
  /** Lines of history sent on each (re)connect (default 200, at most 2000). */
  backlog?: number;
  /** The backlog, oldest first, after every (re)connect: it replaces what was shown. */
  onBacklog: (lines: LogLine[]) => void;
  /** Each new line, as the daemon writes it. */
  onLine: (line: LogLine) => void;
  onStatus?: (status: SubscriptionStatus) => void;
  onError?: (error: Error) => void;
  backoff?: BackoffOptions;
}

/** A live log subscription. */
export interface LogSubscription {
  close(): void;
  readonly status: SubscriptionStatus;
}

/** Shared by the client: the log stream, its backlog handed over in one piece per connection. */
export function openLogSubscription(
  options: SubscribeLogsOptions,
  spec: Omit<SocketSpec, "url" | "onFrame" | "onStatus" | "onError" | "backoff"> & {
    url: (refresh: boolean) => Promise<string>;
  },
): LogSubscription {
  // The backlog of the current connection while it arrives; undefined once it is live.
  let pending: LogLine[] | undefined = [];
  const socket = new ReconnectingSocket({
    ...spec,
    onStatus: (status) => {
      if (status === "connected") pending = [];
      options.onStatus?.(status);
    },
    onError: options.onError,
    backoff: options.backoff,
    onFrame: (frame) => {
      if (typeof (frame as { control?: unknown }).control === "string") {
        options.onBacklog(pending ?? []);
        pending = undefined;
        return;
      }
      const parsed = LogLine.safeParse(frame);
      if (!parsed.success) return;
      if (pending) pending.push(parsed.data);
      else options.onLine(parsed.data);
    },
  });
  return {
    close: () => socket.close(),
    get status() {
      return socket.status;
    },
  };
}
