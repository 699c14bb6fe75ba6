import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeLlamaModel } from "../src/gguf/test-model.js";
import { type LmxServer, TEST_MODEL_PRESETS } from "../src/index.js";
import { boundedNumberRule } from "../src/openai/grammars.js";
import { client, post, startTestLmx, TINY_CONTROL_TOKENS, tinyModelsDir } from "./helpers.js";

const CONTEXT = 1024;
let server: LmxServer;
let openai: OpenAI;
let cleanup: () => Promise<void>;
const logs: Record<string, unknown>[] = [];

beforeAll(async () => {
  const models = await tinyModelsDir();
  cleanup = models.cleanup;
  server = await startTestLmx({
    modelsDir: models.dir,
    parallel: 1,
    contextSize: CONTEXT,
    log: (line) => logs.push(line as never),
  });
  openai = client(server);
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

const user = (content: string) => [{ role: "user" as const, content }];
const noEnd = Object.fromEntries(TINY_CONTROL_TOKENS.map((token) => [String(token), -100]));
const weatherTool: OpenAI.ChatCompletionTool = {
  type: "function",
  function: {
    name: "get_weather",
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
      required: ["city", "unit"],
    },
  },
};

describe("generation always ends", () => {
  it("stops at the end of the context window without max_tokens, with finish_reason length", async () => {
    const answer = await openai.chat.completions.create({ model: "tiny", messages: user("Go on"), logit_bias: noEnd });
    expect(answer.choices[0]!.finish_reason).toBe("length");
    const usage = answer.usage!;
    expect(usage.prompt_tokens + usage.completion_tokens).toBeLessThanOrEqual(CONTEXT);
    // It ran up to the window (not some small default).
    expect(usage.prompt_tokens + usage.completion_tokens).toBeGreaterThan(CONTEXT - 8);

    const stream = await openai.chat.completions.create({
      model: "tiny",
      messages: user("Go on"),
      logit_bias: noEnd,
      stream: true,
      stream_options: { include_usage: true },
    });
    let finish: string | null = null;
    let total = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) total = chunk.usage.total_tokens;
    }
    expect(finish).toBe("length");
    expect(total).toBeLessThanOrEqual(CONTEXT);

    // A max_tokens beyond the window ends at the window too, instead of a 400.
    const large = await openai.chat.completions.create({
      model: "tiny",
      messages: user("Go on"),
      logit_bias: noEnd,
      max_tokens: 100_000,
    });
    expect(large.choices[0]!.finish_reason).toBe("length");
    expect(large.usage!.total_tokens).toBeLessThanOrEqual(CONTEXT);
  });

  it("returns a forced tool call cut short by max_tokens as its partial call, streamed and not", async () => {
    const request = {
      model: "tiny",
      messages: user("weather?"),
      tools: [weatherTool],
      tool_choice: "required" as const,
      // Past the call's opening and name, inside its arguments.
      max_tokens: 24,
      seed: 4,
    };
    const plain = await openai.chat.completions.create(request);
    const choice = plain.choices[0]!;
    expect(choice.finish_reason).toBe("length");
    const call = choice.message.tool_calls![0]!;
    if (call.type !== "function") throw new Error("not a function call");
    expect(call.function.name).toBe("get_weather");
    expect(call.function.arguments.startsWith("{")).toBe(true);
    expect(() => JSON.parse(call.function.arguments)).toThrow();

    const stream = await openai.chat.completions.create({ ...request, stream: true });
    let streamed = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) streamed += delta.function?.arguments ?? "";
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    }
    expect(finish).toBe("length");
    expect(streamed).toBe(call.function.arguments);
  });

  it("names both sizes and the flag when the prompt does not fit", async () => {
    const huge = await post(server, "/v1/chat/completions", { model: "tiny", messages: user("x9q! ".repeat(800)) });
    expect(huge.status).toBe(400);
    expect(huge.json.error!.code).toBe("context_length_exceeded");
    expect(huge.json.error!.message).toMatch(
      /the prompt is \d+ tokens but 'tiny' holds 1024 tokens per sequence.*--context-size \(the model was trained on 4096 tokens\)/,
    );
  });
});

