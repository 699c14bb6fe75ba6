import {
  PermissionLevel,
  SandboxLevel,
  type SessionEvent,
  type SessionEventOf,
  type SubmitTurnRequest,
} from "@opta/protocol";
import { ApprovalPrompts, askKey, describeRequest } from "../agent-view/approvals.js";
import { Timeline } from "../agent-view/timeline.js";
import { connect } from "../connection.js";
import { reportError, UsageError } from "../output/errors.js";
import { notifyDesktop } from "../output/notify.js";
import { dim, green, notice, red, truncate, yellow } from "../output/terminal.js";

/** Options of `opta do` as commander passes them. */
export interface DoOptions {
  maxSteps?: string;
  session?: string;
  model?: string;
  permission?: string;
  sandbox?: string;
  watch?: boolean;
  resume?: boolean;
}

type TurnEnd =
  | SessionEventOf<"turn.done">
  | SessionEventOf<"turn.error">
  | SessionEventOf<"session.cancelled">
  | SessionEventOf<"turn.paused">;

/** How long to wait for the daemon to record a cancellation before giving up on it. */
const CANCEL_WAIT_MS = 5000;

/**
 * `opta do <task…>`: runs one agent turn in Do mode in the current directory (or continues
 * `--session`), streaming a compact timeline. Approvals are asked inline on a terminal; without one
 * a call that would ask is denied with the policy line to add. The first Ctrl+C pauses the turn
 * after its running tool calls (`--session ID --resume` continues it), a second one cancels it.
 * Exit codes: 0 the task finished, 1 it failed, hit max-steps, was cancelled elsewhere or needed an
 * approval no one could give, 130 Ctrl+C (paused or cancelled).
 */
