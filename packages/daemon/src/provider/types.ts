/** A message in the OpenAI chat format, which every provider adapter speaks to the agent loop. */
export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string | null;
  tool_calls?: Array<{ id: string; type: "function"; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
  name?: string;
}

/** A tool offered to the model (OpenAI function-tool shape). */
export interface ToolSpec {
  type: "function";
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

/** One streaming chat request. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  tools?: ToolSpec[];
  toolChoice?: "auto" | "none" | "required" | { type: "function"; function: { name: string } };
  maxTokens?: number;
  temperature?: number;
  signal: AbortSignal;
}

/** What a provider stream yields, the same for every provider. */
export type ProviderChunk =
  | { type: "text"; delta: string }
  | { type: "reasoning"; delta: string }
  | { type: "tool-call"; id: string; name: string; arguments: string }
  | {
      type: "usage";
      promptTokens: number;
      completionTokens: number;
      reasoningTokens?: number;
      /** Prompt tokens served from the provider's cache, when it says. */
      cachedTokens?: number;
    }
  | { type: "finish"; reason: string };

/** A model source the daemon can route a turn to. */
export interface ChatProvider {
  /** Configured name (`lmx`, `anthropic`, a user's name). */
  readonly name: string;
  /** Wire format: `lmx`, `openai-compatible`, `anthropic` or `openai`. */
  readonly type: string;
  /** API base URL (ending in `/v1` for every built-in type). */
  readonly baseUrl?: string;
  /** Models the config says it serves (`providers.<name>.models`), if any. */
  readonly configuredModels?: readonly string[];
  /** Whether a call without an API key is pointless (cloud providers). */
  readonly requiresKey?: boolean;
  /** Streams one model response; throws ProviderError (or the signal's reason when cancelled). */
  stream(request: ChatRequest): AsyncIterable<ProviderChunk>;
  /** Model ids the provider serves, from its API (one request). */
  listModels(signal?: AbortSignal): Promise<string[]>;
  /** Load state, memory and context size per model, where the server reports them (Opta LMX). */
  modelDetails?(signal?: AbortSignal): Promise<ModelDetail[]>;
}

/** What a server says about one of its models beyond its id. */
export interface ModelDetail {
  id: string;
  loaded: boolean;
  /** Memory the loaded model takes (weights, KV cache), bytes. */
  memoryBytes?: number;
  /** Tokens per sequence of the loaded model. */
  contextLength?: number;
}

/** Provider failure codes, as they appear in `turn.error`. */
export type ProviderErrorCode = "PROVIDER_UNREACHABLE" | "PROVIDER_ERROR" | "PROVIDER_TIMEOUT";

/** A provider call that failed; the message names the endpoint and says what to do. */
export class ProviderError extends Error {
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
    readonly options: { endpoint: string; status?: number; retryable: boolean; beforeFirstToken: boolean },
  ) {
    super(message);
    this.name = "ProviderError";
  }
  get retryable(): boolean {
    return this.options.retryable;
  }
}

/** Nothing to run a request on: no model configured or named, and the provider lists none. */
export class NoModelError extends Error {
  readonly code = "NO_MODEL";
  constructor(message: string) {
    super(message);
    this.name = "NoModelError";
  }
}
