import type { ChatProvider, ChatRequest, ProviderChunk } from "./types.js";
import { ProviderError } from "./types.js";

/** A turn moved from one provider to another before the first token (the `provider.fallback` event). */
export interface FallbackNotice {
  /** `provider/model` that failed. */
  from: string;
  /** `provider/model` the turn continues with. */
  to: string;
  /** The failure, as the provider reported it (keys redacted). */
  reason: string;
}

/** Options for resolving a model into a route. */
export interface ResolveOptions {
  /** Called once per fallback, before the next provider is tried. */
  onFallback?: (notice: FallbackNotice) => void;
}

/** One step of a route: a provider and the model to ask it for (chosen when first needed). */
export interface RouteCandidate {
  provider: ChatProvider;
  model?: string;
}

/** What a route needs from the registry. */
export interface RouteHost {
  /** Whether a provider gets a health preflight before it is used (LMX). */
  needsPreflight(provider: ChatProvider): boolean;
  /** Cached health (10 s) of one provider. */
  check(provider: ChatProvider): Promise<{ healthy: boolean; error?: string }>;
  /** Remembers that a provider just failed, so the next turn does not wait on it again. */
  markFailed(provider: ChatProvider, error: ProviderError): void;
  /** The model to ask a fallback provider for, given the one the turn wanted; undefined skips it. */
  modelFor(provider: ChatProvider, wanted: string | undefined, signal?: AbortSignal): Promise<string | undefined>;
  /** Whether a provider has the key it needs (a provider without one is skipped as a fallback). */
  hasKey(provider: ChatProvider): Promise<boolean>;
}

/**
 * A resolved model plus the providers to fall back to. `stream` tries the current provider; when it
 * fails before its first token (refused, timeout, 5xx, 429 — or its LMX preflight fails) the route
 * moves to the next provider that has a model and a key, reports it through `onFallback`, and
 * streams from there. It stays there for the rest of the turn. A failure after the first token is
 * thrown as is: the user has already seen part of the answer, so the turn ends with a retryable error.
 */
export class Route {
  private index = 0;

  constructor(
    private readonly host: RouteHost,
    private readonly candidates: RouteCandidate[],
    private readonly options: ResolveOptions = {},
  ) {
    if (!candidates[0]?.model) throw new Error("a route starts with a resolved model");
  }

  /** The provider the route currently uses. */
  get provider(): ChatProvider {
    return this.candidates[this.index]!.provider;
  }

  /** The model id the route currently asks for. */
  get model(): string {
    return this.candidates[this.index]!.model!;
  }

  /** `provider/model`, unambiguous across providers. */
  get ref(): string {
    return `${this.provider.name}/${this.model}`;
  }

  /** Streams from the current provider, falling back before the first token. */
  async *stream(request: Omit<ChatRequest, "model">): AsyncIterable<ProviderChunk> {
    for (;;) {
      const current = this.candidates[this.index]!;
      const primary = this.index === 0;
      let failure: ProviderError | undefined;
      if (this.host.needsPreflight(current.provider)) {
        const health = await this.host.check(current.provider);
        if (!health.healthy && (await this.peekNext(request.signal)) !== undefined) {
          failure = new ProviderError(
            "PROVIDER_UNREACHABLE",
            `${current.provider.name} failed its health check: ${health.error ?? "unhealthy"}`,
            { endpoint: current.provider.baseUrl ?? current.provider.name, retryable: true, beforeFirstToken: true },
          );
        }
      }
      if (!failure) {
        try {
          for await (const chunk of current.provider.stream({ ...request, model: current.model! })) yield chunk;
          return;
        } catch (error) {
          if (request.signal.aborted || !(error instanceof ProviderError)) throw error;
          // The chosen provider falls back on what may pass (refused, timeout, 5xx, 429); once
          // falling back, any failure before the first token moves on.
          const canFallBack = error.options.beforeFirstToken && (error.retryable || !primary);
          if (!canFallBack) throw error;
          if (error.retryable) this.host.markFailed(current.provider, error);
          failure = error;
        }
      }
      const next = await this.peekNext(request.signal);
      if (next === undefined) throw failure;
      const from = `${current.provider.name}/${current.model}`;
      this.index = next;
      this.options.onFallback?.({ from, to: this.ref, reason: failure.message });
    }
  }

  /** Index of the next candidate that has a model and a key (resolving its model), if any. */
  private async peekNext(signal: AbortSignal): Promise<number | undefined> {
    const wanted = this.candidates[0]!.model;
    for (let index = this.index + 1; index < this.candidates.length; index += 1) {
      const candidate = this.candidates[index]!;
      if (!(await this.host.hasKey(candidate.provider))) continue;
      candidate.model ??= await this.host.modelFor(candidate.provider, wanted, signal);
      if (candidate.model) return index;
    }
    return undefined;
  }
}
