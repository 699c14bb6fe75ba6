import { createHash } from "node:crypto";
import type { LlamaGrammar } from "node-llama-cpp";
import { z } from "zod";
import { inspectModelFile } from "../gguf/inspect.js";
import type { LmxApp, RequestScope } from "../server/context.js";
import { STREAMED } from "../server/context.js";
import { LmxError, toLmxError } from "../server/errors.js";
import { NdjsonStream } from "../server/ndjson.js";
import { parseRequest } from "../server/validate.js";
import { type ChatOutcome, type ChatRun, type ChatSink, runChat } from "./generate.js";
import { toChatHistory } from "./messages.js";
import { samplingOptions } from "./sampling.js";
import { type ChatMessage, ChatTool } from "./schemas.js";
import { planTools } from "./tools.js";

/**
 * Ollama's native API (`/api/chat`, `/api/generate`, `/api/tags`, `/api/ps`, `/api/show`,
 * `/api/version`), for clients that speak only Ollama. Generation runs on the same path as the
 * OpenAI routes ({@link runChat}); streams are NDJSON, as Ollama sends them, and on by default.
 */

/**
 * The Ollama API level LMX implements, reported by `/api/version`: clients compare it against
 * the Ollama release that introduced what they need (LMX's own version is `lmx_version`).
 */
export const OLLAMA_API_VERSION = "0.13.5";

const int = () => z.number().int().finite();
const finite = () => z.number().finite();

/** Ollama's `options`: the sampling fields LMX has, bounded as on the OpenAI routes; others ignored. */
const OllamaOptions = z.looseObject({
  temperature: finite().min(0).max(2).nullish(),
  top_p: finite().min(0).max(1).nullish(),
  top_k: int().min(0).max(1_000_000).nullish(),
  min_p: finite().min(0).max(1).nullish(),
  seed: int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).nullish(),
  /** -1 (no limit) and -2 (fill the context) both end at the window, as every LMX generation does. */
  num_predict: int().min(-2).max(1_000_000).nullish(),
  stop: z.union([z.string().min(1).max(512), z.array(z.string().min(1).max(512)).max(16)]).nullish(),
  repeat_penalty: finite().min(0).max(10).nullish(),
  presence_penalty: finite().min(-2).max(2).nullish(),
  frequency_penalty: finite().min(-2).max(2).nullish(),
});
type OllamaOptions = z.infer<typeof OllamaOptions>;

const OllamaToolCall = z.looseObject({
  id: z.string().min(1).max(256).nullish(),
  function: z.looseObject({
    name: z.string().min(1).max(256),
    arguments: z.union([z.record(z.string(), z.unknown()), z.string().max(1_000_000)]).nullish(),
  }),
});

const OllamaMessage = z.looseObject({
  role: z.enum(["system", "user", "assistant", "tool"]),
  content: z.string().nullish(),
  images: z.array(z.string()).max(64).nullish(),
  tool_calls: z.array(OllamaToolCall).max(128).nullish(),
  tool_name: z.string().max(256).nullish(),
  tool_call_id: z.string().max(256).nullish(),
});
type OllamaMessage = z.infer<typeof OllamaMessage>;

/** `format`: `"json"` or a JSON schema. */
const Format = z.union([z.literal("json"), z.literal(""), z.record(z.string(), z.unknown())]).nullish();

const common = {
  model: z.string().min(1, "model is required").max(512),
  format: Format,
  options: OllamaOptions.nullish(),
  stream: z.boolean().nullish(),
  /** `0` with an empty conversation unloads the model (what `ollama stop` sends); otherwise ignored. */
  keep_alive: z.union([z.string().max(64), finite()]).nullish(),
  think: z.union([z.boolean(), z.string().max(16)]).nullish(),
};

export const OllamaChatRequest = z.object({
  ...common,
  messages: z.array(OllamaMessage).max(10_000).nullish(),
  tools: z.array(ChatTool).max(128).nullish(),
});
export type OllamaChatRequest = z.infer<typeof OllamaChatRequest>;

export const OllamaGenerateRequest = z.object({
  ...common,
  prompt: z.string().nullish(),
  system: z.string().nullish(),
  images: z.array(z.string()).max(64).nullish(),
  raw: z.boolean().nullish(),
  suffix: z.string().nullish(),
  template: z.string().nullish(),
  /** Deprecated in Ollama: the token context of an earlier answer. LMX is stateless and ignores it. */
  context: z.array(int()).max(1_000_000).nullish(),
});
export type OllamaGenerateRequest = z.infer<typeof OllamaGenerateRequest>;

