import { z } from "zod";
import type { LmxApp, RequestScope } from "../server/context.js";
import { STREAMED } from "../server/context.js";
import { LMX_ERRORS, LmxError, toLmxError } from "../server/errors.js";
import { SseStream } from "../server/sse.js";
import { parseRequest } from "../server/validate.js";
import { type ChatOutcome, newId, runChat } from "./generate.js";
import { toChatHistory } from "./messages.js";
import { samplingOptions } from "./sampling.js";
import type { ChatMessage, ChatTool } from "./schemas.js";
import { planTools, type ToolChoiceKind } from "./tools.js";

/**
 * `POST /v1/messages`, Anthropic's Messages API (Claude Code, the Anthropic SDKs): system prompt,
 * text / tool_use / tool_result blocks and tools become chat messages for the same generation path
 * as chat completions ({@link runChat}); the outcome comes back as content blocks.
 */

const int = () => z.number().int().finite();
const finite = () => z.number().finite();

const Block = z.looseObject({ type: z.string() });
const Content = z.union([z.string(), z.array(Block).max(10_000)]);

const AnthropicTool = z.looseObject({
  type: z.string().nullish(),
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "tool names are 1–64 letters, digits, _ or -"),
  description: z.string().nullish(),
  input_schema: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

/** The fields LMX reads; others (metadata, thinking, service_tier…) are accepted and ignored. */
export const MessagesRequest = z.object({
  model: z.string().max(512),
  // Required, as Anthropic requires it.
  max_tokens: int().min(1).max(1_000_000),
  system: z.union([z.string(), z.array(Block).max(1_000)]).nullish(),
  messages: z
    .array(z.object({ role: z.enum(["user", "assistant"]), content: Content }))
    .min(1, "messages must not be empty")
    .max(10_000),
  tools: z.array(AnthropicTool).max(128).nullish(),
  tool_choice: z
    .object({
      type: z.enum(["auto", "any", "tool", "none"]),
      name: z.string().max(256).optional(),
      disable_parallel_tool_use: z.boolean().optional(),
    })
    .nullish(),
  stream: z.boolean().nullish(),
  temperature: finite().min(0).max(1).nullish(),
  top_p: finite().min(0).max(1).nullish(),
  top_k: int().min(0).max(1_000_000).nullish(),
  stop_sequences: z.array(z.string().min(1).max(512)).max(16).nullish(),
});
export type MessagesRequest = z.infer<typeof MessagesRequest>;

function blockText(block: Record<string, unknown>, param: string): string {
  if (block.type === "text" && typeof block.text === "string") return block.text;
  throw new LmxError(
    "unsupported_parameter",
    `${param}: '${String(block.type)}' blocks are not supported here; send text`,
    {
      param,
    },
  );
}

/** A tool_result's content: a string or text blocks. */
function resultText(content: unknown, param: string): string {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) throw new LmxError("invalid_request", `${param} must be a string or blocks`, { param });
  return content.map((block, index) => blockText(block as Record<string, unknown>, `${param}[${index}]`)).join("");
}

