import { z } from "zod";

// Every number that reaches native code is bounded here first: NaN, Infinity, negative token
// counts or a 2^63 seed never get past the request parser.

const finite = () => z.number().finite();
const int = () => z.number().int().finite();

/** Sampling fields shared by chat and text completions. */
const samplingFields = {
  model: z.string().max(512).optional(),
  /** 0–2, like OpenAI. Default 0.8 (llama-server's), because local models degrade at 1.0. */
  temperature: finite().min(0).max(2).nullish(),
  top_p: finite().min(0).max(1).nullish(),
  /** Extension (llama-server, LM Studio): sample among the K most likely tokens; 0 disables. */
  top_k: int().min(0).max(1_000_000).nullish(),
  /** Extension: discard tokens below this fraction of the top token's probability. */
  min_p: finite().min(0).max(1).nullish(),
  seed: int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).nullish(),
  stop: z.union([z.string().min(1).max(512), z.array(z.string().min(1).max(512)).max(16)]).nullish(),
  presence_penalty: finite().min(-2).max(2).nullish(),
  frequency_penalty: finite().min(-2).max(2).nullish(),
  /** Extension: llama.cpp's repeat penalty (1 = off). */
  repeat_penalty: finite().min(0).max(10).nullish(),
  logit_bias: z
    .record(z.string().regex(/^\d{1,9}$/, "keys must be token ids"), finite().min(-100).max(100))
    .refine((bias) => Object.keys(bias).length <= 1024, "at most 1024 entries")
    .nullish(),
  n: int().min(1).max(1, "only n=1 is supported").nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  user: z.string().max(512).optional(),
};

const textPart = z.object({ type: z.literal("text"), text: z.string() });
const contentParts = z.array(
  z.union([textPart, z.object({ type: z.enum(["image_url", "input_audio", "file", "refusal"]) }).loose()]),
);

const toolCall = z.object({
  id: z.string().min(1).max(256),
  type: z.literal("function").optional(),
  function: z.object({ name: z.string().min(1).max(256), arguments: z.string().max(1_000_000) }),
});

/** One chat message, by role. */
export const ChatMessage = z.discriminatedUnion("role", [
  z.object({ role: z.literal("system"), content: z.union([z.string(), contentParts]), name: z.string().optional() }),
  z.object({ role: z.literal("developer"), content: z.union([z.string(), contentParts]), name: z.string().optional() }),
  z.object({ role: z.literal("user"), content: z.union([z.string(), contentParts]), name: z.string().optional() }),
  z.object({
    role: z.literal("assistant"),
    content: z.union([z.string(), contentParts]).nullish(),
    tool_calls: z.array(toolCall).max(128).nullish(),
    name: z.string().optional(),
    refusal: z.string().nullish(),
  }),
  z.object({ role: z.literal("tool"), content: z.union([z.string(), contentParts]), tool_call_id: z.string() }),
]);
export type ChatMessage = z.infer<typeof ChatMessage>;

/** A function tool. */
export const ChatTool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "tool names are 1–64 letters, digits, _ or -"),
    // No cap of its own (OpenAI documents none, and Qwen Code's todo_write alone is 9,242
    // characters): the 16 MiB body limit and the context window bound it.
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullish(),
  }),
});
export type ChatTool = z.infer<typeof ChatTool>;

/** `tool_choice`. */
export const ToolChoice = z.union([
  z.enum(["auto", "none", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
]);
export type ToolChoice = z.infer<typeof ToolChoice>;

/** `response_format`. */
export const ResponseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().max(256).optional(),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);
export type ResponseFormat = z.infer<typeof ResponseFormat>;

/** `POST /v1/chat/completions`. */
export const ChatCompletionRequest = z.object({
  ...samplingFields,
  messages: z.array(ChatMessage).min(1, "messages must not be empty").max(10_000),
  max_tokens: int().min(1).max(1_000_000).nullish(),
  max_completion_tokens: int().min(1).max(1_000_000).nullish(),
  tools: z.array(ChatTool).max(128).nullish(),
  tool_choice: ToolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: ResponseFormat.nullish(),
  logprobs: z.literal(false).nullish(),
  top_logprobs: z.literal(0).nullish(),
});
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;

/** `POST /v1/completions`. */
export const CompletionRequest = z.object({
  ...samplingFields,
  prompt: z.union([z.string(), z.array(z.string()).length(1, "only one prompt per request is supported")]),
  max_tokens: int().min(1).max(1_000_000).nullish(),
  echo: z.literal(false).nullish(),
  suffix: z.null().optional(),
  logprobs: z.null().optional(),
  best_of: int().min(1).max(1, "only best_of=1 is supported").nullish(),
});
export type CompletionRequest = z.infer<typeof CompletionRequest>;

/** `POST /v1/embeddings`. */
export const EmbeddingRequest = z.object({
  model: z.string().max(512).optional(),
  input: z.union([
    z.string(),
    z.array(z.string()).min(1).max(2048),
    z.array(int().min(0).max(10_000_000)).min(1).max(100_000),
    z
      .array(z.array(int().min(0).max(10_000_000)).min(1).max(100_000))
      .min(1)
      .max(2048),
  ]),
  encoding_format: z.enum(["float", "base64"]).optional(),
  dimensions: int().min(1).max(100_000).optional(),
  user: z.string().max(512).optional(),
});
export type EmbeddingRequest = z.infer<typeof EmbeddingRequest>;

/** `POST /api/v1/models/load` and `/unload`. */
export const ModelActionRequest = z.object({ model: z.string().min(1).max(512) });
export type ModelActionRequest = z.infer<typeof ModelActionRequest>;
