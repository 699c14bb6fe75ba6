import type {
  HookRanEvent,
  HookSkippedEvent,
  Mode,
  PermissionDecision,
  PermissionLevel,
  PermissionRequestEvent,
  Risk,
  SessionEvent,
  StopReason,
  SystemPromptSummary,
} from "@opta/protocol";

/** One tool call as a card shows it. */
export interface ToolView {
  callId: string;
  name: string;
  args: Record<string, unknown>;
  /** pending: running or queued; awaiting: waiting for approval; denied: refused by the gate. */
  status: "pending" | "awaiting" | "ok" | "error" | "denied";
  result?: unknown;
  error?: string;
  elapsedMs?: number;
  summary?: string;
  /** Time of the tool.call event. */
  startedAt: string;
  /** Time its approval was answered, when it asked: the tool only ran from then on. */
  approvedAt?: string;
  permission?: { requestId: string; risk: Risk; decision?: PermissionDecision; by?: string };
}

/** One run of a user's hook (`hook.ran`): what it was, how it ended, what it printed (masked). */
export type HookRun = Omit<HookRanEvent, "event" | "seq" | "ts" | "turnId" | "sessionId">;

/** A piece of the assistant's answer, in the order it streamed. */
export type TurnPart =
  | { kind: "text"; text: string }
  | { kind: "thinking"; text: string }
  | { kind: "tool"; callId: string }
  | { kind: "hook"; run: HookRun }
  | { kind: "hook-skipped"; skipped: Pick<HookSkippedEvent, "scope" | "file" | "reason"> };

/** Final statistics of a turn (`turn.done`). */
export interface TurnStats {
  tokens: number;
  thinkingTokens: number;
  elapsed: number;
  tokensPerSec: number;
  toolCalls: number;
  steps: number;
  stopReason: StopReason;
  promptTokens?: number;
}

/** One user turn and everything the daemon did for it. */
export interface TurnView {
  kind: "turn";
  /** Row key: the turn id. */
  id: string;
  /** 1-based position in the session. */
  index: number;
  userText: string;
  mode: Mode;
  model: string;
  permission: PermissionLevel;
  startedAt: string;
  parts: TurnPart[];
  tools: Record<string, ToolView>;
  status: "running" | "paused" | "done" | "error" | "cancelled";
  /** While paused (`turn.paused`): steps taken and steps left for the resume. */
  paused?: { steps: number; remainingSteps: number };
  stats?: TurnStats;
  error?: { message: string; code: string; retryable: boolean };
  /** Who answered (`turn.done`, else the model of its tokens): model id and provider name. */
  answeredBy?: { model: string; provider?: string };
  /** Fallbacks the turn took (`provider.fallback`): `provider/model` it left, and the one it went on with. */
  fallbacks: Array<{ from: string; to: string; reason: string }>;
  /** What the turn's system prompt was made of (`turn.system`): parts, instruction files, size, hash. */
  system?: SystemPromptSummary;
  /** turn.token events received (≈ tokens) and when the first and last arrived (daemon time, ms). */
  tokenEvents: number;
  firstTokenAt?: number;
  lastTokenAt?: number;
}

/** A compaction marker between turns. */
export interface CompactionView {
  kind: "compaction";
  id: string;
  summary: string;
  ts: string;
}

export type TimelineItem = TurnView | CompactionView;

/** Everything the timeline and the panels need about one session, folded from its events. */
export interface SessionView {
  sessionId: string;
  title: string;
  cwd: string;
  mode: Mode;
  model: string;
  /** Pinned in the rail (`session.pinned`). */
  pinned?: boolean;
  items: TimelineItem[];
  /** Permission requests nobody has answered yet, oldest first. */
  approvals: PermissionRequestEvent[];
  /** Highest seq folded in. */
  lastSeq: number;
  /** Turns in `items`. */
  turnCount: number;
  /** The running turn, if any. */
  activeTurnId?: string;
  /** The paused turn, if any: Resume continues it, Cancel ends it. */
  pausedTurnId?: string;
  /** Prompt tokens of the last finished turn that reported them (context fill). */
  lastPromptTokens?: number;
  /** Model of the last turn (what context fill refers to). */
  lastModel?: string;
}

