import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { isSafeId, LogLevel, type LogLine, type SessionEvent } from "@opta/protocol";
import { type WebSocket, WebSocketServer } from "ws";
import { peekSeq } from "../event-log/session-file.js";
import { parseCursor } from "../session/global-feed.js";
import { ApiError } from "./api-error.js";
import type { DaemonContext } from "./context.js";
import {
  allowedOrigins,
  decodeComponent,
  isAllowedHost,
  originRefusal,
  parseStrictQuery,
  repeatedHeader,
  requestTargetProblem,
  tokenMatches,
} from "./security.js";

/** Close codes a client sees. */
export const CloseCode = {
  goingAway: 1001,
  restarting: 1012,
  tooSlow: 1013,
  sessionNotFound: 4404,
} as const;

// A client this far behind is dropped; it reconnects and resumes from its last seq.
const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

const corked = new WeakSet<object>();

/**
 * Sends a frame, corking the client's socket until the end of this tick so that every frame of one
 * flush (a batch of events, or a replay) leaves in a single writev instead of one syscall each.
 */
function sendCorked(ws: WebSocket, data: string): void {
  const socket = (ws as unknown as { _socket?: import("node:net").Socket })._socket;
  if (socket && !corked.has(socket)) {
    corked.add(socket);
    socket.cork();
    process.nextTick(() => {
      corked.delete(socket);
      socket.uncork();
    });
  }
  ws.send(data);
}