/** Anthropic messages → chat messages: tool_result blocks become tool messages, tool_use blocks calls. */
export function anthropicToMessages(request: MessagesRequest): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (request.system) {
    const text =
      typeof request.system === "string"
        ? request.system
        : request.system.map((block, index) => blockText(block, `system[${index}]`)).join("\n");
    if (text !== "") out.push({ role: "system", content: text });
  }
  for (const [index, message] of request.messages.entries()) {
    const param = `messages[${index}].content`;
    if (typeof message.content === "string") {
      out.push({ role: message.role, content: message.content });
      continue;
    }
    if (message.role === "user") {
      let text = "";
      for (const [blockIndex, block] of message.content.entries()) {
        const at = `${param}[${blockIndex}]`;
        if (block.type === "tool_result") {
          if (typeof block.tool_use_id !== "string") {
            throw new LmxError("invalid_request", `${at}.tool_use_id is required`, { param: `${at}.tool_use_id` });
          }
          const result = resultText(block.content, `${at}.content`);
          out.push({
            role: "tool",
            tool_call_id: block.tool_use_id,
            content: block.is_error === true ? `Error: ${result}` : result,
          });
        } else text += blockText(block, at);
      }
      if (text !== "") out.push({ role: "user", content: text });
      continue;
    }
    let text = "";
    const calls: NonNullable<Extract<ChatMessage, { role: "assistant" }>["tool_calls"]> = [];
    for (const [blockIndex, block] of message.content.entries()) {
      const at = `${param}[${blockIndex}]`;
      if (block.type === "tool_use") {
        if (typeof block.id !== "string" || typeof block.name !== "string") {
          throw new LmxError("invalid_request", `${at} needs an id and a name`, { param: at });
        }
        calls.push({
          id: block.id,
          type: "function",
          function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
        });
      } else if (block.type === "thinking" || block.type === "redacted_thinking") {
        // Earlier thoughts are not fed back (chat templates drop them too).
      } else text += blockText(block, at);
    }
    out.push({
      role: "assistant",
      content: text === "" && calls.length > 0 ? null : text,
      ...(calls.length > 0 ? { tool_calls: calls } : {}),
    });
  }
  return out;
}

/** Anthropic's error body: `{"type":"error","error":{"type","message"}}` (LMX's code kept in `code`). */
export function anthropicErrorBody(error: LmxError): unknown {
  const status: number = LMX_ERRORS[error.code].status;
  const type =
    status === 401
      ? "authentication_error"
      : status === 403
        ? "permission_error"
        : status === 404
          ? "not_found_error"
          : status === 413
            ? "request_too_large"
            : status === 429
              ? "rate_limit_error"
              : status === 503
                ? "overloaded_error"
                : status >= 500
                  ? "api_error"
                  : "invalid_request_error";
  return { type: "error", error: { type, message: error.message, code: error.code, param: error.param } };
}

const stopReason = (outcome: ChatOutcome) =>
  outcome.finish === "length"
    ? "max_tokens"
    : outcome.finish === "tool_calls"
      ? "tool_use"
      : outcome.stopSequence !== undefined
        ? "stop_sequence"
        : "end_turn";

/** Anthropic tool-use ids look like `toolu_…`; the engine's are `call_…`. */
const toolUseId = (callId: string) => callId.replace(/^call_/, "toolu_");

