import type {
  LanguageModelV3FunctionTool,
  LanguageModelV3Message,
  LanguageModelV3Prompt,
  LanguageModelV3ReasoningPart,
  LanguageModelV3ToolCallPart,
  LanguageModelV3ToolChoice,
  LanguageModelV3ToolResultPart,
} from "@ai-sdk/provider";
import type { ChatMessage, ChatRequest, ToolSpec } from "./types.js";

/**
 * Converts the agent loop's conversation (OpenAI chat shape, which the session log rebuilds) into
 * the AI SDK's provider-neutral prompt; each provider package turns that into its own wire format.
 */
export function toPrompt(
  messages: readonly ChatMessage[],
  /** Signed reasoning that preceded a tool call, which Anthropic wants back with the call. */
  reasoningFor?: (toolName: string, input: string) => LanguageModelV3ReasoningPart[] | undefined,
): LanguageModelV3Prompt {
  const prompt: LanguageModelV3Prompt = [];
  const toolNames = new Map<string, string>();
  for (const message of messages) {
    switch (message.role) {
      case "system":
        if (message.content) prompt.push({ role: "system", content: message.content });
        break;
      case "user":
        prompt.push({ role: "user", content: [{ type: "text", text: message.content ?? "" }] });
        break;
      case "assistant": {
        const content: Extract<LanguageModelV3Message, { role: "assistant" }>["content"] = [];
        const firstCall = message.tool_calls?.[0];
        if (firstCall && reasoningFor) {
          content.push(...(reasoningFor(firstCall.function.name, firstCall.function.arguments) ?? []));
        }
        if (message.content) content.push({ type: "text", text: message.content });
        for (const call of message.tool_calls ?? []) {
          toolNames.set(call.id, call.function.name);
          const part: LanguageModelV3ToolCallPart = {
            type: "tool-call",
            toolCallId: call.id,
            toolName: call.function.name,
            input: parseArguments(call.function.arguments),
          };
          content.push(part);
        }
        // An empty assistant message is rejected by some APIs (Anthropic) and says nothing.
        if (content.length > 0) prompt.push({ role: "assistant", content });
        break;
      }
      case "tool": {
        const callId = message.tool_call_id ?? "";
        const part: LanguageModelV3ToolResultPart = {
          type: "tool-result",
          toolCallId: callId,
          toolName: message.name ?? toolNames.get(callId) ?? "tool",
          output: { type: "text", value: message.content ?? "" },
        };
        // Results of one step travel together (Anthropic wants them in one user message).
        const previous = prompt.at(-1);
        if (previous?.role === "tool") previous.content.push(part);
        else prompt.push({ role: "tool", content: [part] });
        break;
      }
    }
  }
  return prompt;
}

/** The agent loop's tool specs as AI SDK function tools (JSON Schema passes through unchanged). */
export function toTools(tools: readonly ToolSpec[] | undefined): LanguageModelV3FunctionTool[] | undefined {
  if (!tools?.length) return undefined;
  return tools.map((tool) => ({
    type: "function",
    name: tool.function.name,
    description: tool.function.description,
    inputSchema: tool.function.parameters as LanguageModelV3FunctionTool["inputSchema"],
  }));
}

/** OpenAI-style tool choice as the AI SDK's. */
export function toToolChoice(choice: ChatRequest["toolChoice"]): LanguageModelV3ToolChoice | undefined {
  if (choice === undefined) return undefined;
  if (typeof choice === "string") return { type: choice };
  return { type: "tool", toolName: choice.function.name };
}

function parseArguments(text: string): unknown {
  try {
    const parsed: unknown = JSON.parse(text || "{}");
    return typeof parsed === "object" && parsed !== null ? parsed : { value: parsed };
  } catch {
    return { raw: text };
  }
}