/** Handles both WebSocket endpoints on the daemon's HTTP server. */
export class StreamServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });

  constructor(private readonly context: DaemonContext) {}

  /**
   * The HTTP server's `upgrade` handler. Everything that can be wrong with an upgrade is answered
   * here with an HTTP error and a JSON body before the 101 (a client then sees a status it can act
   * on, not a dropped socket or a close code after the fact): host, request shape, origin, token,
   * then the endpoint and its parameters.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const checked = this.checkUpgrade(request);
    if (checked instanceof ApiError) {
      // RFC 6455 §4.4: a refusal for the wrong version names the one the server speaks.
      const wrongVersion = request.headers["sec-websocket-version"] !== "13";
      socket.end(checked.toHttpResponse(wrongVersion ? { "Sec-WebSocket-Version": "13" } : {}));
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      if (checked.kind === "session") void this.streamSession(ws, checked.sessionId, checked.afterSeq);
      else if (checked.kind === "logs") this.streamLogs(ws, checked.level, checked.backlog);
      else void this.streamAll(ws, checked.cursor, checked.filter);
    });
  }

  /** What the upgrade asks for, or the error that refuses it. */
  private checkUpgrade(request: IncomingMessage): StreamRequest | ApiError {
    if (!isAllowedHost(request.headers.host, this.context.port())) {
      return new ApiError("FORBIDDEN_HOST", "WebSockets must address the daemon as 127.0.0.1, localhost or [::1].");
    }
    const target = request.url ?? "";
    const targetProblem = requestTargetProblem(target);
    if (targetProblem) return new ApiError("BAD_REQUEST", `Bad WebSocket upgrade: ${targetProblem}.`);
    const repeated = repeatedHeader(request.rawHeaders);
    if (repeated)
      return new ApiError("BAD_REQUEST", `Bad WebSocket upgrade: the ${repeated} header appears more than once.`);
    const handshake = handshakeProblem(request);
    if (handshake) return handshake;
    const origin = request.headers.origin;
    if (origin && !allowedOrigins(this.context.port(), this.context.dev).has(origin)) {
      return new ApiError("FORBIDDEN_ORIGIN", originRefusal(origin, "open a daemon WebSocket"));
    }
    const queryStart = target.indexOf("?");
    const path = queryStart === -1 ? target : target.slice(0, queryStart);
    const query = parseStrictQuery(queryStart === -1 ? "" : target.slice(queryStart));
    if (typeof query === "string") return new ApiError("BAD_REQUEST", `Bad WebSocket upgrade: ${query}.`);
    if (!tokenMatches(query.get("token"), this.context.token())) {
      return new ApiError("UNAUTHORIZED", "Missing or wrong token: pass ?token=<token> from $OPTA_HOME/daemon/token.");
    }
    if (this.context.stopping()) return new ApiError("DAEMON_STOPPING", "The daemon is shutting down.");
    const sessionMatch = /^\/v3\/sessions\/([^/]+)\/stream$/.exec(path);
    if (sessionMatch) return sessionStreamRequest(sessionMatch[1]!, query);
    if (path === "/v3/events") return globalStreamRequest(query);
    if (path === "/v3/daemon/logs/stream") return logStreamRequest(query);
    return new ApiError(
      "NOT_FOUND",
      "No WebSocket endpoint here; use /v3/sessions/:id/stream, /v3/events or /v3/daemon/logs/stream.",
    );
  }

  /** Closes every client with a code that tells it what happened. */
  closeAll(code: number, reason: string): void {
    for (const client of this.wss.clients) client.close(code, reason);
  }

  close(): void {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }

  /**
   * Replays stored events after `afterSeq`, then switches to live with no gap and no duplicate:
   * the live listener is attached before the file is read, and everything it buffers meanwhile is
   * sent after the replay, skipping seqs the replay already covered.
   */
  private async streamSession(ws: WebSocket, sessionId: string, afterSeq: number): Promise<void> {
    const { store, logger } = this.context;
    if (!isSafeId(sessionId) || !store.get(sessionId)) {
      ws.close(CloseCode.sessionNotFound, "session not found");
      return;
    }
    let lastSent = afterSeq;
    let live = false;
    const buffered: Array<{ seq: number; line: string }> = [];
    const send = (line: string) => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        ws.close(CloseCode.tooSlow, "client too slow; reconnect with afterSeq");
        return;
      }
      sendCorked(ws, line);
    };
    const unsubscribe = store.subscribe(sessionId, (event: SessionEvent, line: string) => {
      if (!live) {
        buffered.push({ seq: event.seq, line });
      } else if (event.seq > lastSent) {
        lastSent = event.seq;
        send(line);
      }
    });
    // Deleted or pruned while followed: the stream ends as for an unknown session, for good.
    const stopWatching = store.onRemoved(sessionId, () => ws.close(CloseCode.sessionNotFound, "session deleted"));
    ws.on("close", () => {
      unsubscribe();
      stopWatching();
    });
    ws.on("error", () => unsubscribe());
    try {
      const lines = await store.readLines(sessionId, afterSeq);
      for (const line of lines) {
        const seq = peekSeq(line);
        if (seq > lastSent) {
          lastSent = seq;
          send(line);
        }
      }
      for (const item of buffered) {
        if (item.seq > lastSent) {
          lastSent = item.seq;
          send(item.line);
        }
      }
      buffered.length = 0;
      live = true;
      send(JSON.stringify({ control: "replayed", lastSeq: lastSent }));
    } catch (error) {
      logger.error("stream", `Replay of ${sessionId} failed: ${(error as Error).message}`);
      unsubscribe();
      ws.close(1011, "replay failed");
    }
  }

  /**
   * The daemon's log as it is written: the last `backlog` lines at or above `level`, a `replayed`
   * control frame, then every new line at or above `level`. A reconnecting viewer replaces what it
   * shows with the new backlog, so nothing is doubled.
   */
  private streamLogs(ws: WebSocket, level: LogLevel | undefined, backlog: number): void {
    const { logger } = this.context;
    const min = level ? LEVEL_RANK[level] : 0;
    const send = (line: LogLine) => {
      if (ws.readyState !== ws.OPEN || LEVEL_RANK[line.level] < min) return;
      // A viewer that stops reading is dropped rather than buffered without bound.
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        ws.close(CloseCode.tooSlow, "client too slow; reconnect for a fresh backlog");
        return;
      }
      sendCorked(ws, JSON.stringify(line));
    };
    for (const line of logger.tail(backlog, level)) send(line);
    sendCorked(ws, JSON.stringify({ control: "replayed" }));
    const unsubscribe = logger.onLine(send);
    ws.on("close", unsubscribe);
    ws.on("error", () => unsubscribe());
  }

  /** The daemon-wide stream: exact resume from memory when possible, else a superset by time. */
  private async streamAll(
    ws: WebSocket,
    cursor: string | undefined,
    filter: ReadonlySet<string> | undefined,
  ): Promise<void> {
    const { feed, store, logger } = this.context;
    let live = false;
    const buffered: string[] = [];
    const send = (frame: string) => {
      if (ws.readyState !== ws.OPEN) return;
      if (filter && !filter.has(eventNameOf(frame))) return;
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        ws.close(CloseCode.tooSlow, "client too slow; reconnect with your last cursor");
        return;
      }
      sendCorked(ws, frame);
    };
    const parsed = cursor ? parseCursor(cursor) : undefined;
    const exact = parsed ? feed.framesAfter(parsed) : [];
    const unsubscribe = feed.onFrame((frame) => {
      if (live) send(frame);
      else buffered.push(frame);
    });
    ws.on("close", unsubscribe);
    ws.on("error", () => unsubscribe());
    try {
      if (exact) {
        for (const frame of exact) send(frame);
      } else if (parsed) {
        // Cursor from another daemon run (or evicted): replay by time; clients drop (sessionId, seq) they have.
        const replayed = new Map<string, number>();
        const since = new Date(parsed.tsMillis).toISOString();
        const fallbackCursor = `${feed.epoch}.0.${parsed.tsMillis.toString(36)}`;
        const sessions = store.list({ limit: Number.MAX_SAFE_INTEGER }).filter((session) => session.updatedAt >= since);
        const frames: Array<{ ts: string; frame: string }> = [];
        for (const session of sessions) {
          for (const line of await store.readLines(session.id, 0)) {
            const event = JSON.parse(line) as SessionEvent;
            if (event.ts < since) continue;
            frames.push({ ts: event.ts, frame: `${line.slice(0, -1)},"cursor":"${fallbackCursor}"}` });
            replayed.set(session.id, Math.max(replayed.get(session.id) ?? 0, event.seq));
          }
        }
        frames.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
        for (const { frame } of frames) send(frame);
        for (let index = buffered.length - 1; index >= 0; index -= 1) {
          const frame = JSON.parse(buffered[index]!) as { sessionId?: string; seq?: number };
          if (frame.sessionId && frame.seq !== undefined && frame.seq <= (replayed.get(frame.sessionId) ?? 0)) {
            buffered.splice(index, 1);
          }
        }
      }
      for (const frame of buffered) send(frame);
      buffered.length = 0;
      live = true;
      if (cursor) sendCorked(ws, JSON.stringify({ control: "replayed", cursor: feed.currentCursor() }));
    } catch (error) {
      logger.error("stream", `Global replay failed: ${(error as Error).message}`);
      unsubscribe();
      ws.close(1011, "replay failed");
    }
  }
}

