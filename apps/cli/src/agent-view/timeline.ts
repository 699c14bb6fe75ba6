/**
 * The compact live view of an agent turn: the model's text streams to stdout, and everything else
 * (tool calls, step headers, notices) goes to stderr as one line each, so `opta do … > answer.txt`
 * captures only the answer. `opta do` and `opta chat` share it.
 */
import type { SessionEvent, SessionEventOf } from "@opta/protocol";
import { dim, green, red, yellow } from "../output/terminal.js";
import { terminalSafe } from "../tui/text.js";
import { commandFailed, hookSummary, isNonInteractiveDenial, outcomeText, policyLines, toolLabel } from "./format.js";

/** How a timeline renders. */
export interface TimelineOptions {
  /** stderr is a terminal: a running tool's line shows "…" and is rewritten when it finishes. */
  live?: boolean;
  /** Print reasoning deltas (dim, on stderr). */
  thinking?: boolean;
  /** Print a "step N" line when the model starts another step after tool results. */
  steps?: boolean;
}

/** A policy snippet that would have let a denied call run (from a non-interactive denial). */
export interface MissingApproval {
  label: string;
  policy: string[];
}

export class Timeline {
  /** Which stream has an unfinished line: the answer (stdout) or a running tool (stderr). */
  private partial: "out" | "err" | undefined;
  /** The call whose "…" line is the unfinished stderr line. */
  private openCall: string | undefined;
  private readonly calls = new Map<string, { name: string; args: Record<string, unknown> }>();
  private running = 0;
  private step = 1;
  private stepPending = false;
  private readonly options: Required<TimelineOptions>;
  /**
   * Writes held back while a prompt waits for an answer (see `hold`), replayed in order on
   * `release`: a line printed under an open question would land inside what the user types.
   */
  private held: Array<{ stream: NodeJS.WriteStream; text: string }> | undefined;
  /** Calls denied because nobody could approve them, with the policy lines that would allow them. */
  readonly missingApprovals: MissingApproval[] = [];
  /** Tool calls seen (for the final line). */
  toolCalls = 0;

  constructor(options: TimelineOptions = {}) {
    this.options = {
      live: options.live ?? Boolean(process.stderr.isTTY),
      thinking: options.thinking ?? Boolean(process.stderr.isTTY),
      steps: options.steps ?? true,
    };
  }

  /**
   * A new turn starts: its steps count from 1 again (a REPL keeps one timeline for every turn).
   * Calls still counted as running belong to a turn that ended without their results.
   */
  beginTurn(): void {
    this.step = 1;
    this.stepPending = false;
    this.running = 0;
    this.calls.clear();
  }

  /** Holds every write until `release` (an approval question is open on the terminal). */
  hold(): void {
    this.held ??= [];
  }

  /** Writes what `hold` kept back, in order, and writes directly again. */
  release(): void {
    const held = this.held;
    this.held = undefined;
    for (const { stream, text } of held ?? []) stream.write(text);
  }

  /** Renders one event; events this view does not show are ignored. */
  handle(event: SessionEvent): void {
    switch (event.event) {
      case "turn.start":
        this.beginTurn();
        return;
      case "turn.token":
        if (!event.delta) return;
        this.announceStep();
        this.finishPartial("out");
        this.write(process.stdout, event.delta);
        this.partial = event.delta.endsWith("\n") ? undefined : "out";
        return;
      case "turn.thinking":
        if (!this.options.thinking || !event.delta) return;
        this.announceStep();
        this.finishPartial("err");
        this.write(process.stderr, dim(event.delta, process.stderr));
        this.partial = event.delta.endsWith("\n") ? undefined : "err";
        this.openCall = undefined;
        return;
      case "tool.call":
        this.announceStep();
        this.toolCall(event);
        return;
      case "tool.result":
        this.toolResult(event);
        return;
      case "provider.fallback":
        this.line(dim(`↪ ${event.from} failed (${event.reason}); continuing with ${event.to}`, process.stderr));
        return;
      case "hook.ran": {
        const hook = hookSummary(event);
        if (!hook.notable) return;
        const paint = hook.tone === "error" ? red : hook.tone === "warn" ? yellow : dim;
        this.line(`${dim("⚓", process.stderr)} ${paint(hook.text, process.stderr)}`);
        return;
      }
      case "hook.skipped":
        this.line(yellow(`⚓ hooks in ${event.file} not used: ${event.reason}`, process.stderr));
        return;
      default:
        return;
    }
  }

