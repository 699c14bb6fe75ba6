/**
 * The session as the TUI shows it: turns (your text, then the assistant's text, thinking and tool
 * calls in the order they happened, then the outcome), notices, and the approvals waiting for an
 * answer. Built by applying the daemon's events in seq order, whether replayed or live.
 *
 * Entries are mutated in place while their turn runs; each change bumps the entry's `revision`,
 * which is what the line cache keys on, so a finished turn is laid out once and never again.
 */
import type {
  Mode,
  PermissionDecision,
  PermissionRequestEvent,
  Risk,
  SessionEvent,
  TurnDoneEvent,
} from "@opta/protocol";
import { hookSummary } from "../agent-view/format.js";

/** Assistant text between tool calls. */
export interface TextPart {
  kind: "text";
  text: string;
}

/** Reasoning text, counted separately. */
export interface ThinkingPart {
  kind: "thinking";
  text: string;
  /** Deltas received (one per streamed token). */
  tokens: number;
}

/** One tool call and what became of it. */
export interface ToolPart {
  kind: "tool";
  callId: string;
  name: string;
  args: Record<string, unknown>;
  permission?: { requestId: string; risk: Risk; decision?: PermissionDecision; by?: string };
  result?: { ok: boolean; summary?: string; error?: string; elapsedMs: number; value?: unknown };
}

/** The turn's provider failed before its first token and the turn went on with the next one. */
export interface FallbackPart {
  kind: "fallback";
  /** `provider/model` that failed. */
  from: string;
  /** `provider/model` the turn continues with. */
  to: string;
  reason: string;
}

/** A user's hook that ran (a denial, a failure, turn_end) or a hooks file not used, as one line. */
export interface HookPart {
  kind: "hook";
  text: string;
  tone: "ok" | "warn" | "error";
}

export type Part = TextPart | ThinkingPart | ToolPart | FallbackPart | HookPart;

/** One turn: the user's text and everything the assistant did for it. */
export interface TurnEntry {
  kind: "turn";
  id: string;
  revision: number;
  text: string;
  mode: Mode;
  model: string;
  parts: Part[];
  status: "running" | "paused" | "done" | "error" | "cancelled";
  /** Set while paused: steps taken and steps left (from `turn.paused`). */
  paused?: { steps: number; remainingSteps: number };
  done?: TurnDoneEvent;
  error?: { message: string; code: string };
}

/** A line the TUI or the session adds between turns (session start, compaction, a command's result). */
export interface NoticeEntry {
  kind: "notice";
  id: string;
  revision: number;
  tone: "info" | "error" | "muted" | "success";
  text: string;
}

export type Entry = TurnEntry | NoticeEntry;

/** A tool call waiting for allow / deny / always. */
export type PendingApproval = Pick<
  PermissionRequestEvent,
  "requestId" | "callId" | "turnId" | "name" | "args" | "risk" | "reason" | "suggestion"
>;

let noticeCounter = 0;

/** The state built from one session's events. */
export class Timeline {
  entries: Entry[] = [];
  approvals: PendingApproval[] = [];
  /** Highest seq applied. */
  lastSeq = 0;
  /** The running turn, if any. */
  activeTurn: TurnEntry | undefined;
  /** The paused turn, if any (not running; resume or stop it before a new one). */
  pausedTurn: TurnEntry | undefined;
  /** Stats of the last finished turn, for the status bar. */
  lastDone: TurnDoneEvent | undefined;
  /** From session.start. */
  session: { title: string; cwd: string; mode: Mode; model: string } | undefined;
  /** Model of the latest turn (the session's current model on resume). */
  lastTurnModel: string | undefined;
  /**
   * The model the latest turn asked for (undefined when it named none: "auto"). Unlike
   * `lastTurnModel` never the one that answered, which a fallback provider may have been.
   */
  lastRequestedModel: string | undefined;
  #turns = new Map<string, TurnEntry>();

  /** Adds a notice line (not from the daemon). */
  notice(text: string, tone: NoticeEntry["tone"] = "info"): NoticeEntry {
    const entry: NoticeEntry = { kind: "notice", id: `n-${++noticeCounter}`, revision: 0, tone, text };
    this.entries.push(entry);
    return entry;
  }