/**
 * `?events=a,b`: only those event names on the daemon-wide stream (a rail needs turn and session
 * events, not every token). Undefined = everything; null = malformed.
 */
function parseEventFilter(value: string | null): ReadonlySet<string> | undefined | null {
  if (value === null || value.trim() === "") return undefined;
  const names = value.split(",").map((name) => name.trim());
  if (names.some((name) => !/^[a-z]+(\.[a-z_]+)+$/.test(name))) return null;
  return new Set(names);
}

/** The `event` of a serialised frame; frames are our own JSON, so the name is the second field. */
function eventNameOf(frame: string): string {
  const match = /"event":"([^"]+)"/.exec(frame);
  return match?.[1] ?? "";
}

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Backlog lines a log stream sends at most (the logger keeps 2,000 in memory). */
const MAX_LOG_BACKLOG = 2000;

/** A stream a checked upgrade asks for. */
type StreamRequest =
  | { kind: "session"; sessionId: string; afterSeq: number }
  | { kind: "logs"; level: LogLevel | undefined; backlog: number }
  | { kind: "events"; cursor: string | undefined; filter: ReadonlySet<string> | undefined };

/**
 * The checks `ws` would make (and answer with a text/html 400), made first so the answer is the
 * API's JSON: a GET with `Upgrade: websocket`, a well-formed `Sec-WebSocket-Key`, version 13, and
 * a `Sec-WebSocket-Protocol` (the daemon uses none) that at least parses.
 */
