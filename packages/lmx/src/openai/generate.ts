import { randomBytes } from "node:crypto";
import {
  type ChatHistoryItem,
  type ChatModelFunctions,
  LlamaChat,
  type LlamaChatResponseChunk,
  type LlamaChatResponseFunctionCallParamsChunk,
  type LlamaGrammar,
  LlamaJsonSchemaValidationError,
  LlamaText,
  SpecialTokensText,
  type Token,
  TokenMeter,
} from "node-llama-cpp";
import { affinityTo, rememberHeldText } from "../models/prompt-affinity.js";
import type { Lease, LoadedModel } from "../models/registry.js";
import type { LmxApp, RequestScope } from "../server/context.js";
import { LmxError, toLmxError } from "../server/errors.js";
import { type SamplingOptions, tokenBiasFor } from "./sampling.js";

/**
 * The one generation path behind every chat-shaped API (`/v1/chat/completions`, `/v1/responses`,
 * `/v1/messages`): each route converts its request into a {@link ChatRun}, receives tokens through
 * a {@link ChatSink}, and converts the {@link ChatOutcome} back into its own wire shape.
 */

/** `tool_choice`, resolved: which functions the model sees and whether a call is forced. */
export type ToolPlan = { functions: ChatModelFunctions | undefined; forced: boolean };

/** What to generate. Everything in it has been validated by the route. */
export type ChatRun = {
  model: string | undefined;
  history: ChatHistoryItem[];
  tools: ToolPlan;
  /** A response_format grammar (never together with tools). */
  grammar?: LlamaGrammar | undefined;
  sampling: SamplingOptions;
  logitBias?: Record<string, number> | null | undefined;
  /** The client's cap; without one, generation stops at the end of the context window. */
  maxTokens: number | undefined;
  /** At most one tool call per answer. */
  singleToolCall?: boolean;
  /** Tokenize the prompt before generating, so {@link ChatSink.start} gets its exact size. */
  countPromptFirst?: boolean;
};

/** Where tokens go as they are generated (a stream writes them out; a plain answer ignores them). */
export type ChatSink = {
  /** The model is ready and the prompt fits: the last moment an error can still be a plain status. */
  start?(model: LoadedModel, promptTokens: number | undefined): void;
  text?(delta: string): void;
  /** Reasoning text, for models whose template marks thoughts (a `<think>` segment). */
  thought?(delta: string): void;
  callStart?(index: number, id: string, name: string): void;
  /** A piece of a call's JSON arguments; trailing whitespace is held back until more follows. */
  callArguments?(index: number, delta: string): void;
};

/** A tool call as generated: `arguments` is the JSON text (partial when cut off by the token cap). */
export type GeneratedCall = { id: string; name: string; arguments: string };

/** The end of a generation, in API-neutral terms. */
export type ChatOutcome = {
  modelId: string;
  text: string;
  thoughts: string;
  calls: GeneratedCall[];
  /** `length`: the token cap or the end of the context window, also in the middle of a tool call. */
  finish: "stop" | "length" | "tool_calls";
  /** The custom stop sequence that ended the answer, if one did. */
  stopSequence: string | undefined;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
};

/** OpenAI-style ids: `chatcmpl-…`, `cmpl-…`, `call_…`; also `resp_…`, `msg_…`, `toolu_…`, `fc_…`, `rs_…`. */
export function newId(prefix: "chatcmpl" | "cmpl" | "call" | "resp" | "msg" | "toolu" | "fc" | "rs"): string {
  return `${prefix}${prefix === "chatcmpl" || prefix === "cmpl" ? "-" : "_"}${randomBytes(12).toString("hex")}`;
}

/** The chat template's function-call opening, as tokens: what a forced call starts with. */
function callPrefixTokens(lease: Lease): Token[] {
  const settings = lease.model.chatWrapper.settings.functions;
  const prefix = LlamaText([settings.parallelism?.call.sectionPrefix ?? "", settings.call.prefix]);
  const tokens = prefix.tokenize(lease.model.model.tokenizer);
  if (tokens.length === 0) {
    throw new LmxError("unsupported_parameter", `model '${lease.model.id}' has no function-call syntax to force`, {
      param: "tool_choice",
    });
  }
  return tokens;
}

/**
 * An upper bound on the tokens `text` becomes, without tokenizing: a token covers at least one
 * byte of text, a special token is one token, and a tokenizer may add a leading-space piece per
 * segment (SentencePiece).
 */
