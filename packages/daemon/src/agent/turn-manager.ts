import {
  CONFIG_DEFAULTS,
  type CompactResponse,
  createId,
  type PauseTurnResponse,
  type ResumeTurnRequest,
  type ResumeTurnResponse,
  type SessionEventOf,
  type SubmitTurnRequest,
  TurnErrorCode,
} from "@opta/protocol";
import { TurnHooks } from "../hook/index.js";
import { ApiError } from "../server/api-error.js";
import { type AgentDeps, type AgentTurn, runAgentTurn } from "./agent-loop.js";
import { PauseRequested } from "./pause.js";

/** A turn that is running now. */
interface ActiveTurn {
  turnId: string;
  controller: AbortController;
  /** Aborted by `pause`: the loop stops at the next step boundary and records `turn.paused`. */
  pauseController: AbortController;
  finished: Promise<void>;
}

/** What the turn manager needs from the daemon: the agent loop's dependencies. */
export type TurnManagerDeps = AgentDeps;
type TurnSettings = AgentTurn;

/**
 * Runs turns: at most one per session at a time, any number of sessions at once. Every outcome is
 * recorded: a turn ends in exactly one of `turn.done`, `turn.error` or `session.cancelled`. A turn
 * may pause in between (`turn.paused`): it is then not running, survives a restart (its state is
 * in the log), and continues with `resume` or ends with `stop`.
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
    this.refuseWhilePaused(sessionId);
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
    this.start(settings);
    return { turnId: settings.turnId, seq: start.seq };
  }

  /**
   * Pauses the running turn at its next step boundary and waits until `turn.paused` is recorded.
   * `paused` is false when no turn runs, or it ended (done, error) before reaching a boundary.
   */
  async pause(sessionId: string): Promise<PauseTurnResponse> {
    const running = this.active.get(sessionId);
    if (!running) {
      const paused = this.deps.store.get(sessionId)?.pausedTurnId;
      if (paused) return { paused: true, turnId: paused, ...(await this.pausedAt(sessionId, paused)) };
      return { paused: false };
    }
    running.pauseController.abort(new PauseRequested());
    await running.finished;
    const record = this.deps.store.get(sessionId);
    if (record?.pausedTurnId !== running.turnId) return { paused: false, turnId: running.turnId };
    return { paused: true, turnId: running.turnId, ...(await this.pausedAt(sessionId, running.turnId)) };
  }

  /**
   * Continues the session's paused turn: the same turnId, its settings from `turn.start`, the steps
   * it has left, and the whole history the log holds (a restart in between loses nothing).
   */
  async resume(sessionId: string, body: ResumeTurnRequest = {}): Promise<ResumeTurnResponse> {
    const record = this.deps.store.get(sessionId);
    if (!record)
      throw new ApiError("SESSION_NOT_FOUND", `No session '${sessionId}'; list sessions with 'opta sessions list'.`);
    const turnId = record.pausedTurnId;
    if (!turnId || this.active.has(sessionId)) {
      throw new ApiError(
        "NO_PAUSED_TURN",
        `Session ${sessionId} has no paused turn (status ${record.status}); send a new turn with POST /v3/sessions/${sessionId}/turns.`,
      );
    }
    const events = await this.deps.store.readEvents(sessionId);
    const start = events.findLast(
      (event): event is SessionEventOf<"turn.start"> => event.event === "turn.start" && event.turnId === turnId,
    );
    const paused = events.findLast(
      (event): event is SessionEventOf<"turn.paused"> => event.event === "turn.paused" && event.turnId === turnId,
    );
    // Checked again after the read: another resume (or a stop) may have come in meanwhile.
    if (!start || !paused || record.pausedTurnId !== turnId || this.active.has(sessionId)) {
      throw new ApiError("NO_PAUSED_TURN", `Session ${sessionId} has no paused turn to resume.`);
    }
    const settings: TurnSettings = {
      sessionId,
      turnId,
      mode: start.mode,
      model: start.model === "auto" ? undefined : start.model,
      permission: start.permission,
      maxSteps: paused.maxSteps,
      interactive: body.interactive ?? paused.interactive,
      ...(start.sandbox ? { sandbox: start.sandbox } : {}),
      resume: { steps: paused.steps, toolCalls: paused.toolCalls },
    };
    const resumed = this.deps.store.append(sessionId, {
      event: "turn.resumed",
      turnId,
      steps: paused.steps,
      remainingSteps: paused.remainingSteps,
    });
    this.start(settings);
    return { sessionId, turnId, seq: resumed.seq, remainingSteps: paused.remainingSteps };
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
    this.refuseWhilePaused(sessionId);
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
    if (!running) {
      // A paused turn runs nothing: stopping it only records its end.
      const paused = this.deps.store.get(sessionId)?.pausedTurnId;
      if (!paused) return { stopped: false };
      this.deps.store.append(sessionId, { event: "session.cancelled", turnId: paused });
      this.deps.logger.info("session", `Paused turn cancelled · session=${sessionId}`, { turnId: paused });
      await this.endPausedTurn(sessionId, paused);
      return { stopped: true, turnId: paused };
    }
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

  /** Refuses a new turn (or a compaction) while one is paused: it would run ahead of the paused one. */
  refuseWhilePaused(sessionId: string): void {
    const paused = this.deps.store.get(sessionId)?.pausedTurnId;
    if (paused) {
      throw new ApiError(
        "TURN_PAUSED",
        `Session ${sessionId} has paused turn ${paused}; resume it with POST /v3/sessions/${sessionId}/resume ('opta do --session ${sessionId} --resume') or stop it with POST /v3/sessions/${sessionId}/stop first.`,
      );
    }
  }

  private start(settings: TurnSettings): void {
    const { sessionId } = settings;
    const controller = new AbortController();
    const pauseController = new AbortController();
    const finished = this.run(settings, controller.signal, pauseController.signal).finally(() =>
      this.active.delete(sessionId),
    );
    this.active.set(sessionId, { turnId: settings.turnId, controller, pauseController, finished });
  }

  /**
   * A stopped paused turn has ended: its turn_end hooks run now (a pause deferred them), with the
   * steps it took before the pause and the sandbox it started with.
   */
  private async endPausedTurn(sessionId: string, turnId: string): Promise<void> {
    const record = this.deps.store.get(sessionId);
    if (!record) return;
    const events = await this.deps.store.readEvents(sessionId);
    const start = events.findLast(
      (event): event is SessionEventOf<"turn.start"> => event.event === "turn.start" && event.turnId === turnId,
    );
    const paused = events.findLast(
      (event): event is SessionEventOf<"turn.paused"> => event.event === "turn.paused" && event.turnId === turnId,
    );
    try {
      const hooks = await TurnHooks.load({
        home: this.deps.home,
        sessionId,
        turnId,
        cwd: record.cwd,
        ...(start?.sandbox ? { sandbox: start.sandbox } : {}),
        append: (event) => this.deps.store.append(sessionId, event),
        redact: this.deps.redact ?? ((text: string) => text),
        logger: this.deps.logger,
      });
      if (hooks.has("turn_end")) {
        await hooks.turnEnd(
          { outcome: "cancelled", steps: paused?.steps ?? 0, toolCalls: paused?.toolCalls ?? 0 },
          undefined,
        );
      }
    } catch (error) {
      this.deps.logger.warn("session", `turn_end hooks: ${(error as Error).message}`, { sessionId, turnId });
    }
  }

  /** Steps taken and left, from the turn's last `turn.paused`. */
  private async pausedAt(sessionId: string, turnId: string): Promise<{ steps?: number; remainingSteps?: number }> {
    const events = await this.deps.store.readEvents(sessionId);
    const paused = events.findLast(
      (event): event is SessionEventOf<"turn.paused"> => event.event === "turn.paused" && event.turnId === turnId,
    );
    return paused ? { steps: paused.steps, remainingSteps: paused.remainingSteps } : {};
  }

  private refuseWhileCompacting(sessionId: string): void {
    if (this.compacting.has(sessionId)) {
      throw new ApiError(
        "TURN_IN_PROGRESS",
        `Session ${sessionId} is being compacted; wait for it or stop it with POST /v3/sessions/${sessionId}/stop.`,
      );
    }
  }

  private async run(settings: TurnSettings, signal: AbortSignal, pause: AbortSignal): Promise<void> {
    try {
      await runAgentTurn(this.deps, settings, signal, pause);
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