/** `model`, or `name` as older clients send it. */
export const OllamaShowRequest = z.looseObject({
  model: z.string().min(1).max(512).optional(),
  name: z.string().min(1).max(512).optional(),
});

/** Ollama names carry a tag (`tiny:latest`); LMX ids do not, so `:latest` is dropped. */
function modelId(name: string): string {
  return name.endsWith(":latest") ? name.slice(0, -":latest".length) : name;
}

/** `tiny` → `tiny:latest`, as Ollama lists a model without an explicit tag. */
function ollamaName(id: string): string {
  return /:[^/]+$/.test(id) ? id : `${id}:latest`;
}

/** A stable identifier for the file (Ollama's is the manifest's digest); not a hash of its contents. */
function digest(path: string, size: number, modified: Date): string {
  return createHash("sha256").update(`${path}\0${size}\0${modified.getTime()}`).digest("hex");
}

/** The error body in Ollama's shape: `{"error": "…"}` (the code stays for clients that switch on it). */
export function ollamaErrorBody(error: LmxError): unknown {
  return { error: error.message, code: error.code };
}

function samplingOf(options: OllamaOptions | null | undefined) {
  const o = options ?? {};
  return samplingOptions({
    temperature: o.temperature,
    top_p: o.top_p,
    top_k: o.top_k,
    min_p: o.min_p,
    seed: o.seed,
    stop: o.stop,
    presence_penalty: o.presence_penalty,
    frequency_penalty: o.frequency_penalty,
    repeat_penalty: o.repeat_penalty,
  });
}

function maxTokensOf(options: OllamaOptions | null | undefined): number | undefined {
  const limit = options?.num_predict;
  return limit === undefined || limit === null || limit <= 0 ? undefined : limit;
}

async function grammarOf(
  app: LmxApp,
  format: z.infer<typeof Format>,
  withTools: boolean,
): Promise<LlamaGrammar | undefined> {
  if (format === undefined || format === null || format === "") return undefined;
  if (withTools) {
    throw new LmxError("unsupported_parameter", "format cannot be combined with tools; send one or the other", {
      param: "format",
    });
  }
  return format === "json" ? app.grammars.json() : app.grammars.forSchema(format, "format");
}

function refuseImages(images: readonly string[] | null | undefined, param: string): void {
  if (images && images.length > 0) {
    throw new LmxError(
      "unsupported_parameter",
      `${param}: LMX's models take text only; send the message without images`,
      {
        param,
      },
    );
  }
}

/**
 * Ollama messages → OpenAI chat messages. Ollama's tool calls may carry no id and its tool results
 * name the function (`tool_name`) instead of the call, so each result answers the earliest pending
 * call with its `tool_call_id`, else its `tool_name`, else the earliest pending call.
 */
export function ollamaToChatMessages(messages: readonly OllamaMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  const pending: { id: string; name: string }[] = [];
  let next = 0;
  for (const [index, message] of messages.entries()) {
    const param = `messages[${index}]`;
    refuseImages(message.images, `${param}.images`);
    const content = message.content ?? "";
    if (message.role === "system" || message.role === "user") {
      out.push({ role: message.role, content });
    } else if (message.role === "assistant") {
      const calls = (message.tool_calls ?? []).map((call) => {
        const id = call.id ?? `call_${next++}`;
        const args = call.function.arguments;
        pending.push({ id, name: call.function.name });
        return {
          id,
          type: "function" as const,
          function: {
            name: call.function.name,
            arguments: typeof args === "string" ? args : JSON.stringify(args ?? {}),
          },
        };
      });
      out.push({ role: "assistant", content, ...(calls.length > 0 ? { tool_calls: calls } : {}) });
    } else {
      const at =
        [
          pending.findIndex((call) => call.id === message.tool_call_id),
          pending.findIndex((call) => call.name === message.tool_name),
        ].find((found) => found >= 0) ?? (pending.length > 0 ? 0 : -1);
      if (at < 0) {
        throw new LmxError(
          "invalid_request",
          `${param}: a tool message must follow an assistant message with tool_calls that it answers`,
          { param },
        );
      }
      const [call] = pending.splice(at, 1);
      out.push({ role: "tool", tool_call_id: call!.id, content });
    }
  }
  return out;
}

/** Timing and token counts, in Ollama's fields (durations in nanoseconds). */
function stats(scope: RequestScope, outcome: ChatOutcome, firstTokenAt: number | undefined) {
  const now = performance.now();
  const first = firstTokenAt ?? now;
  const ns = (ms: number) => Math.max(0, Math.round(ms * 1e6));
  return {
    total_duration: ns(now - scope.receivedAt),
    load_duration: 0,
    prompt_eval_count: outcome.promptTokens,
    prompt_eval_duration: ns(first - scope.receivedAt),
    eval_count: outcome.completionTokens,
    eval_duration: ns(now - first),
  };
}