  /** Ends any unfinished line, so the next output starts at the beginning of a line. */
  endLine(): void {
    if (this.partial === "out") this.write(process.stdout, "\n");
    if (this.partial === "err") this.write(process.stderr, "\n");
    this.partial = undefined;
    this.openCall = undefined;
  }

  /** Writes one line to stderr, after ending any unfinished line. */
  line(text: string): void {
    this.endLine();
    this.write(process.stderr, `${text}\n`);
  }

  /**
   * Clears the running line of `callId` if it is the last thing on screen, so an approval prompt
   * for that call takes its place instead of following a dangling "…".
   */
  withdrawRunningLine(callId: string): void {
    if (this.partial !== "err" || this.openCall !== callId) return;
    this.write(process.stderr, "\r\u001b[K");
    this.partial = undefined;
    this.openCall = undefined;
  }

  private toolCall(event: SessionEventOf<"tool.call">): void {
    this.calls.set(event.callId, { name: event.name, args: event.args });
    this.toolCalls += 1;
    this.running += 1;
    if (!this.options.live) return; // a non-terminal gets one line per call, when it finishes
    this.endLine();
    this.write(
      process.stderr,
      `${dim("▸", process.stderr)} ${toolLabel(event.name, event.args)} ${dim("…", process.stderr)}`,
    );
    this.partial = "err";
    this.openCall = event.callId;
  }

  private toolResult(event: SessionEventOf<"tool.result">): void {
    const call = this.calls.get(event.callId) ?? { name: event.name, args: {} };
    const label = toolLabel(call.name, call.args);
    const mark = event.ok ? green("✓", process.stderr) : red("✗", process.stderr);
    const unaskable = !event.ok && isNonInteractiveDenial(event.error);
    let outcome = unaskable ? "denied: needs approval, and there is no terminal to ask on" : outcomeText(event);
    if (event.ok && commandFailed(event.result)) outcome = yellow(outcome, process.stderr);
    const text = `${dim("▸", process.stderr)} ${label} ${mark} ${event.ok ? outcome : red(outcome, process.stderr)}`;
    if (this.partial === "err" && this.openCall === event.callId) {
      this.write(process.stderr, `\r\u001b[K${text}\n`);
      this.partial = undefined;
      this.openCall = undefined;
    } else this.line(text);
    if (unaskable) {
      const policy = policyLines(event.error ?? "");
      this.missingApprovals.push({ label, policy });
      if (policy.length) {
        this.write(process.stderr, `${dim("  to allow it, add to .opta/policy.yaml:", process.stderr)}\n`);
        for (const line of policy) this.write(process.stderr, `    ${line}\n`);
      }
    }
    this.running = Math.max(0, this.running - 1);
    if (this.running === 0) {
      // Every call of this batch is back: the model's next output belongs to the next step.
      this.step += 1;
      this.stepPending = true;
    }
  }

  private announceStep(): void {
    if (!this.stepPending) return;
    this.stepPending = false;
    if (this.options.steps) this.line(dim(`· step ${this.step}`, process.stderr));
  }

  /** Before writing to `stream`, ends the other stream's unfinished line. */
  private finishPartial(stream: "out" | "err"): void {
    if (this.partial && (this.partial !== stream || this.openCall !== undefined)) this.endLine();
  }

  /**
   * What the model, tools and hooks sent never drives the terminal: stderr (this view's lines) is
   * always made safe, stdout (the answer) when it is a terminal; piped to a file, the answer stays
   * exactly as the model wrote it.
   */
  private write(stream: NodeJS.WriteStream, text: string): void {
    const safe = stream === process.stderr || stream.isTTY ? terminalSafe(text) : text;
    if (this.held) this.held.push({ stream, text: safe });
    else stream.write(safe);
  }
}
