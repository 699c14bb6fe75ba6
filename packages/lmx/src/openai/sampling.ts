import { randomInt } from "node:crypto";
import { type LLamaContextualRepeatPenalty, TokenBias, type Tokenizer } from "node-llama-cpp";
import { LmxError } from "../server/errors.js";

/** Sampling fields common to chat and text completions, already validated by the schema. */
export type SamplingRequest = {
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
  top_k?: number | null | undefined;
  min_p?: number | null | undefined;
  seed?: number | null | undefined;
  stop?: string | string[] | null | undefined;
  presence_penalty?: number | null | undefined;
  frequency_penalty?: number | null | undefined;
  repeat_penalty?: number | null | undefined;
  logit_bias?: Record<string, number> | null | undefined;
};

/** node-llama-cpp options derived from a request; defaults follow llama-server. */
export type SamplingOptions = {
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  seed: number;
  customStopTriggers?: string[];
  repeatPenalty: false | LLamaContextualRepeatPenalty;
};

/** Maps OpenAI sampling fields to node-llama-cpp's. */
export function samplingOptions(request: SamplingRequest): SamplingOptions {
  const options: SamplingOptions = {
    temperature: request.temperature ?? 0.8,
    topP: request.top_p ?? 0.95,
    topK: request.top_k ?? 40,
    minP: request.min_p ?? 0.05,
    // llama.cpp seeds are uint32; any safe integer maps onto one deterministically. Without a
    // seed, node-llama-cpp would use the current second, so unseeded requests within one second
    // would sample identically: draw a fresh random seed instead.
    seed:
      request.seed !== undefined && request.seed !== null
        ? ((request.seed % 2 ** 32) + 2 ** 32) % 2 ** 32
        : randomInt(0, 2 ** 32),
    repeatPenalty: false,
  };
  if (request.stop) options.customStopTriggers = typeof request.stop === "string" ? [request.stop] : request.stop;
  if (
    request.presence_penalty != null ||
    request.frequency_penalty != null ||
    (request.repeat_penalty != null && request.repeat_penalty !== 1)
  ) {
    options.repeatPenalty = {
      penalty: request.repeat_penalty ?? 1,
      presencePenalty: request.presence_penalty ?? 0,
      frequencyPenalty: request.frequency_penalty ?? 0,
      penalizeNewLine: false,
    };
  }
  return options;
}

/**
 * What `logit_bias: -100` (OpenAI's "ban") becomes. Not -Infinity: when a grammar (tool call,
 * json_schema) allows only banned tokens, llama.cpp's sampler then picks a token the grammar
 * rejects and node-llama-cpp throws from a promise nobody awaits, which killed the whole server.
 * A finite bias this low never wins against any other allowed token, and leaves the grammar a way out.
 */
const BANNED_LOGIT = -1000;

/**
 * `TokenBias.set` silently skips end-of-generation tokens (EOS, `<|im_end|>`…), so a client's
 * `logit_bias` on them did nothing, where OpenAI applies it to every token: write the entry into
 * the map the native sampler reads instead. Should node-llama-cpp change that field, the bias is
 * skipped as before rather than failing the request.
 */
function setEndTokenBias(bias: TokenBias, token: number, logit: number): void {
  const biases = (bias as unknown as { _biases?: unknown })._biases;
  if (biases instanceof Map) biases.set(token, logit);
}

/** Builds the per-step token bias: the client's `logit_bias` plus, while forcing, the next forced token. */
export function tokenBiasFor(
  tokenizer: Tokenizer,
  vocabularySize: number,
  logitBias: Record<string, number> | null | undefined,
  forcedTokens: readonly number[] = [],
): (() => TokenBias) | undefined {
  const entries = Object.entries(logitBias ?? {}).map(([key, value]) => {
    const token = Number(key);
    if (token >= vocabularySize) {
      throw new LmxError(
        "invalid_request",
        `logit_bias: token id ${token} is outside the vocabulary (size ${vocabularySize})`,
        {
          param: "logit_bias",
        },
      );
    }
    return [token, value] as const;
  });
  if (entries.length === 0 && forcedTokens.length === 0) return undefined;
  let step = 0;
  return () => {
    const bias = new TokenBias(tokenizer);
    for (const [token, value] of entries) {
      const logit = value <= -100 ? BANNED_LOGIT : value;
      if (tokenizer.isEogToken(token as never)) setEndTokenBias(bias, token, logit);
      else bias.set(token as never, { logit });
    }
    const forced = forcedTokens[step++];
    if (forced !== undefined) bias.set(forced as never, { logit: 100 });
    return bias;
  };
}

/** OpenAI's finish_reason for a node-llama-cpp stop reason. */
export function finishReason(stopReason: string, calledTools: boolean): "stop" | "length" | "tool_calls" {
  if (calledTools || stopReason === "functionCalls") return "tool_calls";
  if (stopReason === "maxTokens") return "length";
  return "stop";
}
