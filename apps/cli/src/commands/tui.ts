import type { DaemonClient } from "@opta/daemon-client";
import type { ForkRequest, ResumeTurnRequest } from "@opta/protocol";
import { connect, optaHome } from "../connection.js";
import { CliError } from "../output/errors.js";

/** The daemon calls the TUI needs, from the SDK client. */
function adapt(client: DaemonClient) {
  return {
    createSession: client.createSession.bind(client),
    getSession: client.getSession.bind(client),
    submitTurn: client.submitTurn.bind(client),
    stopTurn: client.stopTurn.bind(client),
    pauseTurn: client.pauseTurn.bind(client),
    resumeTurn: (sessionId: string, request?: ResumeTurnRequest) => client.resumeTurn(sessionId, request),
    rewindSession: client.rewindSession.bind(client),
    forkSession: (sessionId: string, request?: ForkRequest) => client.forkSession(sessionId, request),
    resolvePermission: client.resolvePermission.bind(client),
    models: client.models.bind(client),
    exportMarkdown: (sessionId: string) => client.exportSession(sessionId, { format: "md" }),
    subscribe: client.subscribe.bind(client),
    compact: (sessionId: string) => client.compact(sessionId),
  };
}

/**
 * `opta tui [--session ID] [--model M]`: the full-screen terminal interface for one session. Ink
 * and React are imported only here, when the command runs.
 */
export async function tui(options: { session?: string; model?: string }): Promise<number> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new CliError("opta tui needs a terminal; for piped input use `opta chat`");
  }
  const client = await connect();
  const session = options.session
    ? await client.getSession(options.session)
    : await client.createSession({ cwd: process.cwd(), ...(options.model ? { model: options.model } : {}) });

  // Ink renders nothing but the final frame when it believes it runs in CI (CI=true); a person at
  // a terminal is not CI, so let it draw.
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  const [{ runTui }, { loadCustomCommands }, { RecentStore }] = await Promise.all([
    import("../tui/run.js"),
    import("../tui/commands.js"),
    import("../tui/recent.js"),
  ]);
  const home = optaHome();
  const [customCommands, recent] = await Promise.all([loadCustomCommands(home), RecentStore.forHome(home).load()]);
  const { code, sessionId } = await runTui({
    client: adapt(client),
    session,
    model: options.model,
    customCommands,
    recent,
    cwd: process.cwd(),
  });
  // The session shown last: after /clear that is the new one.
  process.stderr.write(`Session ${sessionId} · resume with: opta tui --session ${sessionId}\n`);
  return code;
}
