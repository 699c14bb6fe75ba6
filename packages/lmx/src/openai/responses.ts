import type { LlamaGrammar } from "node-llama-cpp";
import { z } from "zod";
import type { LmxApp, RequestScope } from "../server/context.js";
import { STREAMED } from "../server/context.js";
import { LmxError, toLmxError } from "../server/errors.js";
import { SseStream } from "../server/sse.js";
import { parseRequest } from "../server/validate.js";
import { type ChatOutcome, newId, runChat } from "./generate.js";
import { toChatHistory } from "./messages.js";
import { samplingOptions } from "./sampling.js";
import type { ChatMessage, ChatTool } from "./schemas.js";
import { planTools, type ToolChoiceKind } from "./tools.js";

/**
 * `POST /v1/responses`, OpenAI's Responses API (what Codex, the AI SDK's `openai(model)` and
 * LangChain's `useResponsesApi` speak): the input items become chat messages, generation runs on
 * the same path as chat completions ({@link runChat}), and the outcome becomes output items.
 */

const int = () => z.number().int().finite();
const finite = () => z.number().finite();

const textPart = z.looseObject({
  type: z.enum(["input_text", "output_text", "text"]),
  text: z.string(),
});
const otherPart = z.looseObject({ type: z.string() });
const messageContent = z.union([z.string(), z.array(z.union([textPart, otherPart])).max(10_000)]);

const InputItem = z.union([
  z.looseObject({
    type: z.literal("message").optional(),
    role: z.enum(["user", "assistant", "system", "developer"]),
    content: messageContent,
  }),
  z.looseObject({
    type: z.literal("function_call"),
    call_id: z.string().min(1).max(256),
    name: z.string().min(1).max(256),
    arguments: z.string().max(1_000_000),
  }),
  z.looseObject({
    type: z.literal("function_call_output"),
    call_id: z.string().min(1).max(256),
    output: messageContent,
  }),
  // Reasoning from an earlier turn: not fed back (chat templates drop past thoughts too).
  z.looseObject({ type: z.literal("reasoning") }),
  z.looseObject({ type: z.string() }),
]);
type InputItem = z.infer<typeof InputItem>;

const ResponsesTool = z.union([
  z.object({
    type: z.literal("function"),
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "tool names are 1–64 letters, digits, _ or -"),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  }),
  z.looseObject({ type: z.string() }),
]);

/** The request fields LMX reads; others (include, reasoning, metadata, truncation…) are accepted and ignored. */
export const ResponsesRequest = z.object({
  model: z.string().max(512).optional(),
  input: z.union([z.string(), z.array(InputItem).max(10_000)]),
  instructions: z.string().nullish(),
  previous_response_id: z.string().max(256).nullish(),
  store: z.boolean().nullish(),
  stream: z.boolean().nullish(),
  max_output_tokens: int().min(1).max(1_000_000).nullish(),
  temperature: finite().min(0).max(2).nullish(),
  top_p: finite().min(0).max(1).nullish(),
  seed: int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).nullish(),
  tools: z.array(ResponsesTool).max(128).nullish(),
  tool_choice: z
    .union([
      z.enum(["auto", "none", "required"]),
      z.object({ type: z.literal("function"), name: z.string().min(1).max(256) }),
    ])
    .nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  text: z
    .looseObject({
      format: z
        .union([
          z.object({ type: z.literal("text") }),
          z.object({ type: z.literal("json_object") }),
          z.object({
            type: z.literal("json_schema"),
            name: z.string().max(256).optional(),
            schema: z.record(z.string(), z.unknown()),
            strict: z.boolean().nullish(),
          }),
        ])
        .optional(),
    })
    .nullish(),
});
export type ResponsesRequest = z.infer<typeof ResponsesRequest>;

/** A stored response: the conversation up to and including its output, without the instructions. */
type Stored = { messages: ChatMessage[]; bytes: number };

/**
 * Responses kept for `previous_response_id`, in memory and bounded both ways: at most
 * {@link STORE_LIMITS}.count responses and .bytes of their conversations (oldest evicted first).
 * A restart forgets them; a client then gets 400 previous_response_not_found and resends input.
 */
export const STORE_LIMITS = { count: 256, bytes: 64 * 1024 * 1024 } as const;

export class ResponseStore {
  private readonly entries = new Map<string, Stored>();
  private bytes = 0;

  constructor(private readonly limits: { count: number; bytes: number } = STORE_LIMITS) {}

  get size(): number {
    return this.entries.size;
  }

