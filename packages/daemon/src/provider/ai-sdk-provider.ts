import {
  APICallError,
  type JSONValue,
  type LanguageModelV3,
  type LanguageModelV3FinishReason,
  type LanguageModelV3ReasoningPart,
  type LanguageModelV3StreamPart,
  type SharedV3ProviderMetadata,
  type SharedV3ProviderOptions,
} from "@ai-sdk/provider";
import { CONFIG_DEFAULTS } from "@opta/protocol";
import { redactSecrets } from "../vault/mask.js";
import { isOpenAIReasoningModel, type OpenAIApi, openAIApiFor, reasoningEffortFor } from "./openai-reasoning.js";
import { streamOpenAIChat } from "./openai-sse.js";
import { toPrompt, toToolChoice, toTools } from "./prompt.js";
import type { ChatProvider, ChatRequest, ModelDetail, ProviderChunk } from "./types.js";
import { ProviderError } from "./types.js";

/** The wire formats the daemon speaks, each through its AI SDK provider package. */
export type ProviderType = "lmx" | "openai-compatible" | "anthropic" | "openai";

/** Settings for one provider. */
export interface AiSdkProviderOptions {
  /** Configured name (`lmx`, `anthropic`, `ollama`…). */
  name: string;
  type: ProviderType;
  /** API base URL, ending in `/v1`. */
  baseUrl: string;
  /** Models the config says it serves. */
  models?: readonly string[];
  /** Reads the API key; called for every request so a rotated key applies to the next one. */
  apiKey?: () => Promise<string | undefined>;
  /** Longest wait for the response headers (model loading counts), ms. */
  connectTimeoutMs: number;
  /** Longest silence between two parts of a stream, ms. */
  idleTimeoutMs: number;
  /** What to tell the user when the server cannot be reached. */
  unreachableHint?: string;
  /** Whether to ask for reasoning where the API needs asking (Anthropic thinking, OpenAI summaries). */
  thinking?: () => boolean;
  /** Config `thinking-budget` (tokens) as it is now, if set. */
  thinkingBudget?: () => number | undefined;
  /** `providers.<name>.api` of a `type: openai` provider; unset: chosen per model. */
  openaiApi?: OpenAIApi;
}

/** Anthropic's `anthropic-version` header for the calls the SDK does not make (model listing). */
const ANTHROPIC_VERSION = "2023-06-01";
/** Thinking budget when config `thinking-budget` is unset (Anthropic tokens; OpenAI `medium`). */
const THINKING_BUDGET_TOKENS = CONFIG_DEFAULTS["thinking-budget"];
/** Model details (load state, memory, context) never wait longer than this. */
const DETAILS_TIMEOUT_MS = 1500;
/** Model listing never waits longer than this, whatever the stream timeouts. */
const LIST_TIMEOUT_MS = 5000;
/** Tool calls whose signed reasoning is kept for the next request of the loop. */
const SIGNED_REASONING_KEPT = 256;

/**
 * One provider behind the AI SDK's provider packages (`@ai-sdk/openai-compatible`,
 * `@ai-sdk/anthropic`, `@ai-sdk/openai`). Every one is driven through the same LanguageModelV3
 * `doStream` call and its parts become the same ProviderChunks, so text, reasoning, tool calls and
 * usage look alike to the agent loop whatever the wire format. Retries are not the SDK's job here:
 * a failure surfaces at once so the router can fall back.
 */
export class AiSdkProvider implements ChatProvider {
  readonly name: string;
  readonly type: ProviderType;
  readonly baseUrl: string;
  readonly configuredModels: readonly string[] | undefined;
  readonly requiresKey: boolean;
  /**
   * Reasoning the API wants back in the next request of the tool loop, by the tool call it led to
   * (name and arguments: the agent loop gives calls its own ids): Anthropic's signed thinking, and
   * OpenAI's encrypted reasoning items (the Responses API is called with `store: false`, so it keeps
   * nothing between calls). The session log keeps only the text.
   */
  private readonly signedReasoning = new Map<string, LanguageModelV3ReasoningPart[]>();

