import { CONFIG_DEFAULTS, type OptaConfig } from "@opta/protocol";
import type { ChatMessage, ToolSpec } from "../provider/types.js";

/**
 * Context windows of well-known model families, for providers that do not report one (OpenAI,
 * Anthropic, Ollama's OpenAI API). First match wins, so narrower patterns come first. These are the
 * models' trained windows: a server may serve less (Ollama's `num_ctx`), which config
 * `context-window` overrides.
 */
const KNOWN_WINDOWS: ReadonlyArray<readonly [RegExp, number]> = [
  [/^gpt-4\.1/, 1_047_576],
  [/^gpt-5/, 400_000],
  [/^gpt-4o|^gpt-4-turbo|^chatgpt-4o/, 128_000],
  [/^gpt-4-32k/, 32_768],
  [/^gpt-4(?!\.|o)/, 8_192],
  [/^gpt-3\.5-turbo/, 16_385],
  [/^o[134](-|$)/, 200_000],
  [/^claude-/, 200_000],
  [/^gemini-/, 1_048_576],
  [/^llama-?3\.[123]|^llama-?4/, 131_072],
  [/^llama-?3/, 8_192],
  [/^qwen3/, 40_960],
  [/^qwen2\.5/, 32_768],
  [/^gemma-?3-?(270m|1b)/, 32_768],
  [/^gemma-?3/, 131_072],
  [/^gemma-?2/, 8_192],
  [/^deepseek/, 131_072],
  [/^mistral|^mixtral/, 32_768],
  [/^phi-?4/, 16_384],
];

/**
 * The trained context window of a model id from the table, undefined when the family is unknown.
 * A path or owner prefix (`qwen/qwen3-8b`, `hf.co/…/x.gguf`) and a tag suffix (`llama3.1:8b`) are ignored.
 */
export function knownContextWindow(model: string): number | undefined {
  const id = (model.split("/").at(-1) ?? model).toLowerCase();
  for (const [pattern, window] of KNOWN_WINDOWS) if (pattern.test(id)) return window;
  return undefined;
}

/** Tokens reserved so that a capped request still fits: the prompt estimate is only an estimate. */
const FIT_MARGIN = 64;
/** The cap never goes below this, so that a nearly full window still gets an answer (or a `length` end). */
const MIN_OUTPUT_TOKENS = 256;

/**
 * The `max_tokens` for one model call: config `max-output-tokens` (default 4096), lowered so that
 * prompt plus output fit the window when the window is known. Every call the daemon makes carries
 * one, so a generation always ends by itself (with `finish_reason: "length"` when it hits it).
 */
export function outputTokenCap(
  config: OptaConfig,
  window: number | undefined,
  request: { messages: readonly ChatMessage[]; tools?: readonly ToolSpec[] },
): number {
  const wanted = config["max-output-tokens"] ?? CONFIG_DEFAULTS["max-output-tokens"];
  if (window === undefined) return wanted;
  const left = window - estimateTokens(request) - FIT_MARGIN;
  return Math.max(Math.min(wanted, left), Math.min(wanted, MIN_OUTPUT_TOKENS));
}

/** A rough token count (4 characters a token) of messages and tool schemas: no tokenizer is at hand. */
export function estimateTokens(request: { messages: readonly ChatMessage[]; tools?: readonly ToolSpec[] }): number {
  let chars = 0;
  for (const message of request.messages) {
    chars += (message.content?.length ?? 0) + 8;
    for (const call of message.tool_calls ?? []) chars += call.function.name.length + call.function.arguments.length;
  }
  if (request.tools?.length) chars += JSON.stringify(request.tools).length;
  return Math.ceil(chars / 4);
}