  get(id: string): ChatMessage[] | undefined {
    return this.entries.get(id)?.messages;
  }

  put(id: string, messages: ChatMessage[]): void {
    const bytes = Buffer.byteLength(JSON.stringify(messages));
    // One conversation larger than the whole budget is not stored at all.
    if (bytes > this.limits.bytes) return;
    this.entries.set(id, { messages, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.limits.count && this.bytes <= this.limits.bytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
    }
  }
}

const stores = new WeakMap<LmxApp, ResponseStore>();
function storeOf(app: LmxApp): ResponseStore {
  let store = stores.get(app);
  if (!store) {
    store = new ResponseStore();
    stores.set(app, store);
  }
  return store;
}

function partsText(content: z.infer<typeof messageContent>, param: string): string {
  if (typeof content === "string") return content;
  return content
    .map((part, index) => {
      if ("text" in part && typeof part.text === "string" && /^(input_text|output_text|text)$/.test(part.type)) {
        return part.text;
      }
      throw new LmxError(
        "unsupported_parameter",
        `${param}[${index}]: '${part.type}' content is not supported; send input_text`,
        { param: `${param}[${index}]` },
      );
    })
    .join("");
}

/** Responses input items → chat messages (consecutive function calls join one assistant turn). */
export function inputToMessages(input: ResponsesRequest["input"], ignored: string[]): ChatMessage[] {
  if (typeof input === "string") return [{ role: "user", content: input }];
  const messages: ChatMessage[] = [];
  for (const [index, item] of (input as InputItem[]).entries()) {
    const param = `input[${index}]`;
    const type = (item as { type?: string }).type ?? "message";
    if (type === "message" && "role" in item) {
      const text = partsText(item.content as z.infer<typeof messageContent>, `${param}.content`);
      messages.push({ role: item.role as "user", content: text });
    } else if (type === "function_call" && "call_id" in item && "name" in item) {
      const call = {
        id: item.call_id as string,
        type: "function" as const,
        function: { name: item.name as string, arguments: item.arguments as string },
      };
      const last = messages.at(-1);
      if (last?.role === "assistant") last.tool_calls = [...(last.tool_calls ?? []), call];
      else messages.push({ role: "assistant", content: null, tool_calls: [call] });
    } else if (type === "function_call_output" && "output" in item) {
      messages.push({
        role: "tool",
        tool_call_id: item.call_id as string,
        content: partsText(item.output as z.infer<typeof messageContent>, `${param}.output`),
      });
    } else if (type === "reasoning") {
      // Dropped: see InputItem.
    } else {
      ignored.push(`${param} (${type})`);
    }
  }
  return messages;
}

type OutputItem = Record<string, unknown> & { type: string; id: string };

/** The outcome as output items: reasoning, then the message, then function calls. */
function outputItems(outcome: ChatOutcome, ids: { reasoning: string; message: string; calls: string[] }): OutputItem[] {
  const items: OutputItem[] = [];
  if (outcome.thoughts !== "") items.push(reasoningItem(ids.reasoning, outcome.thoughts));
  if (outcome.text !== "" || outcome.calls.length === 0) {
    items.push(messageItem(ids.message, outcome.text, outcome.finish === "length" ? "incomplete" : "completed"));
  }
  for (const [index, call] of outcome.calls.entries()) {
    items.push(
      callItem(
        ids.calls[index] ?? newId("fc"),
        call.id,
        call.name,
        call.arguments,
        outcome.finish === "length" && index === outcome.calls.length - 1 ? "incomplete" : "completed",
      ),
    );
  }
  return items;
}

const reasoningItem = (id: string, text: string): OutputItem => ({
  id,
  type: "reasoning",
  summary: [],
  content: [{ type: "reasoning_text", text }],
});
const outputText = (text: string) => ({ type: "output_text", text, annotations: [], logprobs: [] });
const messageItem = (id: string, text: string | undefined, status: string): OutputItem => ({
  id,
  type: "message",
  status,
  role: "assistant",
  content: text === undefined ? [] : [outputText(text)],
});
const callItem = (id: string, callId: string, name: string, args: string, status: string): OutputItem => ({
  id,
  type: "function_call",
  status,
  call_id: callId,
  name,
  arguments: args,
});

/** Turns output items back into chat messages, for the stored conversation. */
function outcomeMessages(outcome: ChatOutcome): ChatMessage[] {
  if (outcome.calls.length === 0) return [{ role: "assistant", content: outcome.text }];
  return [
    {
      role: "assistant",
      content: outcome.text === "" ? null : outcome.text,
      tool_calls: outcome.calls.map((call) => ({
        id: call.id,
        type: "function" as const,
        function: { name: call.name, arguments: call.arguments },
      })),
    },
  ];
}

export async function responses(app: LmxApp, scope: RequestScope, body: unknown): Promise<unknown> {
  const request = parseRequest(ResponsesRequest, body);
  const store = storeOf(app);
  const ignored: string[] = [];
  let earlier: ChatMessage[] = [];
  if (request.previous_response_id) {
    const found = store.get(request.previous_response_id);
    if (!found) {
      throw new LmxError(
        "previous_response_not_found",
        `previous_response_id '${request.previous_response_id}' is not stored here (LMX keeps the last ${STORE_LIMITS.count} stored responses in memory, and none across restarts); resend the whole conversation as input`,
        { param: "previous_response_id" },
      );
    }
    earlier = found;
  }
  const conversation = [...earlier, ...inputToMessages(request.input, ignored)];
  const system: ChatMessage[] = request.instructions ? [{ role: "system", content: request.instructions }] : [];
  if (conversation.length === 0) {
    throw new LmxError("invalid_request", "input has no messages to answer", { param: "input" });
  }
  const history = toChatHistory([...system, ...conversation]);

  const tools: ChatTool[] = [];
  for (const [index, tool] of (request.tools ?? []).entries()) {
    if (tool.type !== "function" || !("name" in tool)) {
      ignored.push(`tools[${index}] (${tool.type})`);
      continue;
    }
    const fn = tool as { name: string; description?: string | null; parameters?: Record<string, unknown> | null };
    tools.push({
      type: "function",
      function: {
        name: fn.name,
        ...(fn.description ? { description: fn.description } : {}),
        ...(fn.parameters ? { parameters: fn.parameters } : {}),
        strict: (tool as { strict?: boolean | null }).strict ?? null,
      },
    });
  }
  if (ignored.length > 0) app.log({ event: "responses.ignored", requestId: scope.requestId, items: ignored });
  const plan = await planTools(app, scope, tools, (request.tool_choice ?? undefined) as ToolChoiceKind | undefined);
  const format = request.text?.format;
  let grammar: LlamaGrammar | undefined;
  if (format && format.type !== "text") {
    if (plan.functions) {
      throw new LmxError(
        "unsupported_parameter",
        "text.format cannot be combined with tools; set tool_choice to none",
        {
          param: "text.format",
        },
      );
    }
    grammar =
      format.type === "json_schema"
        ? await app.grammars.forSchema(format.schema, "text.format.schema")
        : await app.grammars.json();
  }

  const id = newId("resp");
  const createdAt = Math.floor(Date.now() / 1000);
  const stored = request.store !== false;
  let modelId = request.model ?? "";
  const base = (status: string, output: OutputItem[], extra: Record<string, unknown> = {}) => ({
    id,
    object: "response",
    created_at: createdAt,
    status,
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model: modelId,
    output,
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    store: stored,
    temperature: request.temperature ?? 0.8,
    text: { format: format ?? { type: "text" } },
    tool_choice: request.tool_choice ?? "auto",
    tools: request.tools ?? [],
    top_p: request.top_p ?? 0.95,
    truncation: "disabled",
    usage: null,
    metadata: {},
    ...extra,
  });

  const sse = request.stream === true ? new SseStream(scope.response, "events") : undefined;
  let sequence = 0;
  const emit = (type: string, data: Record<string, unknown>) =>
    sse?.send({ type, sequence_number: sequence++, ...data }, type);
  // Streamed items, opened as their first token arrives and closed when another kind begins.
  const ids = { reasoning: newId("rs"), message: newId("msg"), calls: [] as string[] };
  const streamed: OutputItem[] = [];
  let open: { kind: "reasoning" | "message" | "call"; index: number; text: string } | undefined;
  const close = () => {
    if (!open) return;
    const { kind, index, text } = open;
    const item = streamed[index]!;
    if (kind === "message") {
      emit("response.output_text.done", {
        item_id: item.id,
        output_index: index,
        content_index: 0,
        text,
        logprobs: [],
      });
      emit("response.content_part.done", {
        item_id: item.id,
        output_index: index,
        content_index: 0,
        part: outputText(text),
      });
      streamed[index] = messageItem(item.id, text, "completed");
    } else if (kind === "reasoning") {
      const part = { type: "reasoning_text", text };
      emit("response.reasoning_text.done", { item_id: item.id, output_index: index, content_index: 0, text });
      emit("response.content_part.done", { item_id: item.id, output_index: index, content_index: 0, part });
      streamed[index] = reasoningItem(item.id, text);
    } else {
      emit("response.function_call_arguments.done", {
        item_id: item.id,
        output_index: index,
        name: item.name,
        arguments: text,
      });
      streamed[index] = { ...item, arguments: text, status: "completed" };
    }
    emit("response.output_item.done", { output_index: index, item: streamed[index] });
    open = undefined;
  };
  const openItem = (kind: "reasoning" | "message" | "call", item: OutputItem) => {
    close();
    const index = streamed.push(item) - 1;
    open = { kind, index, text: "" };
    emit("response.output_item.added", { output_index: index, item });
    if (kind === "message") {
      emit("response.content_part.added", {
        item_id: item.id,
        output_index: index,
        content_index: 0,
        part: outputText(""),
      });
    } else if (kind === "reasoning") {
      const part = { type: "reasoning_text", text: "" };
      emit("response.content_part.added", { item_id: item.id, output_index: index, content_index: 0, part });
    }
  };

  try {
    const outcome = await runChat(
      app,
      scope,
      {
        model: request.model,
        history,
        tools: plan,
        grammar,
        sampling: samplingOptions(request),
        maxTokens: request.max_output_tokens ?? undefined,
        singleToolCall: request.parallel_tool_calls === false,
      },
      sse
        ? {
            start: (model) => {
              modelId = model.id;
              emit("response.created", { response: base("in_progress", []) });
              emit("response.in_progress", { response: base("in_progress", []) });
            },
            thought: (delta) => {
              if (open?.kind !== "reasoning")
                openItem("reasoning", { id: ids.reasoning, type: "reasoning", summary: [] });
              open!.text += delta;
              const itemId = streamed[open!.index]!.id;
              emit("response.reasoning_text.delta", {
                item_id: itemId,
                output_index: open!.index,
                content_index: 0,
                delta,
              });
            },
            text: (delta) => {
              if (open?.kind !== "message") openItem("message", messageItem(ids.message, undefined, "in_progress"));
              open!.text += delta;
              emit("response.output_text.delta", {
                item_id: streamed[open!.index]!.id,
                output_index: open!.index,
                content_index: 0,
                delta,
                logprobs: [],
              });
            },
            callStart: (index, callId, name) => {
              ids.calls[index] = newId("fc");
              openItem("call", callItem(ids.calls[index]!, callId, name, "", "in_progress"));
            },
            callArguments: (_index, delta) => {
              if (open?.kind !== "call") return;
              open.text += delta;
              emit("response.function_call_arguments.delta", {
                item_id: streamed[open.index]!.id,
                output_index: open.index,
                delta,
              });
            },
          }
        : {},
    );
    modelId = outcome.modelId;
    const usage = {
      input_tokens: outcome.promptTokens,
      input_tokens_details: { cached_tokens: outcome.cachedTokens },
      output_tokens: outcome.completionTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: outcome.promptTokens + outcome.completionTokens,
    };
    const incomplete = outcome.finish === "length";
    const status = incomplete ? "incomplete" : "completed";
    const extra = { usage, ...(incomplete ? { incomplete_details: { reason: "max_output_tokens" } } : {}) };
    if (stored) store.put(id, [...conversation, ...outcomeMessages(outcome)]);
    if (sse) {
      close();
      // An answer with no token at all (an immediate end of turn) is still one, empty, message.
      if (streamed.length === 0) {
        openItem("message", messageItem(ids.message, undefined, "in_progress"));
        close();
      }
      if (incomplete) {
        const last = streamed.length - 1;
        streamed[last] = { ...streamed[last]!, status: "incomplete" };
      }
      emit(incomplete ? "response.incomplete" : "response.completed", { response: base(status, streamed, extra) });
      sse.end();
      return STREAMED;
    }
    return { ...base(status, outputItems(outcome, ids), extra), output_text: outcome.text };
  } catch (error) {
    if (scope.signal.aborted) {
      app.log({ event: "responses.aborted", requestId: scope.requestId, model: modelId });
      return STREAMED;
    }
    const failure = toLmxError(error);
    if (sse?.isOpen) {
      const body = failure.toBody().error;
      emit("response.failed", {
        response: base("failed", streamed, { error: { code: body.code, message: body.message } }),
      });
      sse.end();
      return STREAMED;
    }
    throw failure;
  }
}
