/**
 * Inline approvals: a `permission.request` becomes a prompt ([a]llow / [d]eny / a[l]ways), one at a
 * time; the answer goes to the daemon. Whoever answers first wins (this terminal, the TUI, Code
 * Desktop): a `permission.resolved` from elsewhere withdraws the prompt.
 */
import type { DaemonClient } from "@opta/daemon-client";
import type { PermissionDecision, SessionEventOf } from "@opta/protocol";
import { reportError } from "../output/errors.js";
import { bold, dim, yellow } from "../output/terminal.js";
import { toolLabel } from "./format.js";
import type { Timeline } from "./timeline.js";

type PermissionRequest = SessionEventOf<"permission.request">;

/** Asks the user once; resolves with the raw answer, or undefined when `signal` withdrew the question. */
export type Ask = (question: string, signal: AbortSignal) => Promise<string | undefined>;

/** The words and keys a prompt accepts. */
export function parseDecision(answer: string): PermissionDecision | undefined {
  const word = answer.trim().toLowerCase();
  if (["a", "allow", "y", "yes"].includes(word)) return "allow";
  if (["d", "deny", "n", "no"].includes(word)) return "deny";
  if (["l", "always"].includes(word)) return "always";
  return undefined;
}

/** The lines that introduce a request: what wants to run, and why it asks. */
export function describeRequest(event: PermissionRequest): string[] {
  const stream = process.stderr;
  const lines = [
    `${yellow("?", stream)} ${bold(toolLabel(event.name, event.args, 100), stream)} needs approval (${event.risk})`,
  ];
  if (event.reason) lines.push(dim(`  ${event.reason}`, stream));
  return lines;
}

const PAST: Record<PermissionDecision, string> = { allow: "allowed", deny: "denied", always: "always allowed" };

/** Serialises prompts for one session and sends each answer to the daemon. */
export class ApprovalPrompts {
  private readonly queue: PermissionRequest[] = [];
  private current: { requestId: string; controller: AbortController } | undefined;
  private busy = false;

  constructor(
    private readonly client: DaemonClient,
    private readonly sessionId: string,
    private readonly timeline: Timeline,
    private readonly ask: Ask,
    /** Called when the answer is Ctrl+C (a raw-mode terminal delivers it as a key, not a signal). */
    private readonly onInterrupt?: () => void,
  ) {}

  /** Queues a prompt for this request. */
  request(event: PermissionRequest): void {
    this.queue.push(event);
    void this.pump();
  }

  /** A request was answered (here or elsewhere): withdraw its prompt if it is still open. */
  resolved(event: SessionEventOf<"permission.resolved">): void {
    const queued = this.queue.findIndex((request) => request.requestId === event.requestId);
    if (queued >= 0) this.queue.splice(queued, 1);
    if (this.current?.requestId === event.requestId) {
      this.current.controller.abort();
      this.timeline.release(); // the question is gone: what it held prints before the notice
      this.timeline.line(dim(`  ${PAST[event.decision]} by ${event.by}`, process.stderr));
    }
  }

  /** Withdraws every prompt (the turn ended). */
  clear(): void {
    this.queue.length = 0;
    this.current?.controller.abort();
    // At once, not when the aborted question settles: the next "›" prompt follows right after.
    this.timeline.release();
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) await this.prompt(next);
    } finally {
      this.busy = false;
    }
  }

  private async prompt(event: PermissionRequest): Promise<void> {
    const controller = new AbortController();
    this.current = { requestId: event.requestId, controller };
    try {
      this.timeline.withdrawRunningLine(event.callId);
      for (const line of describeRequest(event)) this.timeline.line(line);
      let decision: PermissionDecision | undefined;
      while (!decision) {
        // Results of calls already allowed keep arriving while this question is open: hold them
        // until it is answered, so they print after the answer instead of inside it.
        this.timeline.hold();
        const answer = await this.ask("  [a]llow / [d]eny / a[l]ways › ", controller.signal);
        this.timeline.release();
        if (answer === undefined || controller.signal.aborted) return;
        if (answer === "\u0003") {
          this.onInterrupt?.();
          return;
        }
        decision = parseDecision(answer);
        if (!decision) this.timeline.line(dim("  answer a (allow), d (deny) or l (always allow)", process.stderr));
      }
      this.current = undefined; // the daemon's permission.resolved for it is ours: no "by" notice
      await this.client.resolvePermission(this.sessionId, event.requestId, decision).catch((error: unknown) => {
        // Someone else answered first, or the turn ended: nothing to do.
        if ((error as { code?: unknown }).code !== "PERMISSION_REQUEST_NOT_FOUND") reportError(error);
      });
    } finally {
      this.timeline.release();
      if (this.current?.requestId === event.requestId) this.current = undefined;
    }
  }
}

/**
 * Reads one key from a terminal in raw mode (for `opta do`). Ctrl+C arrives as "\u0003" rather than
 * a signal while raw, so the caller must treat it as an interrupt.
 */
export function askKey(question: string, signal: AbortSignal): Promise<string | undefined> {
  const stdin = process.stdin;
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(undefined);
    process.stderr.write(question);
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.resume();
    const finish = (answer: string | undefined) => {
      stdin.off("data", onData);
      signal.removeEventListener("abort", onAbort);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      const shown = answer === undefined ? "" : (parseDecision(answer) ?? (answer === "\u0003" ? "^C" : ""));
      process.stderr.write(`${shown}\n`);
      resolve(answer);
    };
    const onData = (data: Buffer) => finish(data.toString("utf8"));
    const onAbort = () => finish(undefined);
    stdin.on("data", onData);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