describe("numbers in generated JSON", () => {
  // Byte-level ids of the tiny model: 'e', 'E', '+', '9'. Pushed up, an unbounded exponent runs long.
  const exponentBias = { "101": 8, "69": 8, "43": 4, "57": 6 };
  const schema = {
    type: "object",
    properties: { x: { type: "number" }, n: { type: "integer" } },
    required: ["x", "n"],
  };

  it("has a grammar whose numbers JSON.parse keeps finite", () => {
    expect(boundedNumberRule(true)).toContain("([eE] [-+]? [0-9]{1,2})?");
    expect(boundedNumberRule(false)).not.toMatch(/[eE.]/);
    // The largest number the fractional rule admits.
    expect(Number.isFinite(JSON.parse(`-${"9".repeat(16)}.${"9".repeat(16)}e+99`))).toBe(true);
  });

  it("keeps numbers finite and integers integral, in response_format and in tool calls", async () => {
    for (const seed of [1, 2, 3]) {
      const formatted = await openai.chat.completions.create({
        model: "tiny",
        messages: user("numbers"),
        response_format: { type: "json_schema", json_schema: { name: "n", schema } },
        logit_bias: exponentBias,
        max_tokens: 120,
        seed,
      });
      const value = JSON.parse(formatted.choices[0]!.message.content!) as { x: number; n: number };
      expect(Number.isFinite(value.x), formatted.choices[0]!.message.content!).toBe(true);
      expect(Number.isInteger(value.n)).toBe(true);

      const called = await openai.chat.completions.create({
        model: "tiny",
        messages: user("numbers"),
        tools: [{ type: "function", function: { name: "f", parameters: schema } }],
        tool_choice: "required",
        logit_bias: exponentBias,
        max_tokens: 120,
        seed,
      });
      const call = called.choices[0]!.message.tool_calls![0]!;
      if (call.type !== "function") throw new Error("not a function call");
      const args = JSON.parse(call.function.arguments) as { x: number; n: number };
      expect(Number.isFinite(args.x), call.function.arguments).toBe(true);
      expect(Number.isInteger(args.n), call.function.arguments).toBe(true);
    }
  });
});

describe("a model trained on 16k tokens, default settings", () => {
  let dir: string;
  let long: LmxServer;
  const longLogs: Record<string, unknown>[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "opta-lmx-context-"));
    await writeLlamaModel(
      join(dir, "long.gguf"),
      { ...TEST_MODEL_PRESETS.tiny, contextLength: 16_384 },
      {
        seed: 1,
        name: "opta-test-long",
      },
    );
    long = await startTestLmx({ modelsDir: dir, parallel: 1, log: (line) => longLogs.push(line as never) });
  });
  afterAll(async () => {
    await long?.close();
    await rm(dir, { recursive: true, force: true });
  });
  type Status = {
    models: { context_size: number; context_source: string; memory_bytes: number; train_context_size: number }[];
  };
  const status = async (lmx: LmxServer) =>
    ((await (await fetch(`${lmx.url}/api/v1/models`)).json()) as Status).models[0]!;

  it("is the trained window, so a ~15k-token prompt fits; capped by memory; --context-size overrides", async () => {
    const answer = await client(long).chat.completions.create({
      model: "long",
      messages: user("x9q! ".repeat(2400)),
      max_tokens: 2,
    });
    expect(answer.usage!.prompt_tokens).toBeGreaterThan(4096);
    const loaded = await status(long);
    expect(loaded).toMatchObject({ context_size: 16_384, context_source: "trained", train_context_size: 16_384 });
    const memoryBytes = loaded.memory_bytes;

    let lmx = await startTestLmx({ modelsDir: dir, parallel: 1, memoryLimitBytes: memoryBytes - 1 });
    try {
      await post(lmx, "/api/v1/models/load", { model: "long" });
      const model = await status(lmx);
      expect(model.context_source).toBe("memory");
      expect(model.context_size).toBeLessThan(16_384);
      expect(model.context_size).toBeGreaterThanOrEqual(2048);
    } finally {
      await lmx.close();
    }

    lmx = await startTestLmx({ modelsDir: dir, parallel: 1, contextSize: 1024 });
    try {
      await post(lmx, "/api/v1/models/load", { model: "long" });
      expect(await status(lmx)).toMatchObject({ context_size: 1024, context_source: "flag" });
    } finally {
      await lmx.close();
    }
  });
  // @playwright/mcp's browser tools use propertyNames; Qwen Code's todo_write has a 9,242-character description.
  const playwrightLike = (strict: boolean): OpenAI.ChatCompletionTool => ({
    type: "function",
    function: {
      name: "browser_fill",
      description: `Fill form fields. ${"Each field is described by a ref and a value. ".repeat(220)}`,
      strict,
      parameters: {
        type: "object",
        properties: {
          fields: { type: "object", propertyNames: { pattern: "^[a-z]+$" }, additionalProperties: { type: "string" } },
        },
      },
    },
  });

  it("accepts a propertyNames schema and a 10k-character description with tool_choice auto, reporting the drop", async () => {
    const tool = playwrightLike(false);
    expect(tool.type === "function" && tool.function.description!.length).toBeGreaterThan(10_000);
    const response = await post(long, "/v1/chat/completions", {
      model: "long",
      messages: user("fill it"),
      tools: [tool],
      tool_choice: "auto",
      max_tokens: 2,
    });
    expect(response.status, JSON.stringify(response.json.error)).toBe(200);
    expect(response.json.choices).toHaveLength(1);
    expect(response.headers.get("x-lmx-schema-dropped")).toBe(
      "tools[0].function.parameters.properties.fields.propertyNames",
    );
    expect(longLogs.some((line) => line.event === "tools.schema_dropped")).toBe(true);
  });

  it("refuses the same keyword for a strict tool, naming it", async () => {
    const response = await post(long, "/v1/chat/completions", {
      model: "long",
      messages: user("fill it"),
      tools: [playwrightLike(true)],
      max_tokens: 2,
    });
    expect(response.status).toBe(400);
    expect(response.json.error!.param).toBe("tools[0].function.parameters.properties.fields.propertyNames");
  });
});
