import type { ServerResponse } from "node:http";
import type { Llama } from "node-llama-cpp";
import type { LmxMetrics } from "../metrics/metrics.js";
import type { ModelRegistry } from "../models/registry.js";
import type { GrammarCache } from "../openai/grammars.js";

/** Everything a route handler needs from the running server. */
export type LmxApp = {
  llama: Llama;
  registry: ModelRegistry;
  metrics: LmxMetrics;
  grammars: GrammarCache;
  version: string;
  /** Whether requests need the API key (`/health` says so, for the dashboard to ask for it). */
  authRequired: boolean;
  log: (line: Record<string, unknown>) => void;
  /** Testing aid ({@link LmxOptions.forceToolCall}): `tool_choice: auto` right after a user message acts as `required`. */
  forceToolCall?: true | string;
  /** Testing aid ({@link LmxOptions.logitBias}): a bias under every request's own `logit_bias`. */
  logitBias?: Record<string, number>;
};

/** One request as handlers see it. */
export type RequestScope = {
  /** Aborted when the client disconnects before the response is complete. */
  signal: AbortSignal;
  /** `performance.now()` when the request arrived. */
  receivedAt: number;
  /** The raw response, for streaming. */
  response: ServerResponse;
  /** Request id, echoed in logs. */
  requestId: string;
};

/** Returned by a handler that wrote the response itself (a stream). */
export const STREAMED = Symbol("streamed");
