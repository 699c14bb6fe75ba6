import {
  createId,
  type Mode,
  type OptaConfig,
  type PermissionLevel,
  type SandboxLevel,
  type SessionEvent,
  type StopReason,
  TurnErrorCode,
} from "@opta/protocol";
import type { Checkpointer } from "../checkpoint/checkpointer.js";
import { type TurnEnding, TurnHooks } from "../hook/index.js";
import type { Logger } from "../log/logger.js";
import {
  evaluatePermission,
  type GateResult,
  loadPolicies,
  type PermissionQuery,
  type PolicySet,
  persistAlwaysRule,
  suggestPolicyLine,
} from "../permission/index.js";
import type { ProviderRegistry } from "../provider/registry.js";
import type { ChatMessage, ModelDetail, ToolSpec } from "../provider/types.js";
import { ProviderError } from "../provider/types.js";
import { DEFAULT_SANDBOX_LEVEL, gateCommand } from "../sandbox/index.js";
import type { SessionStore } from "../session/store.js";
import { executeTool, type ToolDefinition, type ToolOutcome } from "../tool/index.js";
import type { ToolContext } from "../tool/types.js";
import { redactValue } from "../vault/mask.js";
import type { ApprovalBroker } from "./approvals.js";
import { compactSession } from "./compact.js";
import { buildConversation, stringifyResult } from "./conversation.js";
import { knownContextWindow, outputTokenCap } from "./limits.js";
import { gitSnapshot, systemMessageForTurn } from "./system-prompt/index.js";

/** Tool calls run at once when the model asks for several. */
export const MAX_CONCURRENT_TOOL_CALLS = 8;
/** The same call (name and arguments) this many times in one turn is refused as a loop. */
const DOOM_LOOP_REPEATS = 3;

/** What the agent loop needs from the daemon. */
export interface AgentDeps {
  store: SessionStore;
  providers: ProviderRegistry;
  logger: Logger;
  approvals: ApprovalBroker;
  home: string;
  config: () => OptaConfig;
  /**
   * Masks secrets the daemon knows (its token, API keys), as they are and encoded, in text that would
   * otherwise reach the session log, the exports and the model: tool results, the model's own
   * answer, thinking and tool-call arguments. Identity when absent.
   */
  redact?: (text: string) => string;
  /** The same masking for text that streams in deltas (a secret may be split across two). */
  redactStream?: () => TextRedactor;
  /** Makes every stored key known to `redact` before a turn runs (not only those read so far). */
  secretsReady?: () => Promise<void>;
  /** Every tool the model may call: the built-ins plus those of connected MCP servers. */
  tools: (cwd: string) => readonly AgentTool[] | Promise<readonly AgentTool[]>;
  /** Records a checkpoint before each file tool call (absent: none, e.g. in unit tests). */
  checkpoints?: Pick<Checkpointer, "before">;
  /** Called once a turn has ended, however it ended (MCP: closes the loop's browser). */
  turnEnded?: (turn: { sessionId: string; turnId: string }) => void;
}

/** Masks a stream of deltas: `push` returns what can be let go now, `flush` the rest at the end. */
export interface TextRedactor {
  push(delta: string): string;
  flush(): string;
}

/** A tool as the loop sees it: built-in tools are `read`/`write`/`execute`, MCP tools `mcp`. */
export type AgentTool = Omit<ToolDefinition, "kind"> & { kind: ToolDefinition["kind"] | "mcp" };

/** One turn's settings after per-turn overrides. */
export interface AgentTurn {
  sessionId: string;
  turnId: string;
  mode: Mode;
  model: string | undefined;
  permission: PermissionLevel;
  maxSteps: number;
  interactive: boolean;
  /** The turn's own sandbox level for commands; beats the policy's `sandbox:`. */
  sandbox?: SandboxLevel;
  /** Set when this run continues a paused turn: what it had done before the pause. */
  resume?: { steps: number; toolCalls: number };
}

interface PendingCall {
  callId: string;
  name: string;
  args: Record<string, unknown>;
  /** `args` with secrets masked: what the session log, clients and the model see (the gate and the tool get `args`). */
  shownArgs: Record<string, unknown>;
  rawArgs: unknown;
  argsError?: string;
}

/**
 * The agent loop: generate → tool calls → results → generate, until the model answers without a
 * tool call, the user cancels, or `maxSteps` is reached. Every step is an event in the session log, so
 * every client sees it live and a resumed session continues from exactly what happened.
 *
 * `pause` aborting pauses the turn at the next step boundary: running tool calls finish, a model call
 * in flight is dropped (its step does not count), an approval not yet given is withdrawn, and
 * `turn.paused` is recorded. A later run with `turn.resume` set continues it from the log.
 */
