import { randomBytes } from "node:crypto";
import {
  type ChatModelFunctions,
  LlamaChat,
  type LlamaChatResponseFunctionCallParamsChunk,
  type LlamaGrammar,
  LlamaJsonSchemaValidationError,
  LlamaText,
  SpecialTokensText,
  type Token,
  TokenMeter,
} from "node-llama-cpp";
import { affinityTo, rememberHeldText } from "../models/prompt-affinity.js";
import type { Lease } from "../models/registry.js";
import type { LmxApp, RequestScope } from "../server/context.js";
import { STREAMED } from "../server/context.js";
import { LmxError, toLmxError } from "../server/errors.js";
import { SseStream } from "../server/sse.js";
import { parseRequest } from "../server/validate.js";
import { toChatFunctions, toChatHistory } from "./messages.js";
import { finishReason, samplingOptions, tokenBiasFor } from "./sampling.js";
import { ChatCompletionRequest } from "./schemas.js";

/** A tool call as OpenAI returns it. */
type ToolCallOut = { id: string; type: "function"; function: { name: string; arguments: string } };

/** `tool_choice`, resolved: which functions the model sees and whether a call is forced. */
type ToolPlan = { functions: ChatModelFunctions | undefined; forced: boolean };

/** OpenAI-style ids: `chatcmpl-…`, `cmpl-…`, `call_…`. */
export function newId(prefix: "chatcmpl" | "cmpl" | "call"): string {
  return `${prefix}${prefix === "call" ? "_" : "-"}${randomBytes(12).toString("hex")}`;
}

