import { z } from "zod";
import { PermissionLevel } from "./common.js";

/** One configured provider (issue: providers). Keys never live here; they live in the vault. */
export const ProviderConfig = z
  .object({
    type: z.enum(["openai-compatible", "anthropic", "openai", "lmx"]),
    baseUrl: z.string().optional(),
    models: z.array(z.string()).optional(),
    /**
     * Which OpenAI API a `type: openai` provider calls: `responses` (`/v1/responses`, reasoning
     * summaries) or `chat` (`/v1/chat/completions`). Default: `responses` for reasoning models
     * (o1, o3, o4, gpt-5 families), `chat` for the rest.
     */
    api: z.enum(["responses", "chat"]).optional(),
  })
  .strict()
  .refine((provider) => provider.api === undefined || provider.type === "openai", {
    message: "applies only to providers of type openai (the Responses API is OpenAI's); remove it",
    path: ["api"],
  });
export type ProviderConfig = z.infer<typeof ProviderConfig>;

/** One MCP server, started over stdio (command) or reached over streamable HTTP (url). */
export const McpServerConfig = z
  .object({
    command: z.array(z.string()).optional(),
    url: z.string().optional(),
    env: z.record(z.string(), z.string()).optional(),
    enabled: z.boolean().optional(),
    /** Seconds a tool call may take before it fails with MCP_TIMEOUT (default 60). */
    timeout: z.number().positive().max(3600).optional(),
  })
  .strict();
export type McpServerConfig = z.infer<typeof McpServerConfig>;

/** Where provider keys are kept: the OS keychain or `$OPTA_HOME/vault.json`. */
export const VaultBackend = z.enum(["keychain", "file"]);
export type VaultBackend = z.infer<typeof VaultBackend>;

/** Fewest thinking tokens a config may ask for: Anthropic refuses a smaller `budget_tokens`. */
export const THINKING_BUDGET_MIN = 1024;
/** Most thinking tokens a config may ask for: the largest output any supported model allows. */
export const THINKING_BUDGET_MAX = 128_000;

/**
 * `$OPTA_HOME/config.yaml`. Unknown keys are kept (a newer CLI may have written them) but every
 * known key is validated, so a typo in a value is reported with its key.
 */
export const OptaConfig = z
  .object({
    /** Model used when a session or turn names none; else the first model LMX lists. */
    "default-model": z.string().optional(),
    /** Ask models that support it to stream their reasoning. */
    thinking: z.boolean().optional(),
    /**
     * Tokens a model may spend thinking per call: Anthropic's `budget_tokens` (with `thinking: true`),
     * and OpenAI reasoning models' effort (below 2048 low, below 8192 medium, else high). Default 4096.
     */
    "thinking-budget": z
      .number()
      .int("must be a whole number of tokens")
      .min(THINKING_BUDGET_MIN, `must be at least ${THINKING_BUDGET_MIN} tokens (Anthropic's smallest thinking budget)`)
      .max(THINKING_BUDGET_MAX, `must be at most ${THINKING_BUDGET_MAX} tokens`)
      .optional(),
    /** Agent-loop step limit in Do mode. */
    "max-steps": z.number().int().min(1).max(1000).optional(),
    /**
     * Most tokens the model may generate in one call (max_tokens), sent on every call the daemon makes
     * (turn steps, compaction); default 4096, lowered to what the model's known window leaves.
     */
    "max-output-tokens": z.number().int().min(1).optional(),
    /**
     * The model's context window in tokens, for every model (beats what the server reports and the
     * built-in table of model families); at 80% full, older turns are compacted automatically.
     */
    "context-window": z.number().int().min(256).optional(),
    /** Whether the agent loop lets the model choose (auto), forces a tool call each step (required), or offers no tools (none). */
    "tool-choice": z.enum(["auto", "required", "none"]).optional(),
    /** Default permission level for new turns. */
    permission: PermissionLevel.optional(),
    /** Where provider keys live; recorded when the first key is stored, so the CLI and the daemon open the same vault. */
    vault: VaultBackend.optional(),
    lmx: z
      .object({
        /** `host:port` or a base URL of the LMX (or any OpenAI-compatible) server. */
        host: z.string().optional(),
        /** Browse mDNS for `_opta-lmx._tcp` when nothing answers locally. */
        discovery: z.boolean().optional(),
        /** Send the `lmx` key to an LMX found by mDNS on another machine (default: only to this machine). */
        "trust-discovered": z.boolean().optional(),
      })
      .catchall(z.unknown())
      .optional(),
    providers: z.record(z.string(), ProviderConfig).optional(),
    /**
     * Where a turn goes when its provider fails before the first token: provider names or
     * `provider/model` refs, tried in order. Default: `lmx`, then `providers` in config order.
     */
    fallback: z.array(z.string()).optional(),
    mcp: z
      .object({
        peekaboo: z.boolean().optional(),
        servers: z.record(z.string(), McpServerConfig).optional(),
      })
      .catchall(z.unknown())
      .optional(),
  })
  .catchall(z.unknown());
export type OptaConfig = z.infer<typeof OptaConfig>;

/** Defaults applied when a key is absent. */
export const CONFIG_DEFAULTS = {
  "max-steps": 20,
  "max-output-tokens": 4096,
  thinking: false,
  "thinking-budget": 4096,
  permission: "safe",
} as const;
