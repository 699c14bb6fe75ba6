import type { SessionEvent } from "@opta/protocol";
import { elapsed, firstLine, isNonInteractiveDenial, outcomeText, toolLabel } from "../agent-view/format.js";
import { connect } from "../connection.js";
import { print, table } from "../output/terminal.js";

/** How a call got past (or was stopped at) the permission gate. */
export type ToolDecision = "allowed" | "approved" | "always" | "denied" | "pending" | "not-run";

/** One tool call of a session, as `opta sessions tools --json` prints it. */
export interface ToolCallRecord {
  /** Call id (`c-…`). */
  callId: string;
  /** Turn the call belongs to. */
  turnId: string;
  /** When the model asked for it (ISO-8601). */
  ts: string;
  /** Tool name. */
  name: string;
  /** Arguments as the model sent them. */
  args: Record<string, unknown>;
  /** allowed (by policy, no prompt) · approved / always (answered in a prompt) · denied · pending · not-run. */
  decision: ToolDecision;
  /** Who decided: "policy", "user", "no-terminal", "cancel", or the name a client gave. */
  decidedBy: string | null;
  /** The permission request, when one was asked. */
  requestId: string | null;
  /** Outcome: true ok, false failed, null not finished. */
  ok: boolean | null;
  summary: string | null;
  error: string | null;
  elapsedMs: number | null;
}

/** `opta sessions tools <id> [--json]`: every tool call of a session with its decision and outcome. */
export async function tools(id: string, options: { json?: boolean }): Promise<number> {
  const client = await connect();
  const session = await client.getSession(id);
  const { events } = await client.events(session.id);
  const calls = toolCalls(events);
  if (options.json) {
    print(JSON.stringify({ sessionId: session.id, calls }, null, 2));
    return 0;
  }
  if (calls.length === 0) {
    print(`Session ${session.id} made no tool calls.`);
    return 0;
  }
  table(
    ["TIME", "TOOL", "DECISION", "OUTCOME"],
    calls.map((call) => [time(call.ts), toolLabel(call.name, call.args, 50), decisionText(call), outcome(call)]),
  );
  return 0;
}

/** Folds the event log into one record per tool call, in the order the model asked for them. */
export function toolCalls(events: readonly SessionEvent[]): ToolCallRecord[] {
  const byCall = new Map<string, ToolCallRecord>();
  const byRequest = new Map<string, ToolCallRecord>();
  const endedTurns = new Set<string>();
  for (const event of events) {
    switch (event.event) {
      case "tool.call":
        byCall.set(event.callId, {
          callId: event.callId,
          turnId: event.turnId,
          ts: event.ts,
          name: event.name,
          args: event.args,
          decision: "pending",
          decidedBy: null,
          requestId: null,
          ok: null,
          summary: null,
          error: null,
          elapsedMs: null,
        });
        break;
      case "permission.request": {
        const call = byCall.get(event.callId);
        if (!call) break;
        call.requestId = event.requestId;
        byRequest.set(event.requestId, call);
        break;
      }
      case "permission.resolved": {
        const call = byRequest.get(event.requestId);
        if (!call) break;
        call.decision = event.decision === "allow" ? "approved" : event.decision === "always" ? "always" : "denied";
        call.decidedBy = event.by;
        break;
      }
      case "tool.result": {
        const call = byCall.get(event.callId);
        if (!call) break;
        call.ok = event.ok;
        call.summary = event.summary ?? null;
        call.error = event.error ?? null;
        call.elapsedMs = event.elapsedMs;
        if (call.requestId === null) classifyUnasked(call);
        break;
      }
      case "turn.done":
      case "turn.error":
      case "session.cancelled":
        endedTurns.add(event.turnId);
        break;
      default:
        break;
    }
  }
  const calls = [...byCall.values()];
  // A call whose turn ended without a result (the daemon stopped mid-call) was never decided.
  for (const call of calls)
    if (call.ok === null && call.decision === "pending" && endedTurns.has(call.turnId)) call.decision = "not-run";
  return calls;
}

/** A call the gate did not ask about: allowed by policy, denied by it, or refused before the gate. */
function classifyUnasked(call: ToolCallRecord): void {
  const error = call.error ?? "";
  if (call.ok || !/^(denied:|there is no tool|arguments |this exact )/.test(error)) {
    call.decision = "allowed";
    call.decidedBy = "policy";
  } else if (error.startsWith("denied:")) {
    call.decision = "denied";
    call.decidedBy = isNonInteractiveDenial(error) ? "no-terminal" : "policy";
  } else call.decision = "not-run"; // unknown tool, bad arguments, or a repeated call
}

/** Plain text: the table pads columns by length, so no colour codes here. */
function decisionText(call: ToolCallRecord): string {
  switch (call.decision) {
    case "allowed":
      return "allowed by policy";
    case "approved":
      return `approved by ${call.decidedBy}`;
    case "always":
      return `always (by ${call.decidedBy})`;
    case "denied":
      if (call.decidedBy === "no-terminal") return "denied: needs approval, no terminal";
      if (call.decidedBy === "cancel") return "denied: turn cancelled";
      return `denied by ${call.decidedBy}`;
    case "pending":
      return call.requestId ? "waiting for approval" : "running";
    case "not-run":
      return "not run";
  }
}

function outcome(call: ToolCallRecord): string {
  if (call.ok === null) return call.decision === "not-run" ? "unfinished" : "…";
  if (call.decision === "denied") return "not run"; // the decision column says why
  if (!call.ok) return `error: ${firstLine(call.error ?? "")} · ${elapsed(call.elapsedMs ?? 0)}`;
  return `ok · ${outcomeText({ ok: true, summary: call.summary ?? undefined, elapsedMs: call.elapsedMs ?? 0 })}`;
}

/** Local wall-clock time of an ISO timestamp, HH:MM:SS. */
function time(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toTimeString().slice(0, 8);
}