  /** Applies one event; events at or below `lastSeq` are ignored. */
  apply(event: SessionEvent): void {
    if (event.seq <= this.lastSeq) return;
    this.lastSeq = event.seq;
    switch (event.event) {
      case "session.start":
        this.session = { title: event.title, cwd: event.cwd, mode: event.mode, model: event.model };
        break;
      case "turn.start": {
        const turn: TurnEntry = {
          kind: "turn",
          id: event.turnId,
          revision: 0,
          text: event.text,
          mode: event.mode,
          model: event.model,
          parts: [],
          status: "running",
        };
        this.#turns.set(event.turnId, turn);
        this.entries.push(turn);
        this.activeTurn = turn;
        this.lastTurnModel = event.model;
        this.lastRequestedModel = event.model === "auto" ? undefined : event.model;
        break;
      }
      case "turn.token": {
        const turn = this.#turn(event.turnId);
        if (!turn || !event.delta) break;
        const last = turn.parts.at(-1);
        if (last?.kind === "text") last.text += event.delta;
        else turn.parts.push({ kind: "text", text: event.delta });
        if (event.model && event.model !== turn.model) {
          // The model that actually answers ("auto" resolves to a real one).
          turn.model = event.model;
          this.lastTurnModel = event.model;
        }
        turn.revision++;
        break;
      }
      case "turn.thinking": {
        const turn = this.#turn(event.turnId);
        if (!turn || !event.delta) break;
        const last = turn.parts.at(-1);
        if (last?.kind === "thinking") {
          last.text += event.delta;
          last.tokens++;
        } else turn.parts.push({ kind: "thinking", text: event.delta, tokens: 1 });
        turn.revision++;
        break;
      }
      case "tool.call": {
        const turn = this.#turn(event.turnId);
        if (!turn) break;
        const existing = findTool(turn, event.callId);
        if (existing) existing.args = event.args;
        else turn.parts.push({ kind: "tool", callId: event.callId, name: event.name, args: event.args });
        turn.revision++;
        break;
      }
      case "permission.request": {
        const turn = this.#turn(event.turnId);
        if (turn) {
          let tool = findTool(turn, event.callId);
          if (!tool) {
            tool = { kind: "tool", callId: event.callId, name: event.name, args: event.args };
            turn.parts.push(tool);
          }
          tool.permission = { requestId: event.requestId, risk: event.risk };
          turn.revision++;
        }
        this.approvals.push({
          requestId: event.requestId,
          callId: event.callId,
          turnId: event.turnId,
          name: event.name,
          args: event.args,
          risk: event.risk,
          reason: event.reason,
          suggestion: event.suggestion,
        });
        break;
      }
      case "permission.resolved": {
        this.approvals = this.approvals.filter((approval) => approval.requestId !== event.requestId);
        const turn = this.#turn(event.turnId);
        if (!turn) break;
        for (const part of turn.parts) {
          if (part.kind === "tool" && part.permission?.requestId === event.requestId) {
            part.permission.decision = event.decision;
            part.permission.by = event.by;
            turn.revision++;
          }
        }
        break;
      }
      case "tool.result": {
        const turn = this.#turn(event.turnId);
        if (!turn) break;
        let tool = findTool(turn, event.callId);
        if (!tool) {
          tool = { kind: "tool", callId: event.callId, name: event.name, args: {} };
          turn.parts.push(tool);
        }
        tool.result = {
          ok: event.ok,
          summary: event.summary,
          error: event.error,
          elapsedMs: event.elapsedMs,
          value: event.result,
        };
        turn.revision++;
        break;
      }
      case "turn.done":
        this.#end(event.turnId, (turn) => {
          turn.status = "done";
          turn.done = event;
          this.lastDone = event;
        });
        break;
      case "turn.error":
        this.#end(event.turnId, (turn) => {
          turn.status = "error";
          turn.error = { message: event.message, code: event.code };
        });
        break;
      case "session.cancelled":
        this.#end(event.turnId, (turn) => {
          turn.status = "cancelled";
        });
        break;
      case "turn.paused": {
        const turn = this.#turn(event.turnId);
        this.approvals = this.approvals.filter((approval) => approval.turnId !== event.turnId);
        if (!turn) break;
        turn.status = "paused";
        turn.paused = { steps: event.steps, remainingSteps: event.remainingSteps };
        turn.revision++;
        if (this.activeTurn === turn) this.activeTurn = undefined;
        this.pausedTurn = turn;
        break;
      }
      case "turn.resumed": {
        const turn = this.#turn(event.turnId);
        if (!turn) break;
        turn.status = "running";
        delete turn.paused;
        turn.revision++;
        this.activeTurn = turn;
        if (this.pausedTurn === turn) this.pausedTurn = undefined;
        break;
      }
      case "session.rewound": {
        // From the log, so every client that follows the session says the same.
        const turns = event.turnIds.length;
        const files = event.files.filter((file) => file.action !== "unchanged");
        const parts = [
          ...(event.scope === "files" ? [] : [`${turns} turn${turns === 1 ? "" : "s"} out of the conversation`]),
          ...(event.scope === "conversation"
            ? []
            : [
                files.length === 0
                  ? "no file to put back"
                  : `files: ${files.map((file) => `${file.action} ${file.path}`).join(", ")}`,
              ]),
        ];
        this.notice(`⟲ rewound to ${event.toTurnId} (${event.scope}): ${parts.join("; ")}`, "muted");
        break;
      }
      case "hook.ran": {
        const turn = this.#turn(event.turnId);
        const hook = hookSummary(event);
        if (!turn || !hook.notable) break;
        turn.parts.push({ kind: "hook", text: hook.text, tone: hook.tone });
        turn.revision++;
        break;
      }
      case "hook.skipped": {
        const turn = this.#turn(event.turnId);
        if (!turn) break;
        turn.parts.push({ kind: "hook", text: `hooks in ${event.file} not used: ${event.reason}`, tone: "warn" });
        turn.revision++;
        break;
      }
      case "provider.fallback": {
        const turn = this.#turn(event.turnId);
        if (!turn) break;
        turn.parts.push({ kind: "fallback", from: event.from, to: event.to, reason: event.reason });
        turn.revision++;
        break;
      }
      case "session.compacted": {
        const first = event.summary.split("\n").find((line) => line.trim()) ?? "";
        const covered = event.turnIds?.length ? ` (${event.turnIds.length} turns)` : "";
        this.notice(`⟲ context compacted${covered}: ${first}`, "muted");
        break;
      }
      default:
        break;
    }
  }

  #turn(turnId: string): TurnEntry | undefined {
    return this.#turns.get(turnId);
  }

  #end(turnId: string, update: (turn: TurnEntry) => void): void {
    const turn = this.#turn(turnId);
    this.approvals = this.approvals.filter((approval) => approval.turnId !== turnId);
    if (!turn) return;
    update(turn);
    turn.revision++;
    if (this.activeTurn === turn) this.activeTurn = undefined;
    if (this.pausedTurn === turn) this.pausedTurn = undefined;
    delete turn.paused;
  }
}

function findTool(turn: TurnEntry, callId: string): ToolPart | undefined {
  for (const part of turn.parts) if (part.kind === "tool" && part.callId === callId) return part;
  return undefined;
}