export function emptySessionView(sessionId: string): SessionView {
  return { sessionId, title: "", cwd: "", mode: "chat", model: "", items: [], approvals: [], lastSeq: 0, turnCount: 0 };
}

/**
 * Folds a batch of events into a new view. Pure and copy-on-write: the items array and each turn
 * touched by the batch are copied once per batch, untouched turns keep their identity (so memoised
 * rows do not re-render). Events at or below `lastSeq` are ignored: nothing is applied twice.
 */
export function applyEvents(view: SessionView, events: readonly SessionEvent[]): SessionView {
  if (events.length === 0) return view;
  let next: SessionView | undefined;
  let items: TimelineItem[] | undefined;
  // Index of each turn in `items`, built lazily (turns are found from the end: the live one is last).
  const copied = new Set<TurnView>();

  const draft = (): SessionView => {
    next ??= { ...view };
    return next;
  };
  const draftItems = (): TimelineItem[] => {
    items ??= view.items.slice();
    draft().items = items;
    return items;
  };
  const findTurn = (turnId: string): TurnView | undefined => {
    const list = items ?? view.items;
    for (let index = list.length - 1; index >= 0; index--) {
      const item = list[index]!;
      if (item.kind === "turn" && item.id === turnId) {
        if (copied.has(item)) return item;
        const copy: TurnView = { ...item, parts: item.parts.slice(), tools: { ...item.tools } };
        draftItems()[index] = copy;
        copied.add(copy);
        return copy;
      }
    }
    return undefined;
  };
  const appendText = (turn: TurnView, kind: "text" | "thinking", delta: string) => {
    const last = turn.parts.at(-1);
    if (last && last.kind === kind) turn.parts[turn.parts.length - 1] = { kind, text: last.text + delta };
    else turn.parts.push({ kind, text: delta });
  };
  const updateTool = (turn: TurnView, callId: string, patch: Partial<ToolView>) => {
    const tool = turn.tools[callId];
    if (tool) turn.tools[callId] = { ...tool, ...patch };
  };
  const removeApprovals = (predicate: (request: PermissionRequestEvent) => boolean) => {
    const current = (next ?? view).approvals;
    if (current.some(predicate)) draft().approvals = current.filter((request) => !predicate(request));
  };

  let lastSeq = view.lastSeq;
  for (const event of events) {
    if (event.seq <= lastSeq) continue;
    lastSeq = event.seq;
    switch (event.event) {
      case "session.start": {
        const d = draft();
        d.title = event.title;
        d.cwd = event.cwd;
        d.mode = event.mode;
        d.model = event.model;
        break;
      }
      case "turn.start": {
        const list = draftItems();
        const d = draft();
        d.turnCount += 1;
        const index = d.turnCount;
        const turn: TurnView = {
          kind: "turn",
          id: event.turnId,
          index,
          userText: event.text,
          mode: event.mode,
          model: event.model,
          permission: event.permission,
          startedAt: event.ts,
          parts: [],
          tools: {},
          status: "running",
          tokenEvents: 0,
          fallbacks: [],
        };
        copied.add(turn);
        list.push(turn);
        d.activeTurnId = event.turnId;
        d.lastModel = event.model;
        break;
      }
      case "turn.token": {
        const turn = findTurn(event.turnId);
        if (!turn) break;
        appendText(turn, "text", event.delta);
        if (turn.answeredBy?.model !== event.model) turn.answeredBy = { ...turn.answeredBy, model: event.model };
        const at = Date.parse(event.ts);
        turn.tokenEvents += 1;
        turn.firstTokenAt ??= at;
        turn.lastTokenAt = at;
        break;
      }
      case "turn.system": {
        const turn = findTurn(event.turnId);
        if (turn) turn.system = { parts: event.parts, sources: event.sources, bytes: event.bytes, hash: event.hash };
        break;
      }
      case "turn.thinking": {
        const turn = findTurn(event.turnId);
        if (turn) appendText(turn, "thinking", event.delta);
        break;
      }
      case "tool.call": {
        const turn = findTurn(event.turnId);
        if (!turn) break;
        turn.tools[event.callId] = {
          callId: event.callId,
          name: event.name,
          args: event.args,
          status: "pending",
          startedAt: event.ts,
        };
        turn.parts.push({ kind: "tool", callId: event.callId });
        break;
      }
      case "permission.request": {
        const turn = findTurn(event.turnId);
        if (turn) {
          updateTool(turn, event.callId, {
            status: "awaiting",
            permission: { requestId: event.requestId, risk: event.risk },
          });
        }
        const current = (next ?? view).approvals;
        if (!current.some((request) => request.requestId === event.requestId)) {
          draft().approvals = [...current, event];
        }
        break;
      }
      case "permission.resolved": {
        const request = (next ?? view).approvals.find((item) => item.requestId === event.requestId);
        removeApprovals((item) => item.requestId === event.requestId);
        const turn = findTurn(event.turnId);
        if (!turn) break;
        const tool = Object.values(turn.tools).find((item) => item.permission?.requestId === event.requestId);
        const callId = tool?.callId ?? request?.callId;
        if (!callId || !turn.tools[callId]) break;
        const previous = turn.tools[callId]!;
        updateTool(turn, callId, {
          status: event.decision === "deny" ? "denied" : previous.status === "awaiting" ? "pending" : previous.status,
          approvedAt: event.ts,
          permission: {
            requestId: event.requestId,
            risk: previous.permission?.risk ?? request?.risk ?? "write",
            decision: event.decision,
            by: event.by,
          },
        });
        break;
      }
      case "tool.result": {
        const turn = findTurn(event.turnId);
        if (!turn) break;
        const previous = turn.tools[event.callId];
        const patch: Partial<ToolView> = {
          status: event.ok ? "ok" : previous?.status === "denied" ? "denied" : "error",
          elapsedMs: runningTime(previous, event.ts, event.elapsedMs),
          ...(event.result !== undefined ? { result: event.result } : {}),
          ...(event.error !== undefined ? { error: event.error } : {}),
          ...(event.summary !== undefined ? { summary: event.summary } : {}),
        };
        if (previous) updateTool(turn, event.callId, patch);
        else {
          // A result without its call (should not happen): show it rather than drop it.
          turn.tools[event.callId] = {
            callId: event.callId,
            name: event.name,
            args: {},
            startedAt: event.ts,
            status: "pending",
            ...patch,
          };
          turn.parts.push({ kind: "tool", callId: event.callId });
        }
        break;
      }
      case "turn.done": {
        const turn = findTurn(event.turnId);
        if (turn) {
          turn.status = "done";
          turn.stats = {
            tokens: event.tokens,
            thinkingTokens: event.thinkingTokens,
            elapsed: event.elapsed,
            tokensPerSec: event.tokensPerSec,
            toolCalls: event.toolCalls,
            steps: event.steps,
            stopReason: event.stopReason,
            ...(event.promptTokens !== undefined ? { promptTokens: event.promptTokens } : {}),
          };
          if (event.model) {
            turn.answeredBy = { model: event.model, ...(event.provider ? { provider: event.provider } : {}) };
          }
        }
        const d = draft();
        if (event.promptTokens !== undefined) d.lastPromptTokens = event.promptTokens;
        endTurn(d, event.turnId);
        removeApprovals((request) => request.turnId === event.turnId);
        break;
      }
      case "turn.error": {
        const turn = findTurn(event.turnId);
        if (turn) {
          turn.status = "error";
          turn.error = { message: event.message, code: event.code, retryable: event.retryable };
        }
        endTurn(draft(), event.turnId);
        removeApprovals((request) => request.turnId === event.turnId);
        break;
      }
      case "session.cancelled": {
        const turn = findTurn(event.turnId);
        if (turn) turn.status = "cancelled";
        endTurn(draft(), event.turnId);
        removeApprovals((request) => request.turnId === event.turnId);
        break;
      }
      case "turn.paused": {
        const turn = findTurn(event.turnId);
        if (turn) {
          turn.status = "paused";
          turn.paused = { steps: event.steps, remainingSteps: event.remainingSteps };
        }
        const d = draft();
        if (d.activeTurnId === event.turnId) d.activeTurnId = undefined;
        d.pausedTurnId = event.turnId;
        // The daemon withdrew them (`permission.resolved` by "pause"); a replay may lack that frame.
        removeApprovals((request) => request.turnId === event.turnId);
        break;
      }
      case "turn.resumed": {
        const turn = findTurn(event.turnId);
        if (turn) {
          turn.status = "running";
          delete turn.paused;
        }
        const d = draft();
        d.activeTurnId = event.turnId;
        if (d.pausedTurnId === event.turnId) d.pausedTurnId = undefined;
        break;
      }
      case "hook.ran": {
        // In the order it happened: pre_tool and post_tool runs right after their call's card, turn_end last.
        const turn = findTurn(event.turnId);
        if (!turn) break;
        const { event: _event, seq: _seq, ts: _ts, turnId: _turnId, sessionId: _sessionId, ...run } = event;
        turn.parts.push({ kind: "hook", run });
        break;
      }
      case "hook.skipped": {
        const turn = findTurn(event.turnId);
        if (!turn) break;
        turn.parts.push({
          kind: "hook-skipped",
          skipped: { scope: event.scope, file: event.file, reason: event.reason },
        });
        break;
      }
      case "provider.fallback": {
        const turn = findTurn(event.turnId);
        if (turn) turn.fallbacks = [...turn.fallbacks, { from: event.from, to: event.to, reason: event.reason }];
        break;
      }
      case "session.renamed":
        draft().title = event.title;
        break;
      case "session.pinned":
        draft().pinned = event.pinned;
        break;
      case "session.compacted": {
        draftItems().push({ kind: "compaction", id: `compaction-${event.seq}`, summary: event.summary, ts: event.ts });
        break;
      }
      case "session.rewound": {
        if (event.turnIds.length === 0) break;
        // The rewound turns (the last ones) leave the timeline, with any compaction made after the first.
        const list = draftItems();
        const first = list.findIndex((item) => item.kind === "turn" && event.turnIds.includes(item.id));
        if (first === -1) break;
        list.splice(first);
        const d = draft();
        d.turnCount = list.filter((item) => item.kind === "turn").length;
        if (d.activeTurnId && event.turnIds.includes(d.activeTurnId)) d.activeTurnId = undefined;
        if (d.pausedTurnId && event.turnIds.includes(d.pausedTurnId)) d.pausedTurnId = undefined;
        break;
      }
    }
  }
  if (!next && lastSeq === view.lastSeq) return view;
  const result = draft();
  result.lastSeq = lastSeq;
  return result;
}