export function promptTokenBound(text: LlamaText): number {
  let bound = 0;
  for (const value of text.values) {
    if (typeof value === "string") bound += Buffer.byteLength(value) + 1;
    else if (value instanceof SpecialTokensText) bound += Buffer.byteLength(value.value) + 1;
    else bound += 1;
  }
  return bound;
}

/**
 * Tokens kept free at the end of the window when tools are offered: LlamaChat evaluates call
 * syntax it inserts itself (the call's closing, the result prefix) on top of the generated tokens,
 * and a full sequence would make node-llama-cpp shift the context instead of stopping.
 */
const TOOL_SYNTAX_RESERVE = 32;

/** The 400 for a prompt that does not fit; names both sizes and the flag that changes them. */
export function contextExceeded(model: LoadedModel, promptTokens: number, param: string): LmxError {
  const trained = model.trainContextSize;
  return new LmxError(
    "context_length_exceeded",
    `the prompt is ${promptTokens} tokens but '${model.id}' holds ${model.contextSize} tokens per sequence (leaving room to answer); shorten the conversation, or restart LMX with a larger --context-size${trained !== undefined ? ` (the model was trained on ${trained} tokens)` : ""} or a smaller --parallel`,
    { param },
  );
}

/**
 * The prompt's token count, read off the sequence after generation instead of tokenizing it a
 * second time. Each sampling step decodes one token with logits (the meter's output tokens): the
 * prompt's last token, then every generated token fed back except the last. So the sequence holds
 * prompt + (output − 1) tokens. That holds while LlamaChat feeds only sampled tokens; with tools it
 * may insert call syntax itself, so then (or when the figure is implausible) the prompt is
 * tokenized after all, once the answer is complete.
 */
function promptTokensFromSequence(
  lease: Lease,
  outputTokens: number,
  withFunctions: boolean,
  contextText: LlamaText,
): number {
  const derived = lease.sequence.nextTokenIndex - Math.max(0, outputTokens - 1);
  if (!withFunctions && outputTokens > 0 && derived > 0) return derived;
  return contextText.tokenize(lease.model.model.tokenizer).length;
}

/**
 * Takes a sequence of the model (the one whose KV cache holds the longest part of the prompt),
 * generates with node-llama-cpp's LlamaChat (function calling through the model's own chat
 * template) and reports tokens to `sink` as they arrive. Generation always ends: at `maxTokens`,
 * else where the context window ends, with finish `length` in both cases.
 */
