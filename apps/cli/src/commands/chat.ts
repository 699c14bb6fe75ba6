import { createInterface } from "node:readline";
import type { SessionEvent } from "@opta/protocol";
import { TURN_END_EVENTS } from "@opta/protocol";
import { ApprovalPrompts, type Ask, describeRequest } from "../agent-view/approvals.js";
import { Timeline } from "../agent-view/timeline.js";
import { connect } from "../connection.js";
import { reportError } from "../output/errors.js";
import { dim, notice, red, truncate } from "../output/terminal.js";

/**
 * `opta chat [--session ID] [--model M]`: a line-mode REPL. Each line is one turn; tokens print as
 * they arrive. Ctrl+C cancels the running turn; Ctrl+C when idle (or end of input) exits. Works
 * with piped stdin: lines run one after another and the exit code is 1 if any turn failed.
 */
export async function chat(options: { session?: string; model?: string }): Promise<number> {
  const client = await connect();
  const session = options.session
    ? await client.getSession(options.session)
    : await client.createSession({ cwd: process.cwd(), ...(options.model ? { model: options.model } : {}) });
  const interactive = Boolean(process.stdin.isTTY);
  notice(
    dim(
      `opta chat · session ${session.id} · model ${options.model ?? (session.model || "default")}` +
        (interactive ? " · Ctrl+C cancels a turn, Ctrl+C when idle exits" : ""),
      process.stderr,
    ),
  );

  /** The turn this REPL submitted and is waiting for. */
  let waiting: { turnId?: string; cancelling: boolean; finish: (event: SessionEvent) => void } | undefined;
  /** End events that arrived before the submit call returned the turn id. */
  const ended = new Map<string, SessionEvent>();
  let failed = false;
  const timeline = new Timeline({ thinking: interactive });
  /** Inline approvals on a terminal: the readline interface asks, one request at a time. */
  const askLine: Ask = (question, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve(undefined);
      signal.addEventListener(
        "abort",
        () => {
          // The withdrawn question stays on screen: end its line so the next output starts clean.
          process.stdout.write("\n");
          resolve(undefined);
        },
        { once: true },
      );
      input.question(question, { signal }, resolve);
    });
  const approvals = interactive ? new ApprovalPrompts(client, session.id, timeline, askLine) : undefined;

  const render = (event: SessionEvent) => {
    switch (event.event) {
      case "turn.start":
        timeline.beginTurn();
        // A turn another client started in this session: show what was asked.
        if (!waiting) timeline.line(dim(`› ${truncate(event.text, 200)}`, process.stderr));
        else if (waiting.turnId === undefined) waiting.turnId = event.turnId;
        break;
      case "permission.request":
        if (approvals && waiting && (waiting.turnId === undefined || waiting.turnId === event.turnId)) {
          approvals.request(event);
        } else {
          // Nobody can answer here (piped input, or another client's turn): say how it can be.
          for (const line of describeRequest(event)) timeline.line(line);
          timeline.line(
            dim("  answer it in `opta tui` or Code Desktop, or allow it in .opta/policy.yaml:", process.stderr),
          );
          for (const line of (event.suggestion ?? "").split("\n").filter(Boolean)) timeline.line(`    ${line}`);
        }
        break;
      case "permission.resolved":
        approvals?.resolved(event);
        break;
      case "turn.done": {
        timeline.endLine();
        const tools = event.toolCalls > 0 ? ` · ${event.toolCalls} tool call${event.toolCalls === 1 ? "" : "s"}` : "";
        timeline.line(
          dim(
            `[${event.tokens} tokens · ${event.tokensPerSec.toFixed(1)} tok/s · ${event.elapsed.toFixed(1)}s${tools}]`,
            process.stderr,
          ),
        );
        if (event.stopReason === "max_steps") {
          timeline.line(
            dim(`[stopped at the step limit after ${event.steps} steps; say "continue" to go on]`, process.stderr),
          );
        }
        break;
      }
      case "turn.error":
        timeline.line(red(`error: ${event.message}`, process.stderr));
        break;
      case "session.cancelled":
        timeline.line(dim("[cancelled]", process.stderr));
        break;
      case "turn.paused":
        // Paused from another client: this REPL stops waiting; the turn goes on where it is resumed.
        timeline.endLine();
        timeline.line(
          dim(
            `[paused after ${event.steps} step${event.steps === 1 ? "" : "s"}; resume with: opta do --session ${event.sessionId} --resume]`,
            process.stderr,
          ),
        );
        if (waiting?.turnId === event.turnId) {
          approvals?.clear();
          waiting.finish(event);
        } else ended.set(event.turnId, event);
        break;
      default:
        timeline.handle(event);
        break;
    }
    if (TURN_END_EVENTS.has(event.event) && "turnId" in event) {
      if (waiting?.turnId === event.turnId) {
        approvals?.clear();
        waiting.finish(event);
      } else ended.set(event.turnId, event);
    }
  };

  let connectionLost = false;
  const subscription = client.subscribe(session.id, {
    afterSeq: session.lastSeq,
    onEvent: render,
    onStatus: (status) => {
      if (status === "disconnected" && !connectionLost) {
        connectionLost = true;
        notice(dim("[lost the daemon; reconnecting…]", process.stderr));
      } else if (status === "connected" && connectionLost) {
        connectionLost = false;
        notice(dim("[reconnected]", process.stderr));
      }
    },
    onError: (error) => notice(red(`error: ${error.message}`, process.stderr)),
  });

  const runTurn = async (text: string): Promise<void> => {
    const done = new Promise<SessionEvent>((resolve) => {
      waiting = { cancelling: false, finish: resolve };
    });
    try {
      // Piped input has no one to answer approval prompts: a call that would ask is denied at once,
      // with the policy line that would allow it (instead of the turn waiting forever).
      const { turnId } = await client.submitTurn(session.id, {
        text,
        ...(options.model ? { model: options.model } : {}),
        ...(interactive ? {} : { interactive: false }),
        // OPTA_POLICY=unrestricted on this command means this chat, whatever the daemon was started with.
        ...(process.env.OPTA_POLICY === "unrestricted" ? { permission: "unrestricted" as const } : {}),
      });
      if (waiting) waiting.turnId = turnId;
      const early = ended.get(turnId);
      if (early) waiting?.finish(early);
      const end = await done;
      if (end.event === "turn.error") failed = true;
    } catch (error) {
      failed = true;
      reportError(error);
    } finally {
      waiting = undefined;
      ended.clear();
    }
  };

  const input = createInterface({
    input: process.stdin,
    output: interactive ? process.stdout : undefined,
    terminal: interactive,
  });
  input.setPrompt("› ");

  return new Promise<number>((resolve) => {
    const lines: string[] = [];
    let inputClosed = false;
    let busy = false;
    let finished = false;

    const finish = (code: number) => {
      if (finished) return;
      finished = true;
      subscription.close();
      input.close();
      resolve(code);
    };

    const pump = async () => {
      if (busy) return;
      busy = true;
      while (lines.length > 0 && !finished) {
        const text = lines.shift()!.trim();
        if (!text) continue;
        if (text === "/exit" || text === "/quit") return finish(failed ? 1 : 0);
        if (text.startsWith("/")) {
          await slashCommand(text);
          continue;
        }
        await runTurn(text);
      }
      busy = false;
      if (inputClosed) finish(failed ? 1 : 0);
      else if (interactive) input.prompt();
    };

    /** The few commands a line-mode chat understands; anything else starting with `/` is not sent. */
    const slashCommand = async (text: string) => {
      const [name] = text.split(/\s+/, 1);
      if (name === "/compact") {
        try {
          const result = await client.compact(session.id);
          timeline.line(
            dim(
              result.compacted
                ? "[compacted: later turns see a summary of the earlier ones]"
                : "[nothing to compact yet]",
              process.stderr,
            ),
          );
        } catch (error) {
          reportError(error);
        }
        return;
      }
      if (name === "/help") {
        timeline.line(dim("/compact summarise the history · /exit leave · Ctrl+C cancel a turn", process.stderr));
        return;
      }
      timeline.line(red(`unknown command ${name}; try /help (for the full palette use opta tui)`, process.stderr));
    };

    const interrupt = () => {
      if (!waiting) {
        timeline.endLine();
        return finish(failed ? 1 : 0);
      }
      if (waiting.cancelling) return finish(130); // second Ctrl+C while the cancel is pending
      waiting.cancelling = true;
      timeline.line(dim("^C cancelling…", process.stderr));
      client.stopTurn(session.id).catch((error: unknown) => reportError(error));
    };

    input.on("line", (line) => {
      lines.push(line);
      void pump();
    });
    input.on("close", () => {
      inputClosed = true;
      if (!busy) finish(failed ? 1 : 0);
    });
    input.on("SIGINT", interrupt); // terminal mode: readline turns Ctrl+C into this event
    process.on("SIGINT", interrupt); // piped mode: a real signal
    if (interactive) input.prompt();
  });
}
