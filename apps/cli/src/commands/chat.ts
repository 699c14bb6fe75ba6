import { createInterface } from "node:readline";
import type { SessionEvent } from "@opta/protocol";
import { TURN_END_EVENTS } from "@opta/protocol";
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
    : await client.createSession(options.model ? { model: options.model } : {});
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
  let midLine = false;
  let failed = false;

  const endLine = () => {
    if (midLine) process.stdout.write("\n");
    midLine = false;
  };

  const render = (event: SessionEvent) => {
    switch (event.event) {
      case "turn.start":
        // A turn another client started in this session: show what was asked.
        if (!waiting) notice(dim(`› ${truncate(event.text, 200)}`, process.stderr));
        else if (waiting.turnId === undefined) waiting.turnId = event.turnId;
        break;
      case "turn.token":
        process.stdout.write(event.delta);
        if (event.delta) midLine = !event.delta.endsWith("\n");
        break;
      case "turn.thinking":
        if (interactive) process.stderr.write(dim(event.delta, process.stderr));
        break;
      case "tool.call":
        endLine();
        notice(dim(`[tool] ${event.name} ${truncate(JSON.stringify(event.args), 120)}`, process.stderr));
        break;
      case "permission.request":
        endLine();
        notice(`[permission] ${event.name} (${event.risk}) is waiting for approval (request ${event.requestId})`);
        break;
      case "tool.result":
        notice(dim(`[tool] ${event.name} ${event.ok ? "ok" : `failed: ${event.error ?? ""}`}`, process.stderr));
        break;
      case "turn.done":
        endLine();
        notice(
          dim(
            `[${event.tokens} tokens · ${event.tokensPerSec.toFixed(1)} tok/s · ${event.elapsed.toFixed(1)}s]`,
            process.stderr,
          ),
        );
        break;
      case "turn.error":
        endLine();
        notice(red(`error: ${event.message}`, process.stderr));
        break;
      case "session.cancelled":
        endLine();
        notice(dim("[cancelled]", process.stderr));
        break;
      default:
        break;
    }
    if (TURN_END_EVENTS.has(event.event) && "turnId" in event) {
      if (waiting?.turnId === event.turnId) waiting.finish(event);
      else ended.set(event.turnId, event);
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
      const { turnId } = await client.submitTurn(session.id, options.model ? { text, model: options.model } : { text });
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
        await runTurn(text);
      }
      busy = false;
      if (inputClosed) finish(failed ? 1 : 0);
      else if (interactive) input.prompt();
    };

    const interrupt = () => {
      if (!waiting) {
        endLine();
        return finish(failed ? 1 : 0);
      }
      if (waiting.cancelling) return finish(130); // second Ctrl+C while the cancel is pending
      waiting.cancelling = true;
      endLine();
      notice(dim("^C cancelling…", process.stderr));
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
