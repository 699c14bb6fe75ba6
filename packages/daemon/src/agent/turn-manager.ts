import {
  CONFIG_DEFAULTS,
  createId,
  type Mode,
  type OptaConfig,
  type PermissionLevel,
  type StopReason,
  type SubmitTurnRequest,
  TurnErrorCode,
} from "@opta/protocol";
import type { Logger } from "../log/logger.js";
import type { ProviderRegistry } from "../provider/registry.js";
import { ProviderError } from "../provider/types.js";
import { ApiError } from "../server/api-error.js";
import type { SessionStore } from "../session/store.js";
import { buildConversation } from "./conversation.js";

/** A turn that is running now. */
interface ActiveTurn {
  turnId: string;
  controller: AbortController;
  finished: Promise<void>;
}

/** What the turn manager needs from the daemon. */
export interface TurnManagerDeps {
  store: SessionStore;
  providers: ProviderRegistry;
  logger: Logger;
  config: () => OptaConfig;
}

/** Settings one turn runs with, after per-turn overrides. */
interface TurnSettings {
  sessionId: string;
  turnId: string;
  mode: Mode;
  model: string | undefined;
  permission: PermissionLevel;
}

/**
 * Runs turns: at most one per session at a time, any number of sessions at once. Every outcome is
 * recorded: a turn ends in exactly one of `turn.done`, `turn.error` or `session.cancelled`.
 */
export class TurnManager {
  private readonly active = new Map<string, ActiveTurn>();

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
    };
    const start = this.deps.store.append(sessionId, {
      event: "turn.start",
      turnId: settings.turnId,
      role: "user",
      text: body.text,
      mode: settings.mode,
      model: settings.model ?? "auto",
      permission: settings.permission,
    });
    const controller = new AbortController();
    const finished = this.run(settings, controller.signal).finally(() => this.active.delete(sessionId));
    this.active.set(sessionId, { turnId: settings.turnId, controller, finished });
    return { turnId: settings.turnId, seq: start.seq };
  }

  /** Cancels the running turn of a session and waits until its cancellation is recorded. */
  async stop(sessionId: string): Promise<{ stopped: boolean; turnId?: string }> {
    const running = this.active.get(sessionId);
    if (!running) return { stopped: false };
    running.controller.abort(new Error("cancelled by user"));
    await running.finished;
    return { stopped: true, turnId: running.turnId };
  }

  /** Cancels every running turn (daemon shutdown). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.active.keys()].map((sessionId) => this.stop(sessionId)));
  }

  isActive(sessionId: string): boolean {
    return this.active.has(sessionId);
  }

  private async run(settings: TurnSettings, signal: AbortSignal): Promise<void> {
    const { store, providers, logger } = this.deps;
    const { sessionId, turnId } = settings;
    const startedAt = performance.now();
    let tokens = 0;
    let countedTokens = 0;
    let thinkingTokens = 0;
    let countedThinking = 0;
    let promptTokens: number | undefined;
    let streamingMs = 0;
    let steps = 0;
    const toolCalls = 0;
    let stopReason: StopReason = "stop";
    try {
      const resolved = await providers.resolve(settings.model, signal);
      logger.info("session", `Turn submitted · session=${sessionId} model=${resolved.provider.name}/${resolved.model}`);
      const history = buildConversation(await store.readEvents(sessionId));
      steps += 1;
      const stepStarted = performance.now();
      for await (const chunk of resolved.provider.stream({ model: resolved.model, messages: history, signal })) {
        if (signal.aborted) break;
        switch (chunk.type) {
          case "text":
            countedTokens += 1;
            store.append(sessionId, { event: "turn.token", turnId, delta: chunk.delta, model: resolved.model });
            break;
          case "reasoning":
            countedThinking += 1;
            store.append(sessionId, { event: "turn.thinking", turnId, delta: chunk.delta });
            break;
          case "usage":
            tokens += chunk.completionTokens;
            promptTokens = chunk.promptTokens;
            if (chunk.reasoningTokens !== undefined) thinkingTokens += chunk.reasoningTokens;
            break;
          case "finish":
            stopReason = chunk.reason === "length" ? "length" : "stop";
            break;
          case "tool-call":
            // Tools are offered only by the agent loop; a model that calls one anyway is told so next turn.
            break;
        }
      }
      streamingMs += performance.now() - stepStarted;
      if (signal.aborted) throw signal.reason ?? new Error("cancelled");
      const outputTokens = tokens || countedTokens;
      const elapsed = (performance.now() - startedAt) / 1000;
      store.append(sessionId, {
        event: "turn.done",
        turnId,
        tokens: outputTokens,
        thinkingTokens: thinkingTokens || countedThinking,
        elapsed: round(elapsed, 3),
        tokensPerSec: streamingMs > 0 ? round(outputTokens / (streamingMs / 1000), 1) : 0,
        toolCalls,
        steps,
        stopReason,
        ...(promptTokens !== undefined ? { promptTokens } : {}),
      });
      logger.info("session", `Turn complete · ${outputTokens} tokens · ${round(elapsed, 1)}s`, { sessionId, turnId });
    } catch (error) {
      if (signal.aborted) {
        store.append(sessionId, { event: "session.cancelled", turnId });
        logger.info("session", `Turn cancelled · session=${sessionId}`, { turnId });
        return;
      }
      const providerError = error instanceof ProviderError ? error : undefined;
      const message = (error as Error).message || "the turn failed";
      store.append(sessionId, {
        event: "turn.error",
        turnId,
        code: providerError?.code ?? (message.startsWith("No model to use") ? "NO_MODEL" : TurnErrorCode.internal),
        message,
        retryable: providerError?.retryable ?? false,
      });
      logger.warn("session", `Turn failed · ${message}`, { sessionId, turnId });
    }
  }
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
