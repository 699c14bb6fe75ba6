import type { ChatProvider, ChatRequest, ProviderChunk } from "./types.js";
import { ProviderError } from "./types.js";

/** Settings for an OpenAI-compatible provider (LMX, Ollama, LM Studio, llama.cpp, vLLM, OpenAI). */
export interface OpenAICompatibleOptions {
  name: string;
  type?: string;
  /** Base URL including `/v1`. */
  baseUrl: string;
  apiKey?: () => string | undefined;
  /** Longest wait for the response headers (model loading counts), ms. */
  connectTimeoutMs: number;
  /** Longest silence between two chunks of a stream, ms. */
  idleTimeoutMs: number;
  /** What to tell the user when the server cannot be reached. */
  unreachableHint?: string;
}

interface StreamDelta {
  content?: string | null;
  reasoning_content?: string | null;
  reasoning?: string | null;
  tool_calls?: Array<{ index?: number; id?: string; function?: { name?: string; arguments?: string } }>;
}

interface StreamChunk {
  choices?: Array<{ delta?: StreamDelta; finish_reason?: string | null }>;
  usage?: {
    prompt_tokens?: number;
    completion_tokens?: number;
    completion_tokens_details?: { reasoning_tokens?: number };
  } | null;
  error?: { message?: string };
}

/** Streams chat completions over the OpenAI wire format (SSE). */
export class OpenAICompatibleProvider implements ChatProvider {
  readonly name: string;
  readonly type: string;
  readonly baseUrl: string;

  constructor(private readonly options: OpenAICompatibleOptions) {
    this.name = options.name;
    this.type = options.type ?? "openai-compatible";
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
  }

  async listModels(signal?: AbortSignal): Promise<string[]> {
    const url = `${this.baseUrl}/models`;
    const timeout = AbortSignal.timeout(Math.min(this.options.connectTimeoutMs, 5000));
    const response = await this.request(url, {
      method: "GET",
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const body = (await response.json().catch(() => ({}))) as { data?: Array<{ id?: unknown }> };
    return (body.data ?? []).map((model) => model.id).filter((id): id is string => typeof id === "string");
  }

  async *stream(request: ChatRequest): AsyncIterable<ProviderChunk> {
    const url = `${this.baseUrl}/chat/completions`;
    const body: Record<string, unknown> = {
      model: request.model,
      messages: request.messages,
      stream: true,
      stream_options: { include_usage: true },
    };
    if (request.tools?.length) body.tools = request.tools;
    if (request.toolChoice && request.tools?.length) body.tool_choice = request.toolChoice;
    if (request.maxTokens) body.max_tokens = request.maxTokens;
    if (request.temperature !== undefined) body.temperature = request.temperature;

    // One controller for the whole call: user cancel, header timeout and idle timeout all abort it.
    const controller = new AbortController();
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
    try {
      let response: Response;
      try {
        response = await this.request(url, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "text/event-stream" },
          body: JSON.stringify(body),
          signal: controller.signal,
        });
      } catch (error) {
        if (timedOut) throw this.timeoutError(url, "connect", false);
        throw error;
      }
      resetIdle();
      if (!response.body) throw this.error("PROVIDER_ERROR", url, "returned an empty response", true, false);
      const toolCalls = new Map<number, { id: string; name: string; arguments: string }>();
      const decoder = new TextDecoder();
      let buffer = "";
      let done = false;
      const reader = response.body.getReader();
      try {
        while (!done) {
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (error) {
            if (timedOut) throw this.timeoutError(url, timedOut, firstTokenSent);
            if (request.signal.aborted) throw error;
            throw this.error("PROVIDER_ERROR", url, `stream broke: ${(error as Error).message}`, true, firstTokenSent);
          }
          if (chunk.done) break;
          resetIdle();
          buffer += decoder.decode(chunk.value, { stream: true });
          let newline = buffer.indexOf("\n");
          while (newline !== -1) {
            const line = buffer.slice(0, newline).trim();
            buffer = buffer.slice(newline + 1);
            newline = buffer.indexOf("\n");
            if (!line.startsWith("data:")) continue;
            const data = line.slice(5).trim();
            if (data === "[DONE]") {
              done = true;
              break;
            }
            let parsed: StreamChunk;
            try {
              parsed = JSON.parse(data) as StreamChunk;
            } catch {
              continue;
            }
            if (parsed.error) {
              throw this.error("PROVIDER_ERROR", url, parsed.error.message ?? "sent an error", true, firstTokenSent);
            }
            for (const choice of parsed.choices ?? []) {
              const delta = choice.delta;
              if (delta?.content) {
                firstTokenSent = true;
                yield { type: "text", delta: delta.content };
              }
              const reasoning = delta?.reasoning_content ?? delta?.reasoning;
              if (reasoning) {
                firstTokenSent = true;
                yield { type: "reasoning", delta: reasoning };
              }
              for (const call of delta?.tool_calls ?? []) {
                firstTokenSent = true;
                const index = call.index ?? 0;
                const entry = toolCalls.get(index) ?? { id: "", name: "", arguments: "" };
                if (call.id) entry.id = call.id;
                if (call.function?.name) entry.name += call.function.name;
                if (call.function?.arguments) entry.arguments += call.function.arguments;
                toolCalls.set(index, entry);
              }
              if (choice.finish_reason) {
                for (const [index, call] of [...toolCalls.entries()].sort((a, b) => a[0] - b[0])) {
                  yield {
                    type: "tool-call",
                    id: call.id || `call_${index}`,
                    name: call.name,
                    arguments: call.arguments,
                  };
                }
                toolCalls.clear();
                yield { type: "finish", reason: choice.finish_reason };
              }
            }
            if (parsed.usage) {
              const reasoningTokens = parsed.usage.completion_tokens_details?.reasoning_tokens;
              yield {
                type: "usage",
                promptTokens: parsed.usage.prompt_tokens ?? 0,
                completionTokens: parsed.usage.completion_tokens ?? 0,
                ...(reasoningTokens !== undefined ? { reasoningTokens } : {}),
              };
            }
          }
        }
      } finally {
        reader.cancel().catch(() => {});
      }
      for (const [index, call] of toolCalls) {
        yield { type: "tool-call", id: call.id || `call_${index}`, name: call.name, arguments: call.arguments };
      }
    } finally {
      clearTimeout(timer);
      request.signal.removeEventListener("abort", onAbort);
    }
  }