/** A tool call's input object; arguments cut off by max_tokens give what parsed, else `{}`. */
function callInput(args: string): unknown {
  try {
    const value = JSON.parse(args) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

export async function anthropicMessages(app: LmxApp, scope: RequestScope, body: unknown): Promise<unknown> {
  const request = parseRequest(MessagesRequest, body);
  const history = toChatHistory(anthropicToMessages(request));
  const ignored: string[] = [];
  const tools: ChatTool[] = [];
  for (const [index, tool] of (request.tools ?? []).entries()) {
    // Anthropic-defined tools (bash_…, text_editor_…, web_search_…) have no schema to send.
    if (tool.type && tool.type !== "custom") {
      ignored.push(`tools[${index}] (${tool.type})`);
      continue;
    }
    tools.push({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description ? { description: tool.description } : {}),
        ...(tool.input_schema ? { parameters: tool.input_schema } : {}),
        strict: tool.strict ?? null,
      },
    });
  }
  if (ignored.length > 0) app.log({ event: "messages.ignored", requestId: scope.requestId, items: ignored });
  const choice = request.tool_choice;
  let kind: ToolChoiceKind | undefined;
  if (choice?.type === "tool") {
    if (!choice.name)
      throw new LmxError("invalid_request", "tool_choice.name is required with type 'tool'", {
        param: "tool_choice.name",
      });
    kind = { name: choice.name };
  } else if (choice) kind = choice.type === "any" ? "required" : choice.type;
  const plan = await planTools(app, scope, tools, kind, "tool_choice");

  const id = newId("msg");
  let modelId = request.model;
  const sse = request.stream === true ? new SseStream(scope.response, "events") : undefined;
  const emit = (type: string, data: Record<string, unknown>) => sse?.send({ type, ...data }, type);
  let blocks = 0;
  let open: "text" | "thinking" | "tool_use" | undefined;
  const close = () => {
    if (open === undefined) return;
    if (open === "thinking")
      emit("content_block_delta", { index: blocks - 1, delta: { type: "signature_delta", signature: "" } });
    emit("content_block_stop", { index: blocks - 1 });
    open = undefined;
  };
  const start = (kind: "text" | "thinking" | "tool_use", block: Record<string, unknown>) => {
    close();
    open = kind;
    emit("content_block_start", { index: blocks++, content_block: block });
  };

  try {
    const outcome = await runChat(
      app,
      scope,
      {
        model: request.model,
        history,
        tools: plan,
        sampling: samplingOptions({
          temperature: request.temperature,
          top_p: request.top_p,
          top_k: request.top_k,
          stop: request.stop_sequences,
        }),
        maxTokens: request.max_tokens,
        singleToolCall: choice?.disable_parallel_tool_use === true,
        // message_start reports the prompt's size before the first token.
        countPromptFirst: sse !== undefined,
      },
      sse
        ? {
            start: (model, promptTokens) => {
              modelId = model.id;
              emit("message_start", {
                message: {
                  id,
                  type: "message",
                  role: "assistant",
                  model: model.id,
                  content: [],
                  stop_reason: null,
                  stop_sequence: null,
                  usage: { input_tokens: promptTokens ?? 0, output_tokens: 0 },
                },
              });
            },
            thought: (delta) => {
              if (open !== "thinking") start("thinking", { type: "thinking", thinking: "", signature: "" });
              emit("content_block_delta", { index: blocks - 1, delta: { type: "thinking_delta", thinking: delta } });
            },
            text: (delta) => {
              if (open !== "text") start("text", { type: "text", text: "" });
              emit("content_block_delta", { index: blocks - 1, delta: { type: "text_delta", text: delta } });
            },
            callStart: (_index, callId, name) =>
              start("tool_use", { type: "tool_use", id: toolUseId(callId), name, input: {} }),
            callArguments: (_index, delta) => {
              if (open === "tool_use") {
                emit("content_block_delta", {
                  index: blocks - 1,
                  delta: { type: "input_json_delta", partial_json: delta },
                });
              }
            },
          }
        : {},
    );
    modelId = outcome.modelId;
    const usage = {
      input_tokens: outcome.promptTokens,
      output_tokens: outcome.completionTokens,
      cache_read_input_tokens: outcome.cachedTokens,
      cache_creation_input_tokens: 0,
    };
    if (sse) {
      close();
      emit("message_delta", {
        delta: { stop_reason: stopReason(outcome), stop_sequence: outcome.stopSequence ?? null },
        usage,
      });
      emit("message_stop", {});
      sse.end();
      return STREAMED;
    }
    const content: Record<string, unknown>[] = [];
    if (outcome.thoughts !== "") content.push({ type: "thinking", thinking: outcome.thoughts, signature: "" });
    if (outcome.text !== "" || outcome.calls.length === 0) content.push({ type: "text", text: outcome.text });
    for (const call of outcome.calls) {
      content.push({ type: "tool_use", id: toolUseId(call.id), name: call.name, input: callInput(call.arguments) });
    }
    return {
      id,
      type: "message",
      role: "assistant",
      model: modelId,
      content,
      stop_reason: stopReason(outcome),
      stop_sequence: outcome.stopSequence ?? null,
      usage,
    };
  } catch (error) {
    if (scope.signal.aborted) {
      app.log({ event: "messages.aborted", requestId: scope.requestId, model: modelId });
      return STREAMED;
    }
    const failure = toLmxError(error);
    if (sse?.isOpen) {
      sse.send(anthropicErrorBody(failure), "error");
      sse.end();
      return STREAMED;
    }
    throw failure;
  }
}