function planTools(request: ChatCompletionRequest): ToolPlan {
  const tools = request.tools ?? [];
  const choice = request.tool_choice ?? (tools.length > 0 ? "auto" : "none");
  if (choice === "none") return { functions: undefined, forced: false };
  if (tools.length === 0) {
    throw new LmxError("invalid_request", "tool_choice requires a non-empty tools list", { param: "tool_choice" });
  }
  if (choice === "auto") return { functions: toChatFunctions(tools), forced: false };
  if (choice === "required") return { functions: toChatFunctions(tools), forced: true };
  const named = tools.filter((tool) => tool.function.name === choice.function.name);
  if (named.length === 0) {
    throw new LmxError("invalid_request", `tool_choice names '${choice.function.name}', which is not in tools`, {
      param: "tool_choice.function.name",
    });
  }
  return { functions: toChatFunctions(named), forced: true };
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
 * The prompt's token count, read off the sequence after generation instead of tokenizing it a
 * second time. Each sampling step decodes one token with logits (the meter's output tokens): the
 * prompt's last token, then every generated token fed back except the last. So the sequence holds
 * prompt + (output − 1) tokens. That holds while LlamaChat feeds only sampled tokens; with tools it
 * may insert call syntax itself, and a context shift drops tokens, so then (or when the figure is
 * implausible) the prompt is tokenized after all, once the answer is complete.
 */
function promptTokensFromSequence(
  lease: Lease,
  outputTokens: number,
  withFunctions: boolean,
  contextText: LlamaText,
): number {
  const derived = lease.sequence.nextTokenIndex - Math.max(0, outputTokens - 1);
  // A context shift can only happen once the sequence is full.
  const couldShift = promptTokenBound(contextText) + outputTokens >= lease.model.contextSize - 1;
  if (!withFunctions && !couldShift && outputTokens > 0 && derived > 0) return derived;
  return contextText.tokenize(lease.model.model.tokenizer).length;
}

/**
 * `POST /v1/chat/completions`: validates everything before taking a sequence, then generates with
 * node-llama-cpp's LlamaChat (function calling through the model's own chat template), streaming
 * OpenAI chunks as tokens arrive or answering once at the end.
 */
export async function chatCompletions(app: LmxApp, scope: RequestScope, body: unknown): Promise<unknown> {
  const request = parseRequest(ChatCompletionRequest, body);
  const history = toChatHistory(request.messages);
  const tools = planTools(request);
  const format = request.response_format?.type ?? "text";
  if (tools.functions && format !== "text") {
    throw new LmxError(
      "unsupported_parameter",
      "response_format cannot be combined with tools; set tool_choice to none",
      {
        param: "response_format",
      },
    );
  }
  let grammar: LlamaGrammar | undefined;
  if (request.response_format?.type === "json_object") grammar = await app.grammars.json();
  else if (request.response_format?.type === "json_schema") {
    const schema = request.response_format.json_schema.schema;
    grammar = schema
      ? await app.grammars.forSchema(schema, "response_format.json_schema.schema")
      : await app.grammars.json();
  }
  for (const [name, fn] of Object.entries(tools.functions ?? {})) {
    if (fn.params) await app.grammars.forSchema(fn.params, `tools[${name}].function.parameters`);
  }
  const sampling = samplingOptions(request);
  const maxTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  const stream = request.stream === true;
  const includeUsage = stream && request.stream_options?.include_usage === true;
  const id = newId("chatcmpl");
  const created = Math.floor(Date.now() / 1000);

  // The prompt as the model's template renders it: it picks the sequence whose KV cache already
  // holds the longest part of it, and bounds the prompt's length below.
  let contextText = LlamaText([]);
  let promptKey = "";
  const lease = await app.registry.acquire(request.model, scope.signal, (model) => {
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
  const sse = stream ? new SseStream(scope.response) : undefined;
  const chat = new LlamaChat({ contextSequence: lease.sequence, chatWrapper: lease.model.chatWrapper });
  try {
    const { model } = lease;
    if (maxTokens !== undefined && maxTokens > model.contextSize) {
      throw new LmxError(
        "context_length_exceeded",
        `max_tokens ${maxTokens} exceeds the context size of '${model.id}' (${model.contextSize} tokens per sequence)`,
        { param: "max_tokens" },
      );
    }
    // LlamaChat tokenizes the prompt itself; doing it here too cost ~0.2–0.5 ms before the first
    // token. A bound from the rendered text is enough to know the prompt fits; only a prompt that
    // might not fit is tokenized here, and then the count is exact.
    let promptTokens: number | undefined;
    if (promptTokenBound(contextText) >= model.contextSize) {
      promptTokens = contextText.tokenize(model.model.tokenizer).length;
      if (promptTokens >= model.contextSize) {
        throw new LmxError(
          "context_length_exceeded",
          `the prompt is ${promptTokens} tokens but '${model.id}' holds ${model.contextSize} tokens per sequence`,
          { param: "messages" },
        );
      }
    }
    const tokenBias = tokenBiasFor(
      model.model.tokenizer,
      model.vocabularySize,
      request.logit_bias,
      tools.forced ? callPrefixTokens(lease) : [],
    );
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model: model.id,
      system_fingerprint: `lmx-${app.version}`,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(includeUsage ? { usage: null } : {}),
    });
    sse?.send(chunk(tools.forced ? { role: "assistant", content: null } : { role: "assistant", content: "" }));

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

    const common = {
      ...sampling,
      maxTokens,
      signal: lease.signal,
      stopOnAbortSignal: false,
      tokenBias,
      onToken: markToken,
      onTextChunk: (text: string) => {
        markFirstToken();
        if (text !== "") sse?.send(chunk({ content: text }));
      },
    };
    const rawCalls: { name: string; params: string }[] = [];
    const onFunctionCallParamsChunk = (part: LlamaChatResponseFunctionCallParamsChunk) => {
      markFirstToken();
      rawCalls[part.callIndex] ??= { name: part.functionName, params: "" };
      rawCalls[part.callIndex]!.params += part.paramsChunk;
      if (!sse) return;
      if (callIds[part.callIndex] === undefined) {
        callIds[part.callIndex] = newId("call");
        heldWhitespace[part.callIndex] = "";
        sse.send(
          chunk({
            tool_calls: [
              {
                index: part.callIndex,
                id: callIds[part.callIndex],
                type: "function",
                function: { name: part.functionName, arguments: "" },
              },
            ],
          }),
        );
      }
      // Hold back trailing whitespace so the streamed arguments end where the JSON ends.
      const text = heldWhitespace[part.callIndex] + part.paramsChunk;
      const trimmed = text.trimEnd();
      heldWhitespace[part.callIndex] = text.slice(trimmed.length);
      if (trimmed !== "")
        sse.send(chunk({ tool_calls: [{ index: part.callIndex, function: { arguments: trimmed } }] }));
    };
    let result: { response: string; functionCalls?: unknown[]; metadata: { stopReason: string } };
    try {
      result = grammar
        ? await chat.generateResponse(history, { ...common, grammar })
        : await chat.generateResponse(history, {
            ...common,
            ...(tools.functions
              ? {
                  functions: tools.functions,
                  documentFunctionParams: true,
                  ...(request.parallel_tool_calls === false ? { maxParallelFunctionCalls: 1 } : {}),
                  onFunctionCallParamsChunk,
                }
              : {}),
          });
    } catch (error) {
      // The call grammar produced JSON that node-llama-cpp's own schema check rejects (its integer
      // rule admits "1e-5"). The arguments are still valid JSON: return them as generated, as
      // OpenAI does for non-strict tools, instead of failing the request.
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
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: cachedTokens },
    };
    const calls = (result.functionCalls ?? []) as { functionName: string; params?: unknown; rawParams?: string }[];
    const toolCalls: ToolCallOut[] = calls.map((call, index) => ({
      id: callIds[index] ?? newId("call"),
      type: "function",
      function: { name: call.functionName, arguments: call.rawParams ?? JSON.stringify(call.params ?? {}) },
    }));
    const finish = finishReason(result.metadata.stopReason, toolCalls.length > 0);
    // The answer follows the prompt in the cache, as the next turn's history will render it.
    if (toolCalls.length === 0) rememberHeldText(lease.sequence, promptKey + result.response);
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
      ms: Math.round(finishedAt - scope.receivedAt),
      ttftMs: firstTokenAt === undefined ? null : Math.round((firstTokenAt - scope.receivedAt) * 10) / 10,
      tokensPerSecond:
        completionTokens > 1 && decodeSeconds > 0
          ? Math.round(((completionTokens - 1) / decodeSeconds) * 10) / 10
          : null,
    });
    if (sse) {
      sse.send(chunk({}, finish));
      if (includeUsage) {
        sse.send({
          id,
          object: "chat.completion.chunk",
          created,
          model: model.id,
          system_fingerprint: `lmx-${app.version}`,
          choices: [],
          usage,
        });
      }
      sse.end();
      return STREAMED;
    }
    return {
      id,
      object: "chat.completion",
      created,
      model: model.id,
      system_fingerprint: `lmx-${app.version}`,
      choices: [
        {
          index: 0,
          message: {
            role: "assistant",
            content: toolCalls.length > 0 && result.response === "" ? null : result.response,
            refusal: null,
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          logprobs: null,
          finish_reason: finish,
        },
      ],
      usage,
    };
  } catch (error) {
    if (scope.signal.aborted) {
      app.log({ event: "chat.aborted", requestId: scope.requestId, model: lease.model.id });
      return STREAMED;
    }
    const failure = lease.model.unloadSignal.aborted ? toLmxError(lease.model.unloadSignal.reason) : toLmxError(error);
    if (sse?.isOpen) {
      sse.fail(failure);
      return STREAMED;
    }
    throw failure;
  } finally {
    chat.dispose({ disposeSequence: false });
    lease.release();
  }
}