export async function run(taskWords: string[], options: DoOptions): Promise<number> {
  const task = taskWords.join(" ").trim();
  if (options.resume) refuseWithResume(task, options);
  else if (!task) throw new UsageError('say what to do: opta do "add a --verbose flag to cli.ts"');
  const maxSteps = parseMaxSteps(options.maxSteps);
  const permission = parsePermission(options.permission);
  const sandbox = parseSandbox(options.sandbox);
  const interactive = Boolean(process.stdin.isTTY);

  const client = await connect();
  const session = options.session
    ? await client.getSession(options.session)
    : await client.createSession({
        cwd: process.cwd(),
        mode: "do",
        title: truncate(task, 200),
        ...(options.model ? { model: options.model } : {}),
      });
  notice(
    dim(
      `opta do · session ${session.id} · ${session.cwd}` +
        (options.resume
          ? " · resuming the paused turn"
          : options.session
            ? ` · continuing (${session.turnCount} turns)`
            : "") +
        (interactive ? " · Ctrl+C pauses, twice cancels" : ""),
      process.stderr,
    ),
  );

  const timeline = new Timeline();
  let turnId: string | undefined;
  /** Ctrl+C presses so far: the first pauses, the second cancels, the third stops waiting. */
  let presses = 0;
  let interrupted = false;
  const early: SessionEvent[] = [];
  let endTurn!: (event: TurnEnd | undefined) => void;
  const ended = new Promise<TurnEnd | undefined>((resolve) => {
    endTurn = resolve;
  });

  const interrupt = () => {
    presses += 1;
    approvals?.clear();
    if (presses === 1) {
      timeline.line(dim("^C pausing after the running tool calls… (Ctrl+C again cancels)", process.stderr));
      if (turnId) void pause();
      return;
    }
    if (interrupted) return endTurn(undefined); // a third Ctrl+C: stop waiting
    interrupted = true;
    timeline.line(dim("^C cancelling…", process.stderr));
    if (turnId) void cancel();
  };
  const pause = async () => {
    try {
      // Answers once turn.paused is recorded; the stream then ends the wait with it.
      await client.pauseTurn(session.id);
    } catch (error) {
      reportError(error);
    }
  };
  const cancel = async () => {
    try {
      await client.stopTurn(session.id);
    } catch (error) {
      reportError(error);
    }
    // The cancellation is recorded before stop answers; give the stream a moment to deliver it.
    setTimeout(() => endTurn(undefined), CANCEL_WAIT_MS).unref();
  };
  const approvals = interactive ? new ApprovalPrompts(client, session.id, timeline, askKey, interrupt) : undefined;

  const handle = (event: SessionEvent) => {
    if (!("turnId" in event) || event.turnId !== turnId) return;
    switch (event.event) {
      case "permission.request":
        if (approvals) approvals.request(event);
        else {
          // Only a turn submitted as interactive asks; say where it can be answered.
          for (const line of describeRequest(event)) timeline.line(line);
          timeline.line(dim("  answer it in `opta tui` or Code Desktop, or press Ctrl+C to cancel", process.stderr));
        }
        return;
      case "permission.resolved":
        approvals?.resolved(event);
        return;
      case "turn.done":
      case "turn.error":
      case "session.cancelled":
      case "turn.paused":
        timeline.endLine();
        endTurn(event);
        return;
      case "turn.resumed":
        return;
      default:
        timeline.handle(event);
    }
  };

  const subscription = client.subscribe(session.id, {
    afterSeq: session.lastSeq,
    onEvent: (event) => (turnId === undefined ? early.push(event) : handle(event)),
    onError: (error) => notice(red(`error: ${error.message}`, process.stderr)),
  });
  process.on("SIGINT", interrupt);

  try {
    if (options.resume) {
      turnId = (await client.resumeTurn(session.id, { interactive })).turnId;
    } else {
      const body: SubmitTurnRequest = {
        text: task,
        mode: "do",
        interactive,
        ...(maxSteps !== undefined ? { maxSteps } : {}),
        ...(options.model ? { model: options.model } : {}),
        ...(permission ? { permission } : {}),
        ...(sandbox ? { sandbox } : {}),
      };
      turnId = (await client.submitTurn(session.id, body)).turnId;
    }
    for (const event of early.splice(0)) handle(event);
    if (interrupted) void cancel();
    else if (presses === 1) void pause();

    const end = await ended;
    approvals?.clear();
    const outcome = describeEnd(end, interrupted, session.id, timeline);
    timeline.line(outcome.line);
    for (const hint of outcome.hints) notice(dim(hint, process.stderr));
    if (options.watch)
      await notifyDesktop(
        "Opta",
        `${outcome.code === 0 ? "Done" : end?.event === "turn.paused" ? "Paused" : "Failed"}: ${truncate(task || session.title, 80)} · ${outcome.short}`,
      );
    return outcome.code;
  } catch (error) {
    return reportError(error);
  } finally {
    process.off("SIGINT", interrupt);
    subscription.close();
  }
}