export async function runChat(app: LmxApp, scope: RequestScope, run: ChatRun, sink: ChatSink): Promise<ChatOutcome> {
  const { history, grammar } = run;
  const tools = forcedForTesting(app, scope, run);
  let contextText = LlamaText([]);
  let promptKey = "";
  const lease = await app.registry.acquire(run.model, scope.signal, (model) => {
    contextText = model.chatWrapper.generateContextState({
      chatHistory: history,
      availableFunctions: tools.functions,
      documentFunctionParams: true,
    }).contextText;
    promptKey = contextText.toString();
    return affinityTo(promptKey);
  });
  // From here the sequence holds (part of) this prompt, whatever happens to the generation.
  rememberHeldText(lease.sequence, promptKey);
  const chat = new LlamaChat({ contextSequence: lease.sequence, chatWrapper: lease.model.chatWrapper });
  try {
    const { model } = lease;
    const reserve = tools.functions ? TOOL_SYNTAX_RESERVE : 0;
    // LlamaChat tokenizes the prompt itself; doing it here too costs ~0.2–0.5 ms before the first
    // token. A bound from the rendered text is enough to know the prompt and the answer fit; only
    // when they might not (or no cap was given) is the prompt tokenized here, and then exactly.
    let promptTokens: number | undefined;
    const bound = promptTokenBound(contextText);
    if (run.countPromptFirst || run.maxTokens === undefined || bound + run.maxTokens + reserve >= model.contextSize) {
      promptTokens = contextText.tokenize(model.model.tokenizer).length;
    }
    const room = model.contextSize - (promptTokens ?? bound) - reserve - 1;
    if (room < 1) throw contextExceeded(model, promptTokens ?? bound, "messages");
    // Never past the window: node-llama-cpp would shift the context (drop the oldest turns) and go on.
    const maxTokens = run.maxTokens === undefined ? room : Math.min(run.maxTokens, room);
    const tokenBias = tokenBiasFor(
      model.model.tokenizer,
      model.vocabularySize,
      app.logitBias ? { ...app.logitBias, ...run.logitBias } : run.logitBias,
      tools.forced ? callPrefixTokens(lease) : [],
    );
    sink.start?.(model, promptTokens);

    let firstTokenAt: number | undefined;
    let lastTokenAt: number | undefined;
    const markFirstToken = () => {
      if (firstTokenAt !== undefined) return;
      firstTokenAt = performance.now();
      app.metrics.recordTimeToFirstToken((firstTokenAt - scope.receivedAt) / 1000);
    };
    const markToken = () => {
      lastTokenAt = performance.now();
      markFirstToken();
    };
    const callIds: string[] = [];
    const heldWhitespace: string[] = [];
    const meterBefore = lease.sequence.tokenMeter.getState();
    let thoughts = "";

    const common = {
      ...run.sampling,
      maxTokens,
      signal: lease.signal,
      stopOnAbortSignal: false,
      tokenBias,
      onToken: markToken,
      onTextChunk: (text: string) => {
        markFirstToken();
        if (text !== "") sink.text?.(text);
      },
      onResponseChunk: (part: LlamaChatResponseChunk) => {
        const thought = thoughtText(part);
        if (thought === undefined) return;
        markFirstToken();
        thoughts += thought;
        sink.thought?.(thought);
      },
    };
    const rawCalls: { name: string; params: string }[] = [];
    const onFunctionCallParamsChunk = (part: LlamaChatResponseFunctionCallParamsChunk) => {
      markFirstToken();
      rawCalls[part.callIndex] ??= { name: part.functionName, params: "" };
      rawCalls[part.callIndex]!.params += part.paramsChunk;
      if (callIds[part.callIndex] === undefined) {
        callIds[part.callIndex] = newId("call");
        heldWhitespace[part.callIndex] = "";
        sink.callStart?.(part.callIndex, callIds[part.callIndex]!, part.functionName);
      }
      // Hold back trailing whitespace so the streamed arguments end where the JSON ends.
      const text = heldWhitespace[part.callIndex] + part.paramsChunk;
      const trimmed = text.trimEnd();
      heldWhitespace[part.callIndex] = text.slice(trimmed.length);
      if (trimmed !== "") sink.callArguments?.(part.callIndex, trimmed);
    };
    type Result = {
      response: string;
      functionCalls?: unknown[];
      metadata: { stopReason: string; customStopTrigger?: (string | Token)[] };
    };
    let result: Result;
    try {
      result = grammar
        ? await chat.generateResponse(history, { ...common, grammar })
        : await chat.generateResponse(history, {
            ...common,
            ...(tools.functions
              ? {
                  functions: tools.functions,
                  documentFunctionParams: true,
                  ...(run.singleToolCall ? { maxParallelFunctionCalls: 1 } : {}),
                  onFunctionCallParamsChunk,
                }
              : {}),
          });
    } catch (error) {
      // The call grammar produced JSON that node-llama-cpp's own schema check rejects. The
      // arguments are still valid JSON: return them as generated, as OpenAI does for non-strict
      // tools, instead of failing the request.
      if (!(error instanceof LlamaJsonSchemaValidationError) || rawCalls.length === 0) throw error;
      app.log({ event: "chat.tool_arguments_unchecked", requestId: scope.requestId, reason: error.message });
      result = {
        response: "",
        functionCalls: rawCalls.map((call) => ({ functionName: call.name, rawParams: call.params.trim() })),
        metadata: { stopReason: "functionCalls" },
      };
    }

    const finishedAt = performance.now();
    const meter = TokenMeter.diff(lease.sequence.tokenMeter, meterBefore);
    const completionTokens = meter.usedOutputTokens;
    promptTokens ??= promptTokensFromSequence(lease, completionTokens, tools.functions !== undefined, contextText);
    // Prompt tokens evaluated: the meter's input tokens plus the prompt's last token (decoded with
    // logits, so metered as output). The rest came from the sequence's KV cache. Call syntax that
    // LlamaChat inserts itself also counts as input, so with tools this is a lower bound.
    const cachedTokens = completionTokens > 0 ? Math.max(0, promptTokens - meter.usedInputTokens - 1) : 0;
    const done = (result.functionCalls ?? []) as { functionName: string; params?: unknown; rawParams?: string }[];
    const calls: GeneratedCall[] = done.map((call, index) => ({
      id: callIds[index] ?? newId("call"),
      name: call.functionName,
      arguments: call.rawParams ?? JSON.stringify(call.params ?? {}),
    }));
    const cutShort = result.metadata.stopReason === "maxTokens";
    // A call the token cap cut off: LlamaChat drops it, but a stream has already sent its start.
    // Return it as far as it got, streamed or not, with finish `length` (as OpenAI does).
    if (cutShort) {
      for (let index = calls.length; index < rawCalls.length; index++) {
        calls.push({
          id: callIds[index] ?? newId("call"),
          name: rawCalls[index]!.name,
          arguments: rawCalls[index]!.params.trimEnd(),
        });
      }
    }
    const finish = cutShort ? "length" : calls.length > 0 ? "tool_calls" : "stop";
    const trigger = result.metadata.customStopTrigger;
    const stopSequence =
      result.metadata.stopReason === "customStopTrigger" && trigger
        ? trigger.filter((part): part is string => typeof part === "string").join("")
        : undefined;
    // The answer follows the prompt in the cache, as the next turn's history will render it.
    if (calls.length === 0) rememberHeldText(lease.sequence, promptKey + result.response);
    // Decode time runs from the first token to the last, so the rate is the model's, not diluted
    // by the prompt or the end of the response.
    const decodeSeconds = ((lastTokenAt ?? finishedAt) - (firstTokenAt ?? finishedAt)) / 1000;
    app.metrics.recordGeneration(model.id, promptTokens, completionTokens, decodeSeconds);
    app.log({
      event: "chat.done",
      requestId: scope.requestId,
      model: model.id,
      promptTokens,
      cachedTokens,
      completionTokens,
      finish,
      ...(run.maxTokens === undefined || run.maxTokens > maxTokens ? { capAtWindow: maxTokens } : {}),
      ms: Math.round(finishedAt - scope.receivedAt),
      ttftMs: firstTokenAt === undefined ? null : Math.round((firstTokenAt - scope.receivedAt) * 10) / 10,
      tokensPerSecond:
        completionTokens > 1 && decodeSeconds > 0
          ? Math.round(((completionTokens - 1) / decodeSeconds) * 10) / 10
          : null,
    });
    return {
      modelId: model.id,
      text: result.response,
      thoughts,
      calls,
      finish,
      stopSequence,
      promptTokens,
      completionTokens,
      cachedTokens,
    };
  } catch (error) {
    if (lease.model.unloadSignal.aborted) throw toLmxError(lease.model.unloadSignal.reason);
    throw error;
  } finally {
    chat.dispose({ disposeSequence: false });
    lease.release();
  }
}

