import type { LlamaGrammar } from "node-llama-cpp";
import type { LmxApp, RequestScope } from "../server/context.js";
import { STREAMED } from "../server/context.js";
import { LmxError, toLmxError } from "../server/errors.js";
import { SseStream } from "../server/sse.js";
import { parseRequest } from "../server/validate.js";
import { newId, runChat } from "./generate.js";
import { toChatHistory } from "./messages.js";
import { samplingOptions } from "./sampling.js";
import { ChatCompletionRequest } from "./schemas.js";
import { planTools } from "./tools.js";

/**
 * `POST /v1/chat/completions`: validates everything before taking a sequence, then generates
 * through {@link runChat}, streaming OpenAI chunks as tokens arrive or answering once at the end.
 */
export async function chatCompletions(app: LmxApp, scope: RequestScope, body: unknown): Promise<unknown> {
  const request = parseRequest(ChatCompletionRequest, body);
  const history = toChatHistory(request.messages);
  const choice = request.tool_choice;
  const tools = await planTools(
    app,
    scope,
    request.tools ?? [],
    choice === undefined || choice === null ? undefined : typeof choice === "string" ? choice : choice.function,
  );
  const format = request.response_format?.type ?? "text";
  if (tools.functions && format !== "text") {
    throw new LmxError(
      "unsupported_parameter",
      "response_format cannot be combined with tools; set tool_choice to none",
      {
        param: "response_format",
      },
    );
  }
  let grammar: LlamaGrammar | undefined;
  if (request.response_format?.type === "json_object") grammar = await app.grammars.json();
  else if (request.response_format?.type === "json_schema") {
    const schema = request.response_format.json_schema.schema;
    grammar = schema
      ? await app.grammars.forSchema(schema, "response_format.json_schema.schema")
      : await app.grammars.json();
  }
  const stream = request.stream === true;
  const includeUsage = stream && request.stream_options?.include_usage === true;
  const id = newId("chatcmpl");
  const created = Math.floor(Date.now() / 1000);
  const sse = stream ? new SseStream(scope.response) : undefined;
  let modelId = request.model ?? "";
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
    id,
    object: "chat.completion.chunk",
    created,
    model: modelId,
    system_fingerprint: `lmx-${app.version}`,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  });
  try {
    const outcome = await runChat(
      app,
      scope,
      {
        model: request.model,
        history,
        tools,
        grammar,
        sampling: samplingOptions(request),
        logitBias: request.logit_bias,
        maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
        singleToolCall: request.parallel_tool_calls === false,
      },
      sse
        ? {
            start: (model) => {
              modelId = model.id;
              sse.send(chunk(tools.forced ? { role: "assistant", content: null } : { role: "assistant", content: "" }));
            },
            text: (text) => sse.send(chunk({ content: text })),
            thought: (text) => sse.send(chunk({ reasoning_content: text })),
            callStart: (index, callId, name) =>
              sse.send(
                chunk({ tool_calls: [{ index, id: callId, type: "function", function: { name, arguments: "" } }] }),
              ),
            callArguments: (index, text) => sse.send(chunk({ tool_calls: [{ index, function: { arguments: text } }] })),
          }
        : {},
    );
    modelId = outcome.modelId;
    const usage = {
      prompt_tokens: outcome.promptTokens,
      completion_tokens: outcome.completionTokens,
      total_tokens: outcome.promptTokens + outcome.completionTokens,
      prompt_tokens_details: { cached_tokens: outcome.cachedTokens },
    };
    if (sse) {
      sse.send(chunk({}, outcome.finish));
      if (includeUsage) {
        sse.send({
          id,
          object: "chat.completion.chunk",
          created,
          model: modelId,
          system_fingerprint: `lmx-${app.version}`,
          choices: [],
          usage,
        });
      }
      sse.end();
      return STREAMED;
    }
    const toolCalls = outcome.calls.map((call) => ({
      id: call.id,
      type: "function" as const,
      function: { name: call.name, arguments: call.arguments },
    }));
    return {
      id,
      object: "chat.completion",
      created,
      model: modelId,
      system_fingerprint: `lmx-${app.version}`,
      choices: [
        {
          index: 0,
          message: {
            role: "assistant",
            content: toolCalls.length > 0 && outcome.text === "" ? null : outcome.text,
            ...(outcome.thoughts !== "" ? { reasoning_content: outcome.thoughts } : {}),
            refusal: null,
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          logprobs: null,
          finish_reason: outcome.finish,
        },
      ],
      usage,
    };
  } catch (error) {
    if (scope.signal.aborted) {
      app.log({ event: "chat.aborted", requestId: scope.requestId, model: modelId });
      return STREAMED;
    }
    const failure = toLmxError(error);
    if (sse?.isOpen) {
      sse.fail(failure);
      return STREAMED;
    }
    throw failure;
  }
}
