import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { ERROR_STATUS, type ErrorCode, isSafeId, type SessionEvent } from "@opta/protocol";
import { type WebSocket, WebSocketServer } from "ws";
import { peekSeq } from "../event-log/session-file.js";
import { parseCursor } from "../session/global-feed.js";
import type { DaemonContext } from "./context.js";
import { allowedOrigins, isAllowedHost, tokenMatches } from "./security.js";

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

  /** The HTTP server's `upgrade` handler: checks host, origin and token before accepting. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const reject = (code: ErrorCode, message: string) => {
      const body = JSON.stringify({ error: { code, message } });
      socket.end(
        `HTTP/1.1 ${ERROR_STATUS[code]} ${code}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    if (!isAllowedHost(request.headers.host, this.context.port())) {
      reject("FORBIDDEN_HOST", "WebSockets must address the daemon as 127.0.0.1, localhost or [::1].");
      return;
    }
    const origin = request.headers.origin;
    if (origin && !allowedOrigins(this.context.port()).has(origin)) {
      reject("FORBIDDEN_ORIGIN", `Origin ${origin} may not open a daemon WebSocket.`);
      return;
    }
    if (!tokenMatches(url.searchParams.get("token"), this.context.token())) {
      reject("UNAUTHORIZED", "Missing or wrong token: pass ?token=<token> from $OPTA_HOME/daemon/token.");
      return;
    }
    if (this.context.stopping()) {
      reject("DAEMON_STOPPING", "The daemon is shutting down.");
      return;
    }
    const sessionMatch = /^\/v3\/sessions\/([^/]+)\/stream$/.exec(url.pathname);
    if (sessionMatch) {
      const afterSeq = Number(url.searchParams.get("afterSeq") ?? 0);
      if (!Number.isInteger(afterSeq) || afterSeq < 0) {
        reject("VALIDATION_FAILED", "afterSeq must be a whole number ≥ 0.");
        return;
      }
      const sessionId = decodeURIComponent(sessionMatch[1]!);
      this.wss.handleUpgrade(request, socket, head, (ws) => {
        void this.streamSession(ws, sessionId, afterSeq);
      });
      return;
    }
    if (url.pathname === "/v3/events") {
      const cursor = url.searchParams.get("cursor") ?? undefined;
      const filter = parseEventFilter(url.searchParams.get("events"));
      if (filter === null) {
        reject("VALIDATION_FAILED", "events must be a comma-separated list of event names, e.g. turn.start,turn.done");
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => {
        void this.streamAll(ws, cursor, filter);
      });
      return;
    }
    reject("NOT_FOUND", "No WebSocket endpoint here; use /v3/sessions/:id/stream or /v3/events.");
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
    ws.on("close", unsubscribe);
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
