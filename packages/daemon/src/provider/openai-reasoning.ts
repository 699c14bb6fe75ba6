/** Which OpenAI API a request goes to: the Responses API or Chat Completions. */
export type OpenAIApi = "responses" | "chat";

/** OpenAI's reasoning effort, as the Responses and Chat Completions APIs spell it. */
export type ReasoningEffort = "low" | "medium" | "high";

/**
 * OpenAI's reasoning model families: only the Responses API streams their reasoning summaries
 * (Chat Completions hides the reasoning and reports only its token count). `gpt-5-chat…` is the
 * non-reasoning chat model of the gpt-5 family.
 */
const REASONING_MODELS: readonly RegExp[] = [/^o\d+(?:-|$)/, /^gpt-5(?:\.\d+)?(?!-chat)(?:-|$)/];

/** Whether a model id names one of OpenAI's reasoning models (o1, o3, o4-mini, gpt-5, gpt-5.1-codex…). */
export function isOpenAIReasoningModel(model: string): boolean {
  const id = model.trim().toLowerCase();
  return REASONING_MODELS.some((pattern) => pattern.test(id));
}

/**
 * The API a `type: openai` provider calls for a model: `providers.<name>.api` when set, else the
 * Responses API for reasoning models (their reasoning summaries exist only there) and Chat
 * Completions for the rest (the format OpenAI-compatible proxies also serve).
 */
export function openAIApiFor(model: string, configured: OpenAIApi | undefined): OpenAIApi {
  return configured ?? (isOpenAIReasoningModel(model) ? "responses" : "chat");
}

/** Budgets below this many tokens ask OpenAI for `low` effort. */
export const LOW_EFFORT_BELOW = 2048;
/** Budgets below this many tokens (and from LOW_EFFORT_BELOW) ask for `medium`; the rest `high`. */
export const MEDIUM_EFFORT_BELOW = 8192;

/**
 * Config `thinking-budget` (tokens) as OpenAI's reasoning effort. OpenAI takes no token budget,
 * only a level; the thresholds put the default budget (4096) at `medium`, OpenAI's own default.
 */
export function reasoningEffortFor(budgetTokens: number): ReasoningEffort {
  if (budgetTokens < LOW_EFFORT_BELOW) return "low";
  if (budgetTokens < MEDIUM_EFFORT_BELOW) return "medium";
  return "high";
}