export async function runAgentTurn(
  deps: AgentDeps,
  turn: AgentTurn,
  signal: AbortSignal,
  pause: AbortSignal = new AbortController().signal,
): Promise<void> {
  const { store, providers, logger } = deps;
  const { sessionId, turnId } = turn;
  const session = store.get(sessionId);
  if (!session) throw new Error(`unknown session ${sessionId}`);
  const startedAt = performance.now();
  const stats = { usageTokens: 0, countedTokens: 0, usageThinking: 0, countedThinking: 0, streamingMs: 0 };
  let promptTokens: number | undefined;
  // Of the last request's prompt, the tokens the provider reused from its cache (when it reports them).
  let cachedTokens: number | undefined;
  let steps = turn.resume?.steps ?? 0;
  let toolCallCount = turn.resume?.toolCalls ?? 0;
  // Model calls and approvals end on a pause as on a cancel; tool calls that run end only on a cancel.
  const stepSignal = AbortSignal.any([signal, pause]);
  const pausedNow = () => pause.aborted && !signal.aborted;
  let stopReason: StopReason = "stop";
  const repeats = new Map<string, number>();

  const redact = deps.redact ?? ((text: string) => text);
  // Lets go (masked) what the current step's stream masks hold back; also when the step breaks off.
  let flushHeldText = () => {};
  let hooks: TurnHooks | undefined;
  let ending: TurnEnding["outcome"] = "error";
  // A paused turn has not ended: its turn_end hooks run when the resumed run ends it.
  let paused = false;
  try {
    await deps.secretsReady?.();
    // Loaded first, so turn_end hooks run even when the turn fails before its first step (no model).
    const turnHooks = await TurnHooks.load({
      home: deps.home,
      sessionId,
      turnId,
      cwd: session.cwd,
      ...(turn.sandbox ? { sandbox: turn.sandbox } : {}),
      append: (event) => store.append(sessionId, event),
      redact,
      logger,
    });
    hooks = turnHooks;
    const resolved = await providers.resolve(turn.model, signal, {
      onFallback: (fallback) => store.append(sessionId, { event: "provider.fallback", turnId, ...fallback }),
    });
    logger.info("session", `Turn submitted · session=${sessionId} model=${resolved.provider.name}/${resolved.model}`, {
      turnId,
      mode: turn.mode,
    });
    const tools = await deps.tools(session.cwd);
    const toolByName = new Map(tools.map((tool) => [tool.name, tool]));
    const toolSpecs: ToolSpec[] = tools.map((tool) => ({
      type: "function",
      function: { name: tool.name, description: tool.description, parameters: tool.inputSchema },
    }));
    let policies = await loadPolicies({ home: deps.home, cwd: session.cwd });
    // Hooks run where the turn's commands run: its sandbox level and the policy's roots.
    turnHooks.place(turn.sandbox ?? policies.sandbox?.level ?? DEFAULT_SANDBOX_LEVEL, policies.extraRoots);
    const config = deps.config();
    const toolChoice = config["tool-choice"] ?? "auto";
    // The context window: config `context-window`, else what the server reports for the loaded model
    // (Opta LMX does), else the model family's known window (OpenAI, Anthropic, Ollama report none).
    const windowSize = async (): Promise<number | undefined> =>
      config["context-window"] ??
      (await reportedWindow(resolved.provider, resolved.model, signal)) ??
      knownContextWindow(resolved.model);
    // The same without a request, for each step's output cap: the first token never waits on it.
    const windowNow = (): number | undefined =>
      config["context-window"] ??
      cachedReportedWindow(resolved.provider, resolved.model) ??
      knownContextWindow(resolved.model);
    let history = await store.readEvents(sessionId);
    const turnText = history.findLast((event) => event.event === "turn.start")?.text ?? "";
    // Only ask for the window when the last request's size is known: a first turn never waits on it.
    const lastUse = lastPromptUse(history);
    if (lastUse !== undefined && lastUse >= 0.8 * ((await windowSize()) ?? Number.POSITIVE_INFINITY)) {
      // The previous request filled 80% of the window: summarise older turns before this one runs.
      await compactSession(deps, sessionId, { model: turn.model, signal, keepLastTurn: true, config });
      history = await store.readEvents(sessionId);
    }
    const messages: ChatMessage[] = buildConversation(history);
    // A resumed turn keeps counting repeats of the calls it made before the pause: a pause must not
    // reset the doom-loop guard.
    if (turn.resume) {
      for (const event of history) {
        if (event.event !== "tool.call" || event.turnId !== turnId) continue;
        const key = repeatKey(event.name, event.args);
        repeats.set(key, (repeats.get(key) ?? 0) + 1);
      }
    }
    // Sent first in every request of the turn, outside `messages`, so a compaction never drops it.
    const system = await systemMessageForTurn(store, turn, {
      cwd: session.cwd,
      home: deps.home,
      mode: turn.mode,
      maxSteps: turn.maxSteps,
      redact,
      sandbox: turn.sandbox ?? policies.sandbox?.level ?? DEFAULT_SANDBOX_LEVEL,
      git: gitSnapshot(history),
    });

    for (;;) {
      if (pausedNow()) return recordPause();
      steps += 1;
      const stepStarted = performance.now();
      let text = "";
      const calls: PendingCall[] = [];
      // The model's answer is masked before it is stored or shown: it may echo an encoded secret.
      const textMask = deps.redactStream?.();
      const thinkingMask = deps.redactStream?.();
      const emitText = (delta: string) => {
        if (!delta) return;
        text += delta;
        store.append(sessionId, { event: "turn.token", turnId, delta, model: resolved.model });
      };
      const emitThinking = (delta: string) => {
        if (delta) store.append(sessionId, { event: "turn.thinking", turnId, delta });
      };
      flushHeldText = () => {
        if (textMask) emitText(textMask.flush());
        if (thinkingMask) emitThinking(thinkingMask.flush());
      };
      const offered = toolSpecs.length && toolChoice !== "none" ? { tools: toolSpecs, toolChoice } : {};
      try {
        for await (const chunk of resolved.stream({
          messages: [system, ...messages],
          ...offered,
          // Every call carries a cap, so a step ends by itself (stopReason `length`), never past the window.
          maxTokens: outputTokenCap(config, windowNow(), { messages: [system, ...messages], ...offered }),
          signal: stepSignal,
        })) {
          switch (chunk.type) {
            case "text":
              stats.countedTokens += 1;
              emitText(textMask ? textMask.push(chunk.delta) : chunk.delta);
              break;
            case "reasoning":
              stats.countedThinking += 1;
              emitThinking(thinkingMask ? thinkingMask.push(chunk.delta) : chunk.delta);
              break;
            case "usage":
              stats.usageTokens += chunk.completionTokens;
              promptTokens = chunk.promptTokens;
              cachedTokens = chunk.cachedTokens;
              if (chunk.reasoningTokens !== undefined) stats.usageThinking += chunk.reasoningTokens;
              break;
            case "finish":
              stopReason = chunk.reason === "length" ? "length" : "stop";
              break;
            case "tool-call":
              calls.push(parseCall(chunk.name, chunk.arguments, redact));
              break;
          }
        }
      } catch (error) {
        if (!pausedNow()) throw error;
        // Paused mid-answer: the partial answer is dropped from the history, the step is not counted.
        flushHeldText();
        steps -= 1;
        return recordPause();
      }
      // What was held back (the end of the stream looked like the start of a secret) goes out masked.
      flushHeldText();
      stats.streamingMs += performance.now() - stepStarted;
      if (signal.aborted) throw signal.reason ?? new Error("cancelled");
      if (calls.length === 0) break;

      // Record the calls in the model's order, then run them (up to 8 at once).
      messages.push({
        role: "assistant",
        content: text || null,
        tool_calls: calls.map((call) => ({
          id: call.callId,
          type: "function",
          function: { name: call.name, arguments: JSON.stringify(call.shownArgs) },
        })),
      });
      for (const call of calls) {
        store.append(sessionId, {
          event: "tool.call",
          turnId,
          callId: call.callId,
          name: call.name,
          args: call.shownArgs,
        });
      }
      toolCallCount += calls.length;
      const outcomes = await mapConcurrent(calls, MAX_CONCURRENT_TOOL_CALLS, async (call) => {
        const outcome = await runCall(call);
        return outcome;
      });
      for (const [index, call] of calls.entries()) {
        const outcome = outcomes[index]!;
        messages.push({
          role: "tool",
          tool_call_id: call.callId,
          name: call.name,
          content: outcome.ok ? stringifyResult(outcome.result) : `Error (${outcome.code}): ${outcome.error}`,
        });
      }
      if (signal.aborted) throw signal.reason ?? new Error("cancelled");
      if (steps >= turn.maxSteps) {
        stopReason = "max_steps";
        break;
      }
      // A long Do loop fills the window with its own tool results: compact this turn too, then go on
      // from the summary and the task.
      const added = messages.slice(-calls.length).reduce((sum, message) => sum + (message.content?.length ?? 0), 0);
      const window = promptTokens !== undefined ? await windowSize() : undefined;
      if (window && promptTokens !== undefined && promptTokens + added / 4 >= 0.8 * window) {
        store.flush();
        await compactSession(deps, sessionId, { model: turn.model, signal, config });
        const rebuilt = buildConversation(await store.readEvents(sessionId));
        messages.splice(0, messages.length, ...rebuilt, {
          role: "user",
          content: `Continue the task you were working on (the summary above covers what is done so far): ${turnText}`,
        });
      }
    }

    const tokens = stats.usageTokens || stats.countedTokens;
    const elapsed = (performance.now() - startedAt) / 1000;
    store.append(sessionId, {
      event: "turn.done",
      turnId,
      tokens,
      thinkingTokens: stats.usageThinking || stats.countedThinking,
      elapsed: round(elapsed, 3),
      tokensPerSec: stats.streamingMs > 0 ? round(tokens / (stats.streamingMs / 1000), 1) : 0,
      toolCalls: toolCallCount,
      steps,
      stopReason,
      ...(promptTokens !== undefined ? { promptTokens } : {}),
      ...(cachedTokens !== undefined ? { cachedTokens } : {}),
      // Who answered, after any fallback: clients name it on the turn.
      provider: resolved.provider.name,
      model: resolved.model,
    });
    ending = "done";
    logger.info("session", `Turn complete · ${tokens} tokens · ${round(elapsed, 1)}s · ${toolCallCount} tools`, {
      sessionId,
      turnId,
    });

    /** Records `turn.paused`: the turn stops here and keeps its place for `POST /resume`. */
    function recordPause(): void {
      paused = true;
      store.append(sessionId, {
        event: "turn.paused",
        turnId,
        steps,
        maxSteps: turn.maxSteps,
        remainingSteps: Math.max(0, turn.maxSteps - steps),
        toolCalls: toolCallCount,
        interactive: turn.interactive,
      });
      logger.info("session", `Turn paused after ${steps} steps · session=${sessionId}`, { turnId });
    }

    /** Gate, maybe ask, execute, and record one call's result. */
    async function runCall(call: PendingCall): Promise<ToolOutcome> {
      const started = performance.now();
      let allowedBy: "policy" | "user" | undefined;
      let rule: string | undefined;
      const finish = (raw: ToolOutcome): ToolOutcome => {
        const outcome = redactOutcome(raw, deps.redact);
        store.append(sessionId, {
          event: "tool.result",
          turnId,
          callId: call.callId,
          name: call.name,
          ok: outcome.ok,
          ...(outcome.ok
            ? { result: outcome.result, summary: outcome.summary }
            : { error: outcome.error, code: outcome.code }),
          elapsedMs: round(performance.now() - started, 1),
          ...(allowedBy ? { allowedBy } : {}),
          ...(rule ? { rule } : {}),
        });
        return outcome;
      };
      const tool = toolByName.get(call.name);
      if (!tool) {
        return finish({
          ok: false,
          code: "UNKNOWN_TOOL",
          error: `there is no tool '${call.name}'; available tools: ${[...toolByName.keys()].join(", ")}`,
        });
      }
      if (call.argsError) return finish({ ok: false, code: "INVALID_ARGS", error: call.argsError });
      const key = repeatKey(call.name, call.args);
      const seen = (repeats.get(key) ?? 0) + 1;
      repeats.set(key, seen);
      if (seen >= DOOM_LOOP_REPEATS) {
        return finish({
          ok: false,
          code: "REPEATED_CALL",
          error: `this exact ${call.name} call was already made ${seen - 1} times in this turn with the same result; try a different approach`,
        });
      }
      const query: PermissionQuery = {
        tool: call.name,
        args: call.args,
        kind: tool.kind,
        cwd: session!.cwd,
        mode: turn.mode,
        level: turn.permission,
      };
      const sandboxLevel = turn.sandbox ?? policies.sandbox?.level ?? DEFAULT_SANDBOX_LEVEL;
      let gate: GateResult = evaluatePermission(query, policies);
      // A command's allow assumes a sandbox: without one it asks, and every request says "runs unsandboxed".
      const command = call.name === "run_command" ? await gateCommand(gate, sandboxLevel) : undefined;
      if (command) gate = command.gate;
      if (gate.rule) rule = `${gate.rule.source}${gate.rule.line ? `:${gate.rule.line}` : ""}: ${gate.rule.text}`;
      if (gate.decision === "deny") {
        const howToAllow = gate.suggestion
          ? `. To allow it, add to .opta/policy.yaml or $OPTA_HOME/policies/*.yaml:\n${gate.suggestion}`
          : "";
        return finish({ ok: false, code: "PERMISSION_DENIED", error: `denied: ${gate.reason}${howToAllow}` });
      }
      // Before any approval prompt: nobody is asked about a call a hook refuses.
      const denial = await turnHooks.preTool(call, signal);
      if (denial) return finish({ ok: false, ...denial });
      if (gate.decision === "ask") {
        // No policy line can allow a command the gate cannot read, so none is offered for it.
        const suggestion = gate.uncertain ? undefined : suggestPolicyLine(query);
        const howToAllow = suggestion
          ? ` To allow it, add to .opta/policy.yaml or $OPTA_HOME/policies/*.yaml:\n${suggestion}`
          : "";
        if (!turn.interactive) {
          if (command?.unsandboxed) {
            return finish({
              ok: false,
              code: "PERMISSION_DENIED",
              error: `denied: ${gate.reason}. This run cannot ask (no terminal): ${command.unsandboxed.fix}, or pass --sandbox off to run commands unsandboxed`,
            });
          }
          return finish({
            ok: false,
            code: "PERMISSION_DENIED",
            // The gate's reason says why (a rule, or a command it cannot read, which no rule can allow).
            error: `denied: ${call.name} needs approval and this run cannot ask (no terminal): ${gate.reason}.${howToAllow}`,
          });
        }
        const decision = await deps.approvals.request(
          {
            sessionId,
            turnId,
            callId: call.callId,
            name: call.name,
            args: call.shownArgs,
            risk: tool.risk,
            reason: redact(gate.reason),
            ...(suggestion ? { suggestion: redact(suggestion) } : {}),
            ...(command ? { sandbox: command.sandbox } : {}),
          },
          stepSignal,
        );
        if (signal.aborted) return finish({ ok: false, code: "ABORTED", error: "cancelled before it ran" });
        if (pausedNow()) {
          return finish({
            ok: false,
            code: "PAUSED",
            error:
              "not run: the turn was paused before this call was approved; make the call again if it is still needed",
          });
        }
        if (decision === "deny") {
          return finish({ ok: false, code: "PERMISSION_DENIED", error: "the user denied this call" });
        }
        allowedBy = "user";
        if (decision === "always" && gate.uncertain) {
          logger.info("permission", "Allowed once: a command the gate cannot read is never saved as a rule");
        } else if (decision === "always") {
          try {
            const written = await persistAlwaysRule({ home: deps.home, query });
            logger.info("permission", `Always allow: ${written.rule}`, { file: written.file });
            policies = await loadPolicies({ home: deps.home, cwd: session!.cwd });
          } catch (error) {
            logger.warn("permission", `Could not save the always-allow rule: ${(error as Error).message}`);
          }
        }
      }
      allowedBy ??= "policy";
      const ctx: ToolContext = {
        cwd: session!.cwd,
        signal,
        extraRoots: [...policies.extraRoots],
        home: deps.home,
        sandbox: { level: sandboxLevel, home: deps.home },
        turn: { sessionId, turnId },
      };
      // The files it is about to change are copied first, so a rewind can put them back.
      let written: (() => Promise<void>) | undefined;
      try {
        written = await deps.checkpoints?.before({
          sessionId,
          turnId,
          callId: call.callId,
          step: steps,
          tool: call.name,
          args: call.args,
          ctx,
        });
      } catch (error) {
        // A change that could not be checkpointed could not be rewound: it is not made.
        const why = `could not save a checkpoint of the files first (${(error as Error).message}); free disk space under the Opta home and retry`;
        return finish({ ok: false, code: "CHECKPOINT_FAILED", error: why });
      }
      const executed = await executeTool(tool as ToolDefinition, call.rawArgs, ctx);
      await written?.().catch((error: Error) =>
        logger.warn("session", `Checkpoint after ${call.name}: ${error.message}`),
      );
      const outcome = finish(executed);
      await turnHooks.postTool(call, outcome, signal);
      return outcome;
    }
  } catch (error) {
    flushHeldText();
    if (signal.aborted) {
      ending = "cancelled";
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
  } finally {
    if (hooks?.has("turn_end") && !paused) {
      const done = ending === "done" ? { stopReason } : {};
      await hooks
        .turnEnd({ outcome: ending, ...done, steps, toolCalls: toolCallCount }, signal.aborted ? undefined : signal)
        .catch((error: Error) => logger.warn("session", `turn_end hooks: ${error.message}`, { sessionId, turnId }));
    }
    deps.turnEnded?.({ sessionId, turnId });
  }
}

/** Two calls are the same when their tool and arguments are (the doom-loop guard's key). */
function repeatKey(name: string, args: unknown): string {
  return `${name}\u0000${JSON.stringify(args)}`;
}

/** The outcome with known secrets masked: every string of the result (whatever its shape), the summary, the error. */
function redactOutcome(outcome: ToolOutcome, redact: ((text: string) => string) | undefined): ToolOutcome {
  if (!redact) return outcome;
  if (!outcome.ok) return { ...outcome, error: redact(outcome.error) };
  const result = redactValue(outcome.result, redact);
  const summary = outcome.summary === undefined ? undefined : redact(outcome.summary);
  if (result === outcome.result && summary === outcome.summary) return outcome;
  return { ...outcome, result, ...(summary === undefined ? {} : { summary }) };
}

/** Tokens the session's last request used (prompt + output), unless a compaction came after it. */
function lastPromptUse(events: readonly SessionEvent[]): number | undefined {
  for (let index = events.length - 1; index >= 0; index -= 1) {
    const event = events[index]!;
    if (event.event === "session.compacted") return undefined;
    if (event.event === "turn.done" && event.promptTokens !== undefined) return event.promptTokens + event.tokens;
  }
  return undefined;
}

const WINDOW_CACHE_MS = 60_000;
const reportedWindows = new Map<string, { at: number; value: number | undefined }>();

/** The window a server last reported for a model, without asking again. */
function cachedReportedWindow(provider: { name: string }, model: string): number | undefined {
  return reportedWindows.get(`${provider.name}/${model}`)?.value;
}

/**
 * The context window a server reports for a model (Opta LMX does, once the model is loaded), cached
 * for a minute so the agent loop asks at most that often; undefined when it is not reported.
 */
async function reportedWindow(
  provider: { name: string; modelDetails?: (signal?: AbortSignal) => Promise<ModelDetail[]> },
  model: string,
  signal: AbortSignal,
): Promise<number | undefined> {
  if (!provider.modelDetails) return undefined;
  const key = `${provider.name}/${model}`;
  const cached = reportedWindows.get(key);
  // An unknown window (model not loaded yet) is asked again sooner than a known one.
  if (cached && Date.now() - cached.at < (cached.value === undefined ? 5_000 : WINDOW_CACHE_MS)) return cached.value;
  const details = await provider.modelDetails(signal).catch(() => []);
  const value = details.find((detail) => detail.id === model)?.contextLength;
  reportedWindows.set(key, { at: Date.now(), value });
  return value;
}

/**
 * Parses a model's tool call; arguments that are not a JSON object are kept raw for the error.
 * `shownArgs` has secrets masked; the gate judges and the tool runs the arguments as sent, so that
 * what is approved is what runs.
 */
function parseCall(name: string, text: string, redact: (text: string) => string): PendingCall {
  const callId = createId("c");
  const trimmed = text.trim();
  const call = (args: Record<string, unknown>, rawArgs: unknown, argsError?: string): PendingCall => ({
    callId,
    name,
    args,
    shownArgs: redactValue(args, redact),
    rawArgs,
    ...(argsError === undefined ? {} : { argsError }),
  });
  if (trimmed === "") return call({}, {});
  try {
    const parsed: unknown = JSON.parse(trimmed);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      return call(parsed as Record<string, unknown>, parsed);
    }
    return call({ raw: trimmed }, trimmed, "arguments must be a JSON object");
  } catch (error) {
    return call(
      { raw: trimmed },
      trimmed,
      `arguments are not valid JSON (${(error as Error).message}); send a JSON object matching the tool's schema`,
    );
  }
}

/** Maps with at most `limit` calls in flight; results keep the input order. */
async function mapConcurrent<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await run(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Re-exported for the daemon's policy checks. */
export type { PolicySet };