function doneReason(outcome: ChatOutcome): "stop" | "length" {
  return outcome.finish === "length" ? "length" : "stop";
}

/** Generated calls in Ollama's shape (arguments as an object); a call cut off mid-arguments is left out. */
function ollamaCalls(outcome: ChatOutcome) {
  return outcome.calls.flatMap((call, index) => {
    try {
      return [{ id: call.id, function: { index, name: call.name, arguments: JSON.parse(call.arguments || "{}") } }];
    } catch {
      return [];
    }
  });
}

/** An empty conversation loads the model (or, with `keep_alive: 0`, unloads it), as Ollama does. */
async function loadOrUnload(app: LmxApp, model: string, keepAlive: string | number | null | undefined) {
  const created_at = new Date().toISOString();
  if (keepAlive === 0 || keepAlive === "0" || keepAlive === "0s") {
    await app.registry.unload(modelId(model));
    return { model, created_at, done: true, done_reason: "unload" };
  }
  await app.registry.load(modelId(model));
  return { model, created_at, done: true, done_reason: "load" };
}

type Shape = {
  /** One streamed piece of answer text or thinking. */
  piece: (text: string, thinking: boolean) => Record<string, unknown>;
  /** The tool calls, streamed once complete (as Ollama streams them). */
  calls?: (calls: ReturnType<typeof ollamaCalls>) => Record<string, unknown>;
  /** The whole answer, for `stream: false` and the body of the last streamed line. */
  whole: (outcome: ChatOutcome, streamed: boolean) => Record<string, unknown>;
};

async function generate(
  app: LmxApp,
  scope: RequestScope,
  run: ChatRun,
  request: { model: string; stream?: boolean | null | undefined },
  shape: Shape,
): Promise<unknown> {
  const stream = request.stream !== false;
  const created_at = () => new Date().toISOString();
  const lines = stream ? new NdjsonStream(scope.response) : undefined;
  let firstTokenAt: number | undefined;
  const mark = () => {
    firstTokenAt ??= performance.now();
  };
  const sink: ChatSink = lines
    ? {
        text: (text) => {
          mark();
          lines.send({ model: request.model, created_at: created_at(), ...shape.piece(text, false), done: false });
        },
        thought: (text) => {
          mark();
          lines.send({ model: request.model, created_at: created_at(), ...shape.piece(text, true), done: false });
        },
        callStart: mark,
      }
    : { text: mark, thought: mark, callStart: mark };
  try {
    const outcome = await runChat(app, scope, run, sink);
    const timing = stats(scope, outcome, firstTokenAt);
    const last = {
      model: request.model,
      created_at: created_at(),
      ...shape.whole(outcome, lines !== undefined),
      done: true,
      done_reason: doneReason(outcome),
      ...timing,
    };
    if (!lines) return last;
    const calls = ollamaCalls(outcome);
    if (calls.length > 0 && shape.calls) {
      lines.send({ model: request.model, created_at: created_at(), ...shape.calls(calls), done: false });
    }
    lines.send(last);
    lines.end();
    return STREAMED;
  } catch (error) {
    if (scope.signal.aborted) {
      app.log({ event: "ollama.aborted", requestId: scope.requestId, model: request.model });
      return STREAMED;
    }
    const failure = toLmxError(error);
    if (lines?.isOpen) {
      lines.send(ollamaErrorBody(failure));
      lines.end();
      return STREAMED;
    }
    throw failure;
  }
}

/** `POST /api/chat`: messages (with tools and tool results) → one assistant message. */
export async function ollamaChat(app: LmxApp, scope: RequestScope, body: unknown): Promise<unknown> {
  const request = parseRequest(OllamaChatRequest, body);
  const messages = request.messages ?? [];
  if (messages.length === 0) return loadOrUnload(app, request.model, request.keep_alive);
  const history = toChatHistory(ollamaToChatMessages(messages));
  const tools = await planTools(app, scope, request.tools ?? [], undefined);
  const grammar = await grammarOf(app, request.format, tools.functions !== undefined);
  const run: ChatRun = {
    model: modelId(request.model),
    history,
    tools,
    grammar,
    sampling: samplingOf(request.options),
    maxTokens: maxTokensOf(request.options),
  };
  return generate(app, scope, run, request, {
    piece: (text, thinking) => ({
      message: { role: "assistant", content: thinking ? "" : text, ...(thinking ? { thinking: text } : {}) },
    }),
    calls: (calls) => ({ message: { role: "assistant", content: "", tool_calls: calls } }),
    whole: (outcome, streamed) => {
      const calls = ollamaCalls(outcome);
      return {
        message: {
          role: "assistant",
          content: streamed ? "" : outcome.text,
          ...(!streamed && outcome.thoughts !== "" ? { thinking: outcome.thoughts } : {}),
          ...(!streamed && calls.length > 0 ? { tool_calls: calls } : {}),
        },
      };
    },
  });
}