/**
 * The tool plan after the `forceToolCall` testing aid: `auto` becomes forced when the conversation
 * ends with a user message (not with a tool result, so the agent loop still ends in a text answer).
 */
function forcedForTesting(app: LmxApp, scope: RequestScope, run: ChatRun): ToolPlan {
  const { tools, history } = run;
  if (!app.forceToolCall || tools.forced || !tools.functions) return tools;
  // The history ends in the model turn to complete; a call in it means a tool result came since.
  const turn = history.at(-1);
  const answered =
    turn?.type === "model" && turn.response.some((item) => typeof item !== "string" && item.type === "functionCall");
  if (answered) return tools;
  const name = app.forceToolCall;
  const named = typeof name === "string" && tools.functions[name] ? { [name]: tools.functions[name] } : undefined;
  app.log({ event: "tools.forced_for_testing", requestId: scope.requestId, ...(named ? { name } : {}) });
  return { functions: named ?? tools.functions, forced: true };
}

/**
 * The reasoning text of one node-llama-cpp response chunk: a `thought` segment's text (what the
 * chat wrapper parsed out of `<think>…</think>` or the template's equivalent), which the APIs send as
 * `reasoning_content`, reasoning items and thinking blocks. Main-response text arrives through
 * `onTextChunk`, and other segments (comments) and empty segment starts carry none.
 */
export function thoughtText(part: LlamaChatResponseChunk): string | undefined {
  return part.type === "segment" && part.segmentType === "thought" && part.text !== "" ? part.text : undefined;
}
