import type {
  CompactResponse,
  CreateSessionRequest,
  ForkRequest,
  ModelsResponse,
  PermissionDecision,
  RewindRequest,
  SessionEvent,
  SessionInfo,
  SubmitTurnRequest,
} from "@opta/protocol";
import type { ConnectionStatus, TuiClient } from "../../src/tui/controller.js";

type Handlers = Parameters<TuiClient["subscribe"]>[1];
/** An event without the envelope fields the fake assigns. */
type EventInput = SessionEvent extends infer E
  ? E extends SessionEvent
    ? Omit<E, "seq" | "ts" | "sessionId">
    : never
  : never;

export function sessionInfo(overrides: Partial<SessionInfo> = {}): SessionInfo {
  return {
    id: "s-test1",
    title: "test session",
    cwd: "/tmp",
    mode: "chat",
    model: "scripted-model",
    status: "idle",
    turnCount: 0,
    createdAt: "2026-03-06T14:23:14.556Z",
    updatedAt: "2026-03-06T14:23:14.556Z",
    lastSeq: 0,
    ...overrides,
  };
}

export const MODELS: ModelsResponse = {
  models: [
    { id: "gpt-4o", provider: "openai", ref: "openai/gpt-4o" },
    { id: "qwen2.5-coder-7b", provider: "lmx", ref: "lmx/qwen2.5-coder-7b" },
    { id: "llama-3.1-8b", provider: "lmx", ref: "lmx/llama-3.1-8b" },
    { id: "claude-sonnet", provider: "anthropic", ref: "anthropic/claude-sonnet" },
  ],
  providers: [
    { name: "lmx", type: "lmx", healthy: true },
    { name: "openai", type: "openai-compatible", healthy: true },
    { name: "anthropic", type: "anthropic", healthy: true },
  ],
};

/**
 * A TuiClient that records calls and lets a test push events as the daemon would. `drop()` and
 * `reconnect()` play a lost connection: events emitted meanwhile are kept, and the reconnect
 * replays the log after a seq, as the daemon's stream does for the SDK's `afterSeq`.
 */
export function fakeClient(options: { models?: ModelsResponse; session?: Partial<SessionInfo> } = {}) {
  const calls = {
    submitted: [] as Array<{ sessionId: string; request: SubmitTurnRequest }>,
    stopped: 0,
    paused: 0,
    resumed: [] as Array<{ sessionId: string; interactive?: boolean }>,
    rewound: [] as Array<{ sessionId: string; request: RewindRequest }>,
    forked: [] as Array<{ sessionId: string; request?: ForkRequest }>,
    decisions: [] as Array<{ requestId: string; decision: PermissionDecision }>,
    created: [] as CreateSessionRequest[],
    compacted: 0,
    subscribed: [] as string[],
  };
  let handlers: Handlers | undefined;
  let seq = 0;
  /** Every event of the current session, in seq order. */
  let log: SessionEvent[] = [];
  let connected = true;
  /** Highest seq handed to the subscriber. */
  let delivered = 0;
  const deliver = (event: SessionEvent) => {
    delivered = Math.max(delivered, event.seq);
    handlers?.onEvent(event);
  };
  let sessionId = "s-test1";
  /** What the next rewindSession throws (a conflict), if anything. */
  let rewindError: Error | undefined;
  let turn = 0;
  /** What getSession answers (the daemon's metadata), per session id. */
  const infos = new Map<string, Partial<SessionInfo>>([[options.session?.id ?? "s-test1", options.session ?? {}]]);
  const client: TuiClient = {
    async getSession(id) {
      return sessionInfo({ id, ...infos.get(id) });
    },
    async createSession(request) {
      calls.created.push(request);
      return sessionInfo({ id: `s-new${calls.created.length}`, ...request });
    },
    async submitTurn(id, request) {
      calls.submitted.push({ sessionId: id, request });
      turn++;
      return { sessionId: id, turnId: `t-${turn}`, seq: seq + 1 };
    },
    async stopTurn() {
      calls.stopped++;
      return { stopped: true };
    },
    async pauseTurn() {
      calls.paused++;
      return { paused: true };
    },
    async resumeTurn(id, request) {
      calls.resumed.push({
        sessionId: id,
        ...(request?.interactive !== undefined ? { interactive: request.interactive } : {}),
      });
      return { sessionId: id, turnId: `t-${turn}`, seq: seq + 1, remainingSteps: 1 };
    },
    async rewindSession(id, request) {
      calls.rewound.push({ sessionId: id, request });
      if (rewindError) throw rewindError;
      return {
        sessionId: id,
        toTurnId: "t-1",
        scope: request.scope ?? "both",
        turnIds: ["t-1"],
        files: [],
        seq: seq + 1,
      };
    },
    async forkSession(id, request) {
      calls.forked.push({ sessionId: id, ...(request ? { request } : {}) });
      return sessionInfo({ id: `s-fork${calls.forked.length}`, title: "forked" });
    },
    async resolvePermission(_id, requestId, decision) {
      calls.decisions.push({ requestId, decision });
      return { ok: true };
    },
    async models() {
      return options.models ?? MODELS;
    },
    async exportMarkdown() {
      return "# exported\n";
    },
    async compact(): Promise<CompactResponse> {
      calls.compacted++;
      return { compacted: true, summary: "summary" };
    },
    subscribe(id, options) {
      calls.subscribed.push(id);
      sessionId = id;
      seq = 0;
      log = [];
      delivered = 0;
      connected = true;
      handlers = options;
      queueMicrotask(() => {
        options.onStatus?.("connected");
        options.onReplayed?.(0);
      });
      return { close() {} };
    },
  };
  return {
    client,
    calls,
    /** Delivers events as the stream would (seq assigned here); kept for a replay while dropped. */
    emit(...events: EventInput[]) {
      for (const event of events) {
        const full = { ...event, seq: ++seq, ts: new Date().toISOString(), sessionId } as SessionEvent;
        log.push(full);
        if (connected) deliver(full);
      }
    },
    /** Changes what getSession answers for a session (as the daemon retitling it would). */
    setInfo(id: string, info: Partial<SessionInfo>) {
      infos.set(id, { ...infos.get(id), ...info });
    },
    /** The connection drops: nothing is delivered until `reconnect`. */
    drop() {
      connected = false;
      handlers?.onStatus?.("reconnecting");
    },
    /**
     * Reconnects and replays every event after `afterSeq` (default: the last one delivered, as the
     * SDK asks), then says the replay is done.
     */
    reconnect(afterSeq = delivered) {
      connected = true;
      handlers?.onStatus?.("connected");
      for (const event of log) if (event.seq > afterSeq) deliver(event);
      handlers?.onReplayed?.(seq);
    },
    /** Makes rewindSession fail with this error (undefined: succeed again). */
    failRewind(error: Error | undefined) {
      rewindError = error;
    },
    /** Highest seq delivered so far. */
    get delivered() {
      return delivered;
    },
    status(status: ConnectionStatus) {
      handlers?.onStatus?.(status);
    },
  };
}

/** Polls until `check` passes (or throws its last error after `ms`). */
export async function waitFor(check: () => void, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Removes ANSI escape codes. */
export function stripAnsi(text: string | undefined): string {
  return (text ?? "").replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "");
}