  constructor(private readonly options: AiSdkProviderOptions) {
    this.name = options.name;
    this.type = options.type;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.configuredModels = options.models?.length ? options.models : undefined;
    this.requiresKey = options.type === "anthropic" || options.type === "openai";
  }

  /** Where a request for `model` goes (named in error messages). */
  endpointFor(model: string): string {
    if (this.type === "anthropic") return `${this.baseUrl}/messages`;
    return this.openAIApi(model) === "responses" ? `${this.baseUrl}/responses` : `${this.baseUrl}/chat/completions`;
  }

  /** The OpenAI API a request for `model` goes to; undefined for other provider types. */
  private openAIApi(model: string): OpenAIApi | undefined {
    return this.type === "openai" ? openAIApiFor(model, this.options.openaiApi) : undefined;
  }

  /**
   * Opta LMX's `/api/v1/models` (load state, memory, context size). Only for `lmx` providers; other
   * OpenAI-compatible servers do not have the route, so they report nothing rather than guess.
   */
  async modelDetails(signal?: AbortSignal): Promise<ModelDetail[]> {
    if (this.type !== "lmx") return [];
    const url = `${this.baseUrl.replace(/\/v1$/, "")}/api/v1/models`;
    const key = await this.readKey(url);
    // Details are a nice-to-have (telemetry, the context window): never wait long for them.
    const timeout = AbortSignal.timeout(Math.min(this.options.connectTimeoutMs, DETAILS_TIMEOUT_MS));
    try {
      const response = await fetch(url, {
        headers: { accept: "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      if (!response.ok) return [];
      const body = (await response.json()) as {
        models?: Array<{ id?: unknown; state?: unknown; memory_bytes?: unknown; context_size?: unknown }>;
      };
      return (body.models ?? []).flatMap((model) =>
        typeof model.id === "string"
          ? [
              {
                id: model.id,
                loaded: model.state === "loaded",
                ...(typeof model.memory_bytes === "number" ? { memoryBytes: model.memory_bytes } : {}),
                ...(typeof model.context_size === "number" ? { contextLength: model.context_size } : {}),
              },
            ]
          : [],
      );
    } catch {
      // An LMX too old for the route, or one that stopped answering: the model list still stands.
      return [];
    }
  }

  async listModels(signal?: AbortSignal): Promise<string[]> {
    const key = await this.readKey(`${this.baseUrl}/models`);
    const url = `${this.baseUrl}/models`;
    const headers: Record<string, string> = { accept: "application/json" };
    if (key && this.type === "anthropic") {
      headers["x-api-key"] = key;
      headers["anthropic-version"] = ANTHROPIC_VERSION;
    } else if (key) headers.authorization = `Bearer ${key}`;
    const limit = Math.min(this.options.connectTimeoutMs, LIST_TIMEOUT_MS);
    const timeout = AbortSignal.timeout(limit);
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    } catch (error) {
      if (signal?.aborted) throw error;
      if (timeout.aborted) {
        throw new ProviderError(
          "PROVIDER_TIMEOUT",
          `${this.name} at ${url} did not answer within ${seconds(limit)}s.`,
          {
            endpoint: url,
            retryable: true,
            beforeFirstToken: true,
          },
        );
      }
      throw this.unreachable(url, error);
    }
    if (!response.ok) {
      const detail = errorDetail(await response.text().catch(() => ""));
      throw this.statusError(url, response.status, detail, key);
    }
    const body = (await response.json().catch(() => ({}))) as { data?: Array<{ id?: unknown }> };
    return (body.data ?? []).map((model) => model.id).filter((id): id is string => typeof id === "string");
  }

  async *stream(request: ChatRequest): AsyncIterable<ProviderChunk> {
    if (request.signal.aborted) throw request.signal.reason;
    const endpoint = this.endpointFor(request.model);
    const key = await this.readKey(endpoint);
    // OpenAI-compatible servers (LMX first of all) are read directly: same parts, less latency per token.
    const direct = this.type === "lmx" || this.type === "openai-compatible";
    const model = direct ? undefined : await this.languageModel(request.model, key);

    // One controller for the whole call: user cancel, header timeout and idle timeout all abort it.
    const controller = new AbortController();
    // Settles when the call is aborted, so a read never waits for the abort to travel through the
    // SDK's stream pipeline (a cancel must end the turn within milliseconds).
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
    });
    aborted.catch(() => {});
    let timedOut: "connect" | "idle" | undefined;
    const onAbort = () => controller.abort(request.signal.reason);
    request.signal.addEventListener("abort", onAbort, { once: true });
    let timer = setTimeout(() => {
      timedOut = "connect";
      controller.abort();
    }, this.options.connectTimeoutMs);
    const resetIdle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = "idle";
        controller.abort();
      }, this.options.idleTimeoutMs);
    };

    let firstTokenSent = false;
    const fail = (error: unknown) => {
      if (request.signal.aborted) return error;
      return this.translate(error, { timedOut, afterFirstToken: firstTokenSent, key, endpoint });
    };
    try {
      let reader: { read(): Promise<IteratorResult<LanguageModelV3StreamPart>>; cancel(): Promise<unknown> };
      if (direct) {
        const parts = streamOpenAIChat({
          url: endpoint,
          key,
          model: request.model,
          request,
          signal: controller.signal,
        });
        reader = { read: () => parts.next(), cancel: async () => parts.return(undefined) };
      } else {
        let stream: ReadableStream<LanguageModelV3StreamPart>;
        try {
          const tools = toTools(request.tools);
          const providerOptions = this.providerOptions(request.model);
          ({ stream } = await model!.doStream({
            prompt: toPrompt(request.messages, (name, input) => this.signedReasoning.get(toolCallKey(name, input))),
            ...(tools ? { tools, toolChoice: toToolChoice(request.toolChoice) ?? { type: "auto" } } : {}),
            ...(request.maxTokens ? { maxOutputTokens: this.outputTokens(request.model, request.maxTokens) } : {}),
            ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
            ...(providerOptions ? { providerOptions } : {}),
            abortSignal: controller.signal,
          }));
        } catch (error) {
          throw fail(error);
        }
        resetIdle();
        const webReader = stream.getReader();
        reader = {
          read: async () => {
            const next = await webReader.read();
            return next.done ? { done: true, value: undefined } : { done: false, value: next.value };
          },
          cancel: () => webReader.cancel(),
        };
      }
      const reasoning = new Map<string, ReasoningBlock>();
      try {
        for (;;) {
          let next: Awaited<ReturnType<typeof reader.read>>;
          try {
            next = await Promise.race([reader.read(), aborted]);
          } catch (error) {
            throw fail(error);
          }
          if (next.done) break;
          resetIdle();
          const part = next.value;
          switch (part.type) {
            case "text-delta":
              if (!part.delta) break;
              firstTokenSent = true;
              yield { type: "text", delta: part.delta };
              break;
            case "reasoning-start":
            case "reasoning-end":
              // OpenAI's item id and encrypted reasoning arrive on these, not on the deltas.
              noteReasoning(reasoning, part.id, "", part.providerMetadata);
              break;
            case "reasoning-delta": {
              noteReasoning(reasoning, part.id, part.delta, part.providerMetadata);
              if (!part.delta) break;
              firstTokenSent = true;
              yield { type: "reasoning", delta: part.delta };
              break;
            }
            case "tool-call":
              firstTokenSent = true;
              this.keepSignedReasoning(toolCallKey(part.toolName, part.input), reasoning);
              yield { type: "tool-call", id: part.toolCallId, name: part.toolName, arguments: part.input };
              break;
            case "finish": {
              const reasoningTokens = part.usage.outputTokens.reasoning;
              const cachedTokens = part.usage.inputTokens.cacheRead;
              yield {
                type: "usage",
                promptTokens: part.usage.inputTokens.total ?? 0,
                completionTokens: part.usage.outputTokens.total ?? 0,
                ...(reasoningTokens !== undefined ? { reasoningTokens } : {}),
                ...(cachedTokens !== undefined ? { cachedTokens } : {}),
              };
              yield { type: "finish", reason: finishReason(part.finishReason) };
              break;
            }
            case "error":
              throw fail(part.error);
          }
        }
      } finally {
        reader.cancel().catch(() => {});
      }
    } finally {
      clearTimeout(timer);
      request.signal.removeEventListener("abort", onAbort);
    }
  }

  private keepSignedReasoning(key: string, blocks: Map<string, ReasoningBlock>): void {
    const parts: LanguageModelV3ReasoningPart[] = [];
    for (const block of blocks.values()) {
      if (this.type === "anthropic" && block.signature) {
        parts.push({
          type: "reasoning",
          text: block.text,
          providerOptions: { anthropic: { signature: block.signature } },
        });
      } else if (this.type === "openai" && block.encryptedContent) {
        parts.push({
          type: "reasoning",
          text: block.text,
          providerOptions: {
            openai: {
              ...(block.itemId ? { itemId: block.itemId } : {}),
              reasoningEncryptedContent: block.encryptedContent,
            },
          },
        });
      }
    }
    if (parts.length === 0) return;
    this.signedReasoning.set(key, parts);
    if (this.signedReasoning.size > SIGNED_REASONING_KEPT) {
      this.signedReasoning.delete(this.signedReasoning.keys().next().value!);
    }
  }

  /**
   * A LanguageModelV3 for one request, built with the key as it is now. The provider packages load
   * on first use, so a daemon that never calls a cloud provider does not pay for them at start.
   */
  private async languageModel(modelId: string, key: string | undefined): Promise<LanguageModelV3> {
    switch (this.type) {
      case "anthropic": {
        const { createAnthropic } = await import("@ai-sdk/anthropic");
        return createAnthropic({ baseURL: this.baseUrl, apiKey: key ?? "" }).languageModel(modelId);
      }
      case "openai": {
        const { createOpenAI } = await import("@ai-sdk/openai");
        const openai = createOpenAI({ baseURL: this.baseUrl, apiKey: key ?? "" });
        // Reasoning models on the Responses API (the only one that streams their reasoning
        // summaries); the rest on Chat Completions, the format OpenAI-compatible proxies also serve.
        return this.openAIApi(modelId) === "responses" ? openai.responses(modelId) : openai.chat(modelId);
      }
      default: {
        const { createOpenAICompatible } = await import("@ai-sdk/openai-compatible");
        return createOpenAICompatible({
          name: this.name,
          baseURL: this.baseUrl,
          ...(key ? { apiKey: key } : {}),
          includeUsage: true,
        }).chatModel(modelId);
      }
    }
  }

  /**
   * The output cap sent for a call. OpenAI counts a reasoning model's reasoning inside
   * `max_output_tokens` (`max_completion_tokens`), so the thinking budget is added on top, as the
   * Anthropic SDK adds `budget_tokens`: `max-output-tokens` stays what the answer itself may use.
   */
  private outputTokens(model: string, maxTokens: number): number {
    if (this.type !== "openai" || !isOpenAIReasoningModel(model)) return maxTokens;
    return maxTokens + (this.options.thinkingBudget?.() ?? THINKING_BUDGET_TOKENS);
  }

  /**
   * What each API needs to think as configured. Anthropic: `thinking: true` enables thinking with
   * `thinking-budget` tokens. OpenAI reasoning models always reason: `thinking-budget` (or
   * `thinking: true`, with the default budget) sets their effort, and `thinking: true` asks the
   * Responses API for reasoning summaries (OpenAI requires a verified organisation for those, so
   * they are not asked for unbidden). The Responses API is called with `store: false`: the daemon
   * sends the whole conversation each time, and OpenAI keeps none of it.
   */
  private providerOptions(model: string): SharedV3ProviderOptions | undefined {
    const thinking = this.options.thinking?.() === true;
    const budget = this.options.thinkingBudget?.();
    if (this.type === "anthropic") {
      if (!thinking) return undefined;
      return { anthropic: { thinking: { type: "enabled", budgetTokens: budget ?? THINKING_BUDGET_TOKENS } } };
    }
    if (this.type !== "openai") return undefined;
    const responses = this.openAIApi(model) === "responses";
    const reasoning = isOpenAIReasoningModel(model);
    const options: Record<string, JSONValue> = {};
    if (responses) options.store = false;
    if (reasoning && (thinking || budget !== undefined)) {
      options.reasoningEffort = reasoningEffortFor(budget ?? THINKING_BUDGET_TOKENS);
    }
    if (reasoning && responses && thinking) options.reasoningSummary = "auto";
    return Object.keys(options).length > 0 ? { openai: options } : undefined;
  }

  private async readKey(endpoint: string): Promise<string | undefined> {
    const key = (await this.options.apiKey?.())?.trim() || undefined;
    if (!key && this.requiresKey) {
      throw new ProviderError(
        "PROVIDER_ERROR",
        `${this.name} has no API key; add one with 'opta account add ${this.name}'.`,
        { endpoint, retryable: false, beforeFirstToken: true },
      );
    }
    return key;
  }

  /** Any failure as a ProviderError that names the endpoint, says what to do, and carries no key. */
  private translate(
    error: unknown,
    state: {
      timedOut: "connect" | "idle" | undefined;
      afterFirstToken: boolean;
      key: string | undefined;
      endpoint: string;
    },
  ): ProviderError {
    const url = APICallError.isInstance(error) ? error.url : state.endpoint;
    if (state.timedOut) {
      const ms = state.timedOut === "connect" ? this.options.connectTimeoutMs : this.options.idleTimeoutMs;
      const what = state.timedOut === "connect" ? "did not answer" : "stopped sending";
      return new ProviderError(
        "PROVIDER_TIMEOUT",
        `${this.name} at ${url} ${what} within ${seconds(ms)}s; check the server's log, or try again.`,
        { endpoint: url, retryable: true, beforeFirstToken: !state.afterFirstToken },
      );
    }
    if (error instanceof ProviderError) return error;
    if (APICallError.isInstance(error)) {
      if (error.statusCode !== undefined && error.statusCode < 300) {
        // The server said yes, then the stream broke before the SDK could read it.
        const cause = messageOf(error.cause ?? error);
        return new ProviderError(
          "PROVIDER_ERROR",
          redactSecrets(`${this.name} at ${url} broke off its answer: ${cause}`, [state.key]),
          { endpoint: url, retryable: true, beforeFirstToken: !state.afterFirstToken },
        );
      }
      if (error.statusCode === undefined) {
        const unreachable = this.unreachable(url, error.cause ?? error);
        return state.afterFirstToken
          ? new ProviderError("PROVIDER_ERROR", unreachable.message, {
              ...unreachable.options,
              beforeFirstToken: false,
            })
          : unreachable;
      }
      const detail = errorDetail(error.responseBody ?? "") || error.message;
      const statusError = this.statusError(url, error.statusCode, detail, state.key);
      return state.afterFirstToken
        ? new ProviderError(statusError.code, statusError.message, { ...statusError.options, beforeFirstToken: false })
        : statusError;
    }
    const message = messageOf(error);
    return new ProviderError(
      "PROVIDER_ERROR",
      redactSecrets(`${this.name} at ${url} ${state.afterFirstToken ? "stream broke" : "failed"}: ${message}`, [
        state.key,
      ]),
      { endpoint: url, retryable: true, beforeFirstToken: !state.afterFirstToken },
    );
  }

  private unreachable(url: string, error: unknown): ProviderError {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const code = (error as { code?: string }).code;
    const reason = cause?.code ?? code ?? cause?.message ?? messageOf(error);
    const hint = this.options.unreachableHint ?? "check that the server is running";
    return new ProviderError("PROVIDER_UNREACHABLE", `Could not reach ${this.name} at ${url} (${reason}); ${hint}.`, {
      endpoint: url,
      retryable: true,
      beforeFirstToken: true,
    });
  }

  private statusError(url: string, status: number, detail: string, key: string | undefined): ProviderError {
    const retryable = status === 408 || status === 429 || status >= 500;
    const hint =
      status === 401 || status === 403
        ? key
          ? `; check the key with 'opta account rotate ${this.name}'`
          : `; add a key with 'opta account add ${this.name}'`
        : /reasoning summar/i.test(detail)
          ? // OpenAI streams reasoning summaries only to verified organisations.
            "; verify the organization at https://platform.openai.com/settings/organization/general, or stop asking for summaries with 'opta config set thinking false'"
          : "";
    return new ProviderError(
      "PROVIDER_ERROR",
      redactSecrets(`${this.name} at ${url} answered ${status}${detail ? `: ${detail}` : ""}${hint}`, [key]),
      { endpoint: url, status, retryable, beforeFirstToken: true },
    );
  }
}