/** The final line, hints, a short summary for the notification, and the exit code. */
function describeEnd(
  end: TurnEnd | undefined,
  interrupted: boolean,
  sessionId: string,
  timeline: Timeline,
): { line: string; hints: string[]; short: string; code: number } {
  const stream = process.stderr;
  const resume = `continue with: opta do --session ${sessionId} "continue"`;
  if (end?.event === "turn.paused") {
    const steps = `${end.steps} step${end.steps === 1 ? "" : "s"}`;
    return {
      line: yellow(`Paused after ${steps} — resume with: opta do --session ${sessionId} --resume`, stream),
      hints: [
        `${end.remainingSteps} of ${end.maxSteps} steps left; 'opta tui --session ${sessionId}' resumes it too, 'opta sessions show ${sessionId}' shows it`,
      ],
      short: `paused after ${steps}`,
      code: 130,
    };
  }
  if (interrupted || end === undefined) {
    return { line: yellow("✗ cancelled", stream), hints: [resume], short: "cancelled", code: 130 };
  }
  if (end.event === "turn.error") {
    return { line: red(`✗ failed: ${end.message}`, stream), hints: [], short: end.message, code: 1 };
  }
  if (end.event === "session.cancelled") {
    return { line: yellow("✗ cancelled by another client", stream), hints: [resume], short: "cancelled", code: 1 };
  }
  const steps = `${end.steps} step${end.steps === 1 ? "" : "s"}`;
  const stats = [
    steps,
    `${end.toolCalls} tool call${end.toolCalls === 1 ? "" : "s"}`,
    `${end.tokens} token${end.tokens === 1 ? "" : "s"}`,
    `${end.tokensPerSec.toFixed(1)} tok/s`,
    `${end.elapsed.toFixed(1)}s`,
  ].join(" · ");
  if (end.stopReason === "max_steps") {
    return {
      line: red(`✗ stopped: reached the step limit (${steps}) before the task was done · ${stats}`, stream),
      hints: [resume, "or raise the limit with --max-steps N (config: opta config set max-steps N)"],
      short: `step limit reached after ${steps}`,
      code: 1,
    };
  }
  if (end.stopReason === "length") {
    return {
      line: red(`✗ stopped: the model's answer was cut off (output length limit) · ${stats}`, stream),
      hints: [resume],
      short: "answer cut off",
      code: 1,
    };
  }
  const missing = timeline.missingApprovals.length;
  if (missing > 0) {
    return {
      line: yellow(
        `✗ finished, but ${missing} tool call${missing === 1 ? "" : "s"} needed approval and ${missing === 1 ? "was" : "were"} denied · ${stats}`,
        stream,
      ),
      hints: [
        "no terminal to ask on: add the policy lines shown above to .opta/policy.yaml, or run opta do in a terminal",
      ],
      short: `${missing} call${missing === 1 ? "" : "s"} needed approval`,
      code: 1,
    };
  }
  return { line: green(`✓ done · ${stats}`, stream), hints: [], short: stats, code: 0 };
}

/** `--resume` continues a paused turn as it was submitted: a task or per-turn settings would be lost. */
function refuseWithResume(task: string, options: DoOptions): void {
  if (!options.session) {
    throw new UsageError("--resume continues a paused turn of a session: opta do --session ID --resume");
  }
  if (task) {
    throw new UsageError(
      `--resume continues the paused turn as it was; drop the task text, or stop the paused turn first (opta sessions show ${options.session}) and send a new one`,
    );
  }
  const settings = (["maxSteps", "model", "permission", "sandbox"] as const).filter(
    (key) => options[key] !== undefined,
  );
  if (settings.length > 0) {
    const flags = settings.map((key) => (key === "maxSteps" ? "--max-steps" : `--${key}`)).join(", ");
    throw new UsageError(
      `${flags} cannot change a paused turn; --resume keeps the turn's own settings and step budget`,
    );
  }
}

function parseMaxSteps(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 1000) {
    throw new UsageError(`--max-steps must be a whole number from 1 to 1000; got '${value}'`);
  }
  return number;
}

function parseSandbox(value: string | undefined): SandboxLevel | undefined {
  if (value === undefined) return undefined;
  const parsed = SandboxLevel.safeParse(value);
  if (!parsed.success) {
    throw new UsageError(`--sandbox must be one of ${SandboxLevel.options.join(", ")}; got '${value}'`);
  }
  return parsed.data;
}

function parsePermission(value: string | undefined): PermissionLevel | undefined {
  // OPTA_POLICY=unrestricted on this command means this run, even when the daemon was started without it.
  if (value === undefined) return process.env.OPTA_POLICY === "unrestricted" ? "unrestricted" : undefined;
  const parsed = PermissionLevel.safeParse(value);
  if (!parsed.success) {
    throw new UsageError(`--permission must be one of ${PermissionLevel.options.join(", ")}; got '${value}'`);
  }
  return parsed.data;
}
