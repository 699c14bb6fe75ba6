import { CONFIG_DEFAULTS, type CompactResponse, createId, type SubmitTurnRequest, TurnErrorCode } from "@opta/protocol";
import { ApiError } from "../server/api-error.js";
import { type AgentDeps, type AgentTurn, runAgentTurn } from "./agent-loop.js";

/** A turn that is running now. */
interface ActiveTurn {
  turnId: string;
  controller: AbortController;
  finished: Promise<void>;
}

/** What the turn manager needs from the daemon: the agent loop's dependencies. */
export type TurnManagerDeps = AgentDeps;
type TurnSettings = AgentTurn;

/**
 * Runs turns: at most one per session at a time, any number of sessions at once. Every outcome is
 * recorded: a turn ends in exactly one of `turn.done`, `turn.error` or `session.cancelled`.
 */
export class TurnManager {
  private readonly active = new Map<string, ActiveTurn>();
  /** Compactions asked for by `POST /compact`, running now: `stop` cancels them as it cancels turns. */
  private readonly compacting = new Map<string, { controller: AbortController; finished: Promise<unknown> }>();

  constructor(private readonly deps: TurnManagerDeps) {}

  /** Starts a turn; throws TURN_IN_PROGRESS when the session is already running one. */
  submit(sessionId: string, body: SubmitTurnRequest): { turnId: string; seq: number } {
    const record = this.deps.store.get(sessionId);
    if (!record)
      throw new ApiError("SESSION_NOT_FOUND", `No session '${sessionId}'; list sessions with 'opta sessions list'.`);
    const running = this.active.get(sessionId);
    if (running) {
      throw new ApiError(
        "TURN_IN_PROGRESS",
        `Session ${sessionId} is already running turn ${running.turnId}; wait for it or stop it with POST /v3/sessions/${sessionId}/stop.`,
      );
    }
    this.refuseWhileCompacting(sessionId);
    const config = this.deps.config();
    const settings: TurnSettings = {
      sessionId,
      turnId: createId("t"),
      mode: body.mode ?? record.mode,
      model: body.model ?? (record.model || undefined) ?? config["default-model"],
      permission:
        body.permission ??
        (process.env.OPTA_POLICY === "unrestricted"
          ? "unrestricted"
          : (config.permission ?? CONFIG_DEFAULTS.permission)),
      maxSteps: body.maxSteps ?? config["max-steps"] ?? CONFIG_DEFAULTS["max-steps"],
      interactive: body.interactive ?? true,
      // OPTA_POLICY=unrestricted lifts prompts, never the sandbox: only an explicit `sandbox` does.
      ...(body.sandbox ? { sandbox: body.sandbox } : {}),
    };
    const start = this.deps.store.append(sessionId, {
      event: "turn.start",
      turnId: settings.turnId,
      role: "user",
      text: body.text,
      mode: settings.mode,
      model: settings.model ?? "auto",
      permission: settings.permission,
      ...(settings.sandbox ? { sandbox: settings.sandbox } : {}),
    });
    const controller = new AbortController();
    const finished = this.run(settings, controller.signal).finally(() => this.active.delete(sessionId));
    this.active.set(sessionId, { turnId: settings.turnId, controller, finished });
    return { turnId: settings.turnId, seq: start.seq };
  }

  /**
   * Runs a compaction of the session (`POST /compact`) under a signal that `stop` aborts; a stopped
   * one is recorded as `compaction.cancelled` and leaves the history as it was.
   */
  async compact(
    sessionId: string,
    run: (signal: AbortSignal) => Promise<string | undefined>,
  ): Promise<CompactResponse> {
    if (this.active.has(sessionId)) {
      throw new ApiError("TURN_IN_PROGRESS", `Session ${sessionId} is running a turn; compact it when the turn ends.`);
    }
    this.refuseWhileCompacting(sessionId);
    const controller = new AbortController();
    const done = (async (): Promise<CompactResponse> => {
      try {
        const summary = await run(controller.signal);
        return summary === undefined ? { compacted: false } : { compacted: true, summary };
      } catch (error) {
        if (!controller.signal.aborted) throw error;
        this.deps.store.append(sessionId, { event: "compaction.cancelled" });
        this.deps.logger.info("session", `Compaction cancelled · session=${sessionId}`);
        return { compacted: false, cancelled: true };
      } finally {
        this.compacting.delete(sessionId);
      }
    })();
    this.compacting.set(sessionId, { controller, finished: done.catch(() => undefined) });
    return done;
  }

  /** Cancels the running turn (or compaction) of a session and waits until its cancellation is recorded. */
  async stop(sessionId: string): Promise<{ stopped: boolean; turnId?: string }> {
    const compaction = this.compacting.get(sessionId);
    if (compaction) {
      compaction.controller.abort(new Error("cancelled by user"));
      await compaction.finished;
      return { stopped: true };
    }
    const running = this.active.get(sessionId);
    if (!running) return { stopped: false };
    running.controller.abort(new Error("cancelled by user"));
    await running.finished;
    return { stopped: true, turnId: running.turnId };
  }

  /** Cancels every running turn and compaction (daemon shutdown). */
  async stopAll(): Promise<void> {
    const sessions = new Set([...this.active.keys(), ...this.compacting.keys()]);
    await Promise.all([...sessions].map((sessionId) => this.stop(sessionId)));
  }

  isActive(sessionId: string): boolean {
    return this.active.has(sessionId) || this.compacting.has(sessionId);
  }

  private refuseWhileCompacting(sessionId: string): void {
    if (this.compacting.has(sessionId)) {
      throw new ApiError(
        "TURN_IN_PROGRESS",
        `Session ${sessionId} is being compacted; wait for it or stop it with POST /v3/sessions/${sessionId}/stop.`,
      );
    }
  }

  private async run(settings: TurnSettings, signal: AbortSignal): Promise<void> {
    try {
      await runAgentTurn(this.deps, settings, signal);
    } catch (error) {
      // runAgentTurn records its own failures; this only catches a bug in recording them.
      this.deps.logger.error("session", `Turn ${settings.turnId} crashed: ${(error as Error).message}`, {
        stack: (error as Error).stack,
      });
      try {
        this.deps.store.append(settings.sessionId, {
          event: "turn.error",
          turnId: settings.turnId,
          code: TurnErrorCode.internal,
          message: "The daemon hit an internal error in this turn; see 'opta daemon logs --level error'.",
          retryable: true,
        });
      } catch {
        // the store is closed (daemon stopping): the turn is marked interrupted on the next start
      }
    }
  }
}