  /** fetch with errors translated into ProviderErrors that name the endpoint. */
  private async request(url: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    const key = this.options.apiKey?.();
    if (key) headers.set("authorization", `Bearer ${key}`);
    let response: Response;
    try {
      response = await fetch(url, { ...init, headers });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      const hint = this.options.unreachableHint ?? "check that the server is running";
      throw new ProviderError("PROVIDER_UNREACHABLE", `Could not reach ${this.name} at ${url} (${reason}); ${hint}.`, {
        endpoint: url,
        retryable: true,
        beforeFirstToken: true,
      });
    }
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      let detail = text.slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { error?: { message?: string } | string };
        detail = typeof parsed.error === "string" ? parsed.error : (parsed.error?.message ?? detail);
      } catch {
        // not JSON: keep the raw text
      }
      const retryable = response.status === 429 || response.status >= 500;
      throw new ProviderError(
        "PROVIDER_ERROR",
        `${this.name} at ${url} answered ${response.status}${detail ? `: ${detail}` : ""}`,
        { endpoint: url, status: response.status, retryable, beforeFirstToken: true },
      );
    }
    return response;
  }

  private timeoutError(url: string, phase: "connect" | "idle", afterFirstToken: boolean): ProviderError {
    const ms = phase === "connect" ? this.options.connectTimeoutMs : this.options.idleTimeoutMs;
    const what = phase === "connect" ? "did not answer" : "stopped sending";
    return new ProviderError(
      "PROVIDER_TIMEOUT",
      `${this.name} at ${url} ${what} within ${Math.round(ms / 100) / 10}s; check the server's log, or try again.`,
      { endpoint: url, retryable: true, beforeFirstToken: !afterFirstToken },
    );
  }

  private error(
    code: "PROVIDER_ERROR",
    url: string,
    what: string,
    retryable: boolean,
    afterFirstToken: boolean,
  ): ProviderError {
    return new ProviderError(code, `${this.name} at ${url} ${what}`, {
      endpoint: url,
      retryable,
      beforeFirstToken: !afterFirstToken,
    });
  }
}

/** Turns `host:port`, `http://host:port` or `http://host:port/v1` into a base URL ending in `/v1`. */
export function lmxBaseUrl(host: string): string {
  const trimmed = host.trim().replace(/\/+$/, "");
  const withScheme = /^https?:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  const url = new URL(withScheme);
  if (url.pathname === "" || url.pathname === "/") url.pathname = "/v1";
  return url.toString().replace(/\/+$/, "");
}