/** `POST /api/generate`: a prompt (and optional system message) → text, through the chat template. */
export async function ollamaGenerate(app: LmxApp, scope: RequestScope, body: unknown): Promise<unknown> {
  const request = parseRequest(OllamaGenerateRequest, body);
  refuseImages(request.images, "images");
  for (const field of ["raw", "suffix", "template"] as const) {
    if (request[field]) {
      throw new LmxError(
        "unsupported_parameter",
        `${field} is not supported: LMX applies the model's own chat template; for raw text continuation use POST /v1/completions`,
        { param: field },
      );
    }
  }
  const prompt = request.prompt ?? "";
  if (prompt === "") return loadOrUnload(app, request.model, request.keep_alive);
  const messages: ChatMessage[] = [
    ...(request.system ? [{ role: "system" as const, content: request.system }] : []),
    { role: "user", content: prompt },
  ];
  const run: ChatRun = {
    model: modelId(request.model),
    history: toChatHistory(messages),
    tools: { functions: undefined, forced: false },
    grammar: await grammarOf(app, request.format, false),
    sampling: samplingOf(request.options),
    maxTokens: maxTokensOf(request.options),
  };
  return generate(app, scope, run, request, {
    piece: (text, thinking) => (thinking ? { response: "", thinking: text } : { response: text }),
    whole: (outcome, streamed) => ({
      response: streamed ? "" : outcome.text,
      ...(!streamed && outcome.thoughts !== "" ? { thinking: outcome.thoughts } : {}),
    }),
  });
}

function details(family: string) {
  return {
    parent_model: "",
    format: "gguf",
    family,
    families: family ? [family] : null,
    parameter_size: "",
    quantization_level: "",
  };
}

/** `GET /api/tags`: every usable GGUF, as Ollama lists its local models. */
export async function ollamaTags(app: LmxApp): Promise<unknown> {
  const files = (await app.registry.list()).filter((file) => !file.problem);
  return {
    models: files.map((file) => ({
      name: ollamaName(file.id),
      model: ollamaName(file.id),
      modified_at: file.modifiedAt.toISOString(),
      size: file.sizeBytes,
      digest: digest(file.path, file.sizeBytes, file.modifiedAt),
      details: details(""),
    })),
  };
}

/** `GET /api/ps`: the loaded models, with their context size. */
export async function ollamaPs(app: LmxApp): Promise<unknown> {
  const files = new Map((await app.registry.list()).map((file) => [file.id, file]));
  return {
    models: app.registry.loadedModels().map((model) => {
      const file = files.get(model.id);
      return {
        name: ollamaName(model.id),
        model: ollamaName(model.id),
        size: model.memoryBytes,
        digest: file ? digest(file.path, file.sizeBytes, file.modifiedAt) : "",
        details: details(""),
        expires_at: null,
        size_vram: 0,
        context_length: model.contextSize,
      };
    }),
  };
}

/** `POST /api/show`: what a client needs to know about a model (architecture, trained window, capabilities). */
export async function ollamaShow(app: LmxApp, _scope: RequestScope, body: unknown): Promise<unknown> {
  const request = parseRequest(OllamaShowRequest, body);
  const name = request.model ?? request.name;
  if (name === undefined) throw new LmxError("invalid_request", "model is required", { param: "model" });
  const file = await app.registry.resolve(modelId(name));
  const inspected = await inspectModelFile(file.path);
  const loaded = app.registry.loadedModels().find((model) => model.id === file.id);
  return {
    modelfile: `FROM ${file.path}\n`,
    parameters: "",
    template: "",
    details: details(inspected.architecture),
    model_info: {
      "general.architecture": inspected.architecture,
      ...(inspected.trainContextSize !== undefined
        ? { [`${inspected.architecture}.context_length`]: inspected.trainContextSize }
        : {}),
    },
    capabilities: ["completion", "tools"],
    ...(loaded ? { context_length: loaded.contextSize } : {}),
    modified_at: file.modifiedAt.toISOString(),
  };
}

/** `GET /api/version`. */
export async function ollamaVersion(app: LmxApp): Promise<unknown> {
  return { version: OLLAMA_API_VERSION, lmx_version: app.version };
}
