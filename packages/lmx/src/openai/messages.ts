import type { ChatHistoryItem, ChatModelFunctions } from "node-llama-cpp";
import { LmxError } from "../server/errors.js";
import { normalizeJsonSchema, SchemaBudget } from "./json-schema.js";
import type { ChatMessage, ChatTool } from "./schemas.js";

type ModelResponse = Extract<ChatHistoryItem, { type: "model" }>["response"];
type FunctionCallItem = Extract<ModelResponse[number], { type: "functionCall" }>;

/** Flattens a string-or-parts content into text; non-text parts are refused with a clear error. */
export function contentText(content: ChatMessage["content"], param: string): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  return content
    .map((part, index) => {
      if (part.type === "text" && "text" in part && typeof part.text === "string") return part.text;
      throw new LmxError(
        "unsupported_parameter",
        `${param}[${index}]: '${part.type}' content is not supported; send text`,
        {
          param: `${param}[${index}]`,
        },
      );
    })
    .join("");
}

/**
 * Turns OpenAI messages into node-llama-cpp's chat history. An assistant message with
 * `tool_calls`, the `tool` messages answering them and the assistant text that follows form one
 * model turn, as the chat wrappers render it. The history always ends in a model turn to complete:
 * an empty one after a user or tool message, or the client's own partial assistant message.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  const pendingCalls = new Map<string, FunctionCallItem>();
  let openModelTurn: ModelResponse | undefined;

  for (const [index, message] of messages.entries()) {
    const param = `messages[${index}]`;
    switch (message.role) {
      case "system":
      case "developer":
        openModelTurn = undefined;
        history.push({ type: "system", text: contentText(message.content, `${param}.content`) });
        break;
      case "user":
        openModelTurn = undefined;
        history.push({ type: "user", text: contentText(message.content, `${param}.content`) });
        break;
      case "assistant": {
        if (!openModelTurn) {
          openModelTurn = [];
          history.push({ type: "model", response: openModelTurn });
        }
        const text = contentText(message.content, `${param}.content`);
        if (text !== "") openModelTurn.push(text);
        for (const [callIndex, call] of (message.tool_calls ?? []).entries()) {
          let params: unknown;
          try {
            params = call.function.arguments.trim() === "" ? undefined : JSON.parse(call.function.arguments);
          } catch {
            throw new LmxError(
              "invalid_request",
              `${param}.tool_calls[${callIndex}].function.arguments is not valid JSON`,
              { param: `${param}.tool_calls[${callIndex}].function.arguments` },
            );
          }
          const item: FunctionCallItem = {
            type: "functionCall",
            name: call.function.name,
            params,
            result: null,
            startsNewChunk: callIndex === 0,
          };
          openModelTurn.push(item);
          pendingCalls.set(call.id, item);
        }
        break;
      }
      case "tool": {
        const call = pendingCalls.get(message.tool_call_id);
        if (!call) {
          throw new LmxError(
            "invalid_request",
            `${param}.tool_call_id '${message.tool_call_id}' does not answer any earlier assistant tool call`,
            { param: `${param}.tool_call_id` },
          );
        }
        const text = contentText(message.content, `${param}.content`);
        call.result = parseMaybeJson(text);
        pendingCalls.delete(message.tool_call_id);
        break;
      }
    }
  }
  const last = history.at(-1);
  if (last?.type !== "model") history.push({ type: "model", response: [] });
  return history;
}

function parseMaybeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * OpenAI tools → node-llama-cpp functions (name → description and JSON-schema params). Keywords a
 * grammar cannot enforce are refused in `strict` tools and dropped from the others, their paths
 * added to `dropped` (see normalizeJsonSchema).
 */
export function toChatFunctions(tools: readonly ChatTool[], dropped: string[] = []): ChatModelFunctions {
  const functions: Record<string, { description?: string; params?: unknown }> = {};
  // One budget for all tools: node-llama-cpp compiles every tool's parameters into one grammar.
  const budget = new SchemaBudget();
  for (const [index, tool] of tools.entries()) {
    const { name, description, parameters, strict } = tool.function;
    if (name in functions) {
      throw new LmxError("invalid_request", `tools[${index}]: the tool name '${name}' is used twice`, {
        param: `tools[${index}].function.name`,
      });
    }
    functions[name] = {
      ...(description ? { description } : {}),
      ...(parameters && hasProperties(parameters)
        ? {
            params: normalizeJsonSchema(
              parameters,
              `tools[${index}].function.parameters`,
              budget,
              strict === true ? undefined : dropped,
            ),
          }
        : {}),
    };
  }
  return functions as ChatModelFunctions;
}

function hasProperties(schema: Record<string, unknown>): boolean {
  if (schema.type !== "object") return true;
  const properties = schema.properties;
  return typeof properties === "object" && properties !== null && Object.keys(properties).length > 0;
}