/** The readable part of an error body: OpenAI's and Anthropic's `{error: {message}}`, else the text. */
function errorDetail(text: string): string {
  if (!text) return "";
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    if (typeof parsed.error === "string") return parsed.error;
    return parsed.error?.message ?? parsed.message ?? text.slice(0, 300);
  } catch {
    return text.slice(0, 300);
  }
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null) {
    const record = error as { message?: unknown; error?: { message?: unknown; type?: unknown } };
    if (typeof record.message === "string") return record.message;
    if (typeof record.error?.message === "string") return record.error.message;
    return JSON.stringify(error).slice(0, 300);
  }
  return String(error);
}

/** One reasoning part of a response, with what its API needs to take it back. */
interface ReasoningBlock {
  text: string;
  /** Anthropic's signature of the thinking. */
  signature?: string;
  /** OpenAI's reasoning item id. */
  itemId?: string;
  /** OpenAI's encrypted reasoning (with `store: false`). */
  encryptedContent?: string;
}

/** Adds a reasoning part's delta and provider metadata to its block. */
function noteReasoning(
  blocks: Map<string, ReasoningBlock>,
  id: string,
  delta: string,
  metadata: SharedV3ProviderMetadata | undefined,
): void {
  const block = blocks.get(id) ?? { text: "" };
  block.text += delta;
  const signature = metadata?.anthropic?.signature;
  if (typeof signature === "string") block.signature = signature;
  const itemId = metadata?.openai?.itemId;
  if (typeof itemId === "string") block.itemId = itemId;
  const encrypted = metadata?.openai?.reasoningEncryptedContent;
  if (typeof encrypted === "string") block.encryptedContent = encrypted;
  blocks.set(id, block);
}

/** Identifies a tool call by what it asks for: its name and its arguments in canonical JSON. */
function toolCallKey(name: string, input: string): string {
  try {
    return `${name}\u0000${JSON.stringify(JSON.parse(input))}`;
  } catch {
    return `${name}\u0000${input}`;
  }
}

/** The SDK's unified finish reason in the OpenAI spelling the agent loop and the log use. */
function finishReason(reason: LanguageModelV3FinishReason): string {
  switch (reason.unified) {
    case "tool-calls":
      return "tool_calls";
    case "content-filter":
      return "content_filter";
    case "other":
      return reason.raw ?? "other";
    default:
      return reason.unified;
  }
}

function seconds(ms: number): number {
  return Math.round(ms / 100) / 10;
}
