import { createId, type PermissionDecision, type Risk, type SandboxLevel } from "@opta/protocol";
import type { SessionStore } from "../session/store.js";
import { PauseRequested } from "./pause.js";

interface Pending {
  sessionId: string;
  turnId: string;
  finish: (decision: PermissionDecision, by: string) => void;
}

/** One approval the agent loop waits for. */
export interface ApprovalRequest {
  sessionId: string;
  turnId: string;
  callId: string;
  name: string;
  args: Record<string, unknown>;
  risk: Risk;
  reason?: string;
  suggestion?: string;
  /** For a command: its sandbox level, or `unavailable` when it would run unsandboxed. */
  sandbox?: SandboxLevel | "unavailable";
}

/**
 * Pending permission requests. The agent loop records `permission.request` and waits; whichever client
 * answers first (CLI, TUI, Desktop, another tab) resolves it, `permission.resolved` is recorded, and
 * every client clears its prompt from that event. A cancelled turn resolves its requests as denied.
 */
export class ApprovalBroker {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly store: SessionStore) {}

  /** Records the request and resolves with the decision (deny when `signal` aborts first). */
  request(request: ApprovalRequest, signal: AbortSignal): Promise<PermissionDecision> {
    const requestId = createId("p");
    return new Promise<PermissionDecision>((resolve) => {
      const finish = (decision: PermissionDecision, by: string) => {
        if (!this.pending.delete(requestId)) return;
        signal.removeEventListener("abort", onAbort);
        this.store.append(request.sessionId, {
          event: "permission.resolved",
          turnId: request.turnId,
          requestId,
          decision,
          by,
        });
        resolve(decision);
      };
      const onAbort = () => finish("deny", signal.reason instanceof PauseRequested ? "pause" : "cancel");
      this.pending.set(requestId, {
        sessionId: request.sessionId,
        turnId: request.turnId,
        finish,
      });
      this.store.append(request.sessionId, {
        event: "permission.request",
        turnId: request.turnId,
        requestId,
        callId: request.callId,
        name: request.name,
        args: request.args,
        risk: request.risk,
        ...(request.reason ? { reason: request.reason } : {}),
        ...(request.suggestion ? { suggestion: request.suggestion } : {}),
        ...(request.sandbox ? { sandbox: request.sandbox } : {}),
      });
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Answers a pending request; false when there is none with that id in that session. */
  resolve(sessionId: string, requestId: string, decision: PermissionDecision, by: string): boolean {
    const pending = this.pending.get(requestId);
    if (!pending || pending.sessionId !== sessionId) return false;
    pending.finish(decision, by);
    return true;
  }

  /** Requests waiting now, for status pages. */
  count(): number {
    return this.pending.size;
  }
}