function handshakeProblem(request: IncomingMessage): ApiError | undefined {
  const bad = (message: string) => new ApiError("BAD_REQUEST", `Bad WebSocket upgrade: ${message}.`);
  if (request.method !== "GET") return bad(`the method must be GET, not ${request.method}`);
  if (request.headers.upgrade?.toLowerCase() !== "websocket") return bad("the Upgrade header must be 'websocket'");
  const key = request.headers["sec-websocket-key"];
  if (key === undefined || !/^[+/0-9A-Za-z]{22}==$/.test(key)) {
    return bad("Sec-WebSocket-Key must be 16 random bytes in base64");
  }
  if (request.headers["sec-websocket-version"] !== "13") {
    return bad("Sec-WebSocket-Version must be 13");
  }
  const protocol = request.headers["sec-websocket-protocol"];
  if (
    protocol !== undefined &&
    !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(\s*,\s*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/.test(protocol)
  ) {
    return bad("Sec-WebSocket-Protocol is malformed");
  }
  return undefined;
}

/** Only these query parameters: a misspelt `aftrSeq` would otherwise replay from 0 in silence. */
function unknownParameter(query: Map<string, string>, known: readonly string[]): ApiError | undefined {
  for (const name of query.keys()) {
    if (!known.includes(name)) {
      return new ApiError(
        "VALIDATION_FAILED",
        `Unknown query parameter '${name.slice(0, 40)}'; this endpoint takes ${known.map((each) => `'${each}'`).join(", ")}.`,
      );
    }
  }
  return undefined;
}

function sessionStreamRequest(rawId: string, query: Map<string, string>): StreamRequest | ApiError {
  const unknown = unknownParameter(query, ["token", "afterSeq"]);
  if (unknown) return unknown;
  const sessionId = decodeComponent(rawId);
  if (sessionId === undefined) {
    return new ApiError("BAD_REQUEST", "Bad WebSocket upgrade: the session id has invalid percent-encoding.");
  }
  if (!isSafeId(sessionId)) {
    return new ApiError(
      "VALIDATION_FAILED",
      `'${sessionId.slice(0, 80)}' is not a session id (s-…); list sessions with 'opta sessions list'.`,
    );
  }
  const rawSeq = query.get("afterSeq") ?? "0";
  // Digits only: Number() would also take '', '0x10', '1e3' and ' 1', and 1e20 passes isInteger.
  const afterSeq = /^\d{1,16}$/.test(rawSeq) ? Number(rawSeq) : Number.NaN;
  if (!Number.isSafeInteger(afterSeq)) {
    return new ApiError("VALIDATION_FAILED", `afterSeq must be a whole number ≥ 0, not '${rawSeq.slice(0, 40)}'.`);
  }
  return { kind: "session", sessionId, afterSeq };
}

function globalStreamRequest(query: Map<string, string>): StreamRequest | ApiError {
  const unknown = unknownParameter(query, ["token", "cursor", "events"]);
  if (unknown) return unknown;
  const cursor = query.get("cursor");
  if (cursor !== undefined && cursor !== "" && !isValidCursor(cursor)) {
    return new ApiError(
      "VALIDATION_FAILED",
      `'${cursor.slice(0, 60)}' is not a cursor from this daemon's feed; pass the 'cursor' of the last frame you received, or none.`,
    );
  }
  const filter = parseEventFilter(query.get("events") ?? null);
  if (filter === null) {
    return new ApiError(
      "VALIDATION_FAILED",
      "events must be a comma-separated list of event names, e.g. turn.start,turn.done",
    );
  }
  return { kind: "events", cursor: cursor || undefined, filter };
}

function logStreamRequest(query: Map<string, string>): StreamRequest | ApiError {
  const unknown = unknownParameter(query, ["token", "level", "backlog"]);
  if (unknown) return unknown;
  const rawLevel = query.get("level");
  const level = rawLevel === undefined || rawLevel === "" ? undefined : LogLevel.safeParse(rawLevel);
  if (level && !level.success) {
    return new ApiError(
      "VALIDATION_FAILED",
      `level must be one of debug, info, warn, error, not '${rawLevel!.slice(0, 40)}'.`,
    );
  }
  const rawBacklog = query.get("backlog") ?? "200";
  const backlog = /^\d{1,5}$/.test(rawBacklog) ? Number(rawBacklog) : Number.NaN;
  if (!(backlog >= 0 && backlog <= MAX_LOG_BACKLOG)) {
    return new ApiError(
      "VALIDATION_FAILED",
      `backlog must be a whole number from 0 to ${MAX_LOG_BACKLOG}, not '${rawBacklog.slice(0, 40)}'.`,
    );
  }
  return { kind: "logs", level: level?.data, backlog };
}

/** `<epoch>.<index>.<ms>` as GlobalFeed writes it, with an index and a time that fit a Date. */
function isValidCursor(cursor: string): boolean {
  if (!/^[0-9a-f]{8}\.[0-9a-z]{1,11}\.[0-9a-z]{1,11}$/.test(cursor)) return false;
  const parsed = parseCursor(cursor);
  return (
    parsed !== undefined &&
    Number.isSafeInteger(parsed.index) &&
    Number.isSafeInteger(parsed.tsMillis) &&
    !Number.isNaN(new Date(parsed.tsMillis).getTime())
  );
}