/**
 * How long a tool ran, without the time it waited for approval: from the approval's answer (event
 * times) to its result; a call that never asked keeps the daemon's own measure.
 */
function runningTime(tool: ToolView | undefined, resultTs: string, elapsedMs: number): number {
  if (!tool?.approvedAt) return elapsedMs;
  const ran = Date.parse(resultTs) - Date.parse(tool.approvedAt);
  return Number.isFinite(ran) ? Math.max(0, Math.min(ran, elapsedMs)) : elapsedMs;
}

function endTurn(view: SessionView, turnId: string): void {
  if (view.activeTurnId === turnId) view.activeTurnId = undefined;
  if (view.pausedTurnId === turnId) view.pausedTurnId = undefined;
  // Tools still pending when the turn ends never ran.
}

/** Live tokens per second of a running turn, from the token events' daemon timestamps. */
export function liveTokensPerSecond(turn: TurnView): number | undefined {
  if (turn.firstTokenAt === undefined || turn.lastTokenAt === undefined || turn.tokenEvents < 2) return undefined;
  const seconds = (turn.lastTokenAt - turn.firstTokenAt) / 1000;
  return seconds > 0 ? (turn.tokenEvents - 1) / seconds : undefined;
}

/** The last turn of a view, if any. */
export function lastTurn(view: SessionView): TurnView | undefined {
  for (let index = view.items.length - 1; index >= 0; index--) {
    const item = view.items[index]!;
    if (item.kind === "turn") return item;
  }
  return undefined;
}
