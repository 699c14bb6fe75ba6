import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LmxServer } from "../src/index.js";
import { client, post, startTestLmx, TINY_EOS, tinyModelsDir } from "./helpers.js";

let server: LmxServer;
let openai: OpenAI;
let cleanup: () => Promise<void>;
const logs: Record<string, unknown>[] = [];

beforeAll(async () => {
  const models = await tinyModelsDir();
  cleanup = models.cleanup;
  server = await startTestLmx({ modelsDir: models.dir, parallel: 2, log: (line) => logs.push(line as never) });
  openai = client(server);
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

const user = (content: string) => [{ role: "user" as const, content }];
/** Byte-level token ids of the tiny model: '"' and '}'. */
const QUOTE = "34";
const CLOSE_BRACE = "125";

describe("chat completions", () => {
  it("lists the models directory", async () => {
    const models = await openai.models.list();
    expect(models.data.map((model) => model.id)).toEqual(["tiny"]);
    expect((await openai.models.retrieve("tiny")).id).toBe("tiny");
  });

  it("answers without streaming, with usage", async () => {
    const completion = await openai.chat.completions.create({
      model: "tiny",
      messages: user("Hello"),
      max_tokens: 12,
      seed: 1,
    });
    expect(completion.object).toBe("chat.completion");
    expect(completion.choices[0]!.message.role).toBe("assistant");
    expect(typeof completion.choices[0]!.message.content).toBe("string");
    expect(["stop", "length"]).toContain(completion.choices[0]!.finish_reason);
    const usage = completion.usage!;
    expect(usage.prompt_tokens).toBeGreaterThan(3);
    expect(usage.completion_tokens).toBeGreaterThan(0);
    expect(usage.completion_tokens).toBeLessThanOrEqual(12);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
  });

  it("is reproducible for a seed, and unseeded requests sample differently", async () => {
    // 32 tokens with end-of-turn banned: long enough that two random draws never coincide.
    const request = {
      model: "tiny",
      messages: user("Say something"),
      max_tokens: 32,
      temperature: 1,
      logit_bias: { [String(TINY_EOS)]: -100 },
    };
    const seeded = () => openai.chat.completions.create({ ...request, seed: 7 });
    const [first, second] = [await seeded(), await seeded()];
    expect(first.usage!.completion_tokens).toBe(32);
    expect(first.choices[0]!.message.content).toBe(second.choices[0]!.message.content);
    // Back to back, well within one second (node-llama-cpp's own default seed is the current second).
    const [a, b] = [await openai.chat.completions.create(request), await openai.chat.completions.create(request)];
    expect(a.usage!.completion_tokens).toBe(32);
    expect(a.choices[0]!.message.content).not.toBe(b.choices[0]!.message.content);
  });

  it("counts the prompt the same however long the answer, and refuses a prompt beyond the context", async () => {
    const counts = new Set<number>();
    for (const max_tokens of [1, 7, 40]) {
      const completion = await openai.chat.completions.create({
        model: "tiny",
        messages: user("Count me"),
        max_tokens,
        logit_bias: { [String(TINY_EOS)]: -100 },
      });
      expect(completion.usage!.completion_tokens).toBe(max_tokens);
      counts.add(completion.usage!.prompt_tokens);
    }
    const stream = await openai.chat.completions.create({
      model: "tiny",
      messages: user("Count me"),
      max_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of stream) if (chunk.usage) counts.add(chunk.usage.prompt_tokens);
    expect(counts.size).toBe(1);
    // System + user + assistant opener in ChatML: more than the 8 characters of the message.
    expect([...counts][0]).toBeGreaterThan(8);

    const huge = await post(server, "/v1/chat/completions", {
      model: "tiny",
      messages: user("x9q! ".repeat(4000)),
      max_tokens: 4,
    });
    expect(huge.status).toBe(400);
    expect(huge.json.error!.code).toBe("context_length_exceeded");
    expect(huge.json.error!.message).toMatch(/the prompt is \d+ tokens but 'tiny' holds \d+ tokens per sequence/);
  });

  it("streams chunks and ends with usage when asked", async () => {
    const stream = await openai.chat.completions.create({
      model: "tiny",
      messages: user("Stream please"),
      max_tokens: 16,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe("chat.completion.chunk");
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (choice?.delta.content) text += choice.delta.content;
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(text.length).toBeGreaterThan(0);
    expect(["stop", "length"]).toContain(finish);
    expect(usage!.completion_tokens).toBeGreaterThan(0);
    expect(usage!.total_tokens).toBe(usage!.prompt_tokens + usage!.completion_tokens);
  });

  it("logs each answer with its TTFT and decode rate", async () => {
    const answer = await openai.chat.completions.create({
      model: "tiny",
      messages: user("Rate me"),
      max_tokens: 12,
      seed: 5,
      logit_bias: { [String(TINY_EOS)]: -100 },
    });
    const done = logs.filter((line) => line.event === "chat.done").at(-1)!;
    expect(done).toMatchObject({ model: "tiny", completionTokens: 12, finish: "length" });
    expect(done.completionTokens).toBe(answer.usage!.completion_tokens);
    expect(done.ttftMs as number).toBeGreaterThan(0);
    expect(done.ttftMs as number).toBeLessThanOrEqual(done.ms as number);
    // 11 decode intervals on the tiny model: thousands of tokens per second, never zero or absent.
    expect(done.tokensPerSecond as number).toBeGreaterThan(0);
  });

  it("honours stop sequences", async () => {
    const unstopped = await openai.chat.completions.create({
      model: "tiny",
      messages: user("x"),
      max_tokens: 40,
      seed: 3,
      temperature: 0,
    });
    const text = unstopped.choices[0]!.message.content!;
    const stop = text.slice(5, 7);
    const stopped = await openai.chat.completions.create({
      model: "tiny",
      messages: user("x"),
      max_tokens: 40,
      seed: 3,
      temperature: 0,
      stop: [stop],
    });
    expect(stopped.choices[0]!.finish_reason).toBe("stop");
    expect(stopped.choices[0]!.message.content).not.toContain(stop);
  });

  const weatherTool: OpenAI.ChatCompletionTool = {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather for a city",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string", maxLength: 12 },
          unit: { type: "string", enum: ["celsius", "fahrenheit"] },
          days: { type: "integer" },
        },
        required: ["city", "unit", "days"],
      },
    },
  };
  const timeTool: OpenAI.ChatCompletionTool = {
    type: "function",
    function: {
      name: "get_time",
      parameters: { type: "object", properties: { zone: { type: "string", maxLength: 8 } } },
    },
  };
  const checkWeatherArguments = (text: string) => {
    const args = JSON.parse(text) as { city: unknown; unit: unknown; days: unknown };
    expect(typeof args.city).toBe("string");
    expect((args.city as string).length).toBeLessThanOrEqual(12);
    expect(["celsius", "fahrenheit"]).toContain(args.unit);
    // node-llama-cpp's call grammar lets an integer carry an exponent; LMX returns it as generated.
    expect(typeof args.days).toBe("number");
  };

  it("makes a well-formed tool call when tool_choice is required, even for a model that never would", async () => {
    for (const seed of [1, 2, 3]) {
      const completion = await openai.chat.completions.create({
        model: "tiny",
        messages: user("What is the weather in Paris?"),
        tools: [weatherTool],
        tool_choice: "required",
        max_tokens: 96,
        seed,
      });
      const choice = completion.choices[0]!;
      expect(choice.finish_reason).toBe("tool_calls");
      const call = choice.message.tool_calls![0]!;
      expect(call.type).toBe("function");
      expect(call.id).toMatch(/^call_/);
      if (call.type !== "function") throw new Error("not a function call");
      expect(call.function.name).toBe("get_weather");
      checkWeatherArguments(call.function.arguments);
    }
  });

  it("calls the named tool and streams its arguments as deltas", async () => {
    const stream = await openai.chat.completions.create({
      model: "tiny",
      messages: user("time?"),
      tools: [timeTool, weatherTool],
      tool_choice: { type: "function", function: { name: "get_weather" } },
      max_tokens: 96,
      stream: true,
    });
    const calls: { id?: string; name?: string; arguments: string }[] = [];
    let deltas = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      for (const delta of choice?.delta.tool_calls ?? []) {
        deltas++;
        calls[delta.index] ??= { arguments: "" };
        const call = calls[delta.index]!;
        if (delta.id) call.id = delta.id;
        if (delta.function?.name) call.name = delta.function.name;
        call.arguments += delta.function?.arguments ?? "";
      }
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    expect(finish).toBe("tool_calls");
    expect(deltas).toBeGreaterThan(2);
    expect(calls[0]!.name).toBe("get_weather");
    expect(calls[0]!.id).toMatch(/^call_/);
    checkWeatherArguments(calls[0]!.arguments);
  });

  it("hides the tools from the model when tool_choice is none", async () => {
    const ask = (extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming>) =>
      openai.chat.completions.create({ model: "tiny", messages: user("weather?"), max_tokens: 4, ...extra });
    const plain = await ask({});
    const auto = await ask({ tools: [weatherTool], tool_choice: "auto" });
    const none = await ask({ tools: [weatherTool], tool_choice: "none" });
    // The tools' documentation is part of the prompt with "auto" and absent with "none".
    expect(auto.usage!.prompt_tokens).toBeGreaterThan(plain.usage!.prompt_tokens + 20);
    expect(none.usage!.prompt_tokens).toBe(plain.usage!.prompt_tokens);
    expect(none.choices[0]!.message.tool_calls ?? []).toHaveLength(0);
    expect(none.choices[0]!.finish_reason).not.toBe("tool_calls");
  });

  it("puts the tool call and its result into the prompt", async () => {
    const conversation = (city: string, result: string) =>
      openai.chat.completions.create({
        model: "tiny",
        messages: [
          { role: "system", content: "You are terse." },
          { role: "user", content: "weather?" },
          {
            role: "assistant",
            content: null,
            tool_calls: [
              {
                id: "call_1",
                type: "function",
                function: { name: "get_weather", arguments: JSON.stringify({ city, unit: "celsius", days: 1 }) },
              },
            ],
          },
          { role: "tool", tool_call_id: "call_1", content: result },
        ],
        tools: [weatherTool],
        max_tokens: 4,
      });
    const short = await conversation("Oslo", '{"temperature": 4}');
    expect(short.choices[0]!.message.role).toBe("assistant");
    // A longer result (and only that) makes a longer prompt: the result is rendered into it.
    const note = "Light snow from the north-west, clearing by evening; roads icy near the fjord.";
    const longResult = await conversation("Oslo", JSON.stringify({ temperature: 4, note }));
    expect(longResult.usage!.prompt_tokens - short.usage!.prompt_tokens).toBeGreaterThanOrEqual(note.length / 4);
    // So are the call's arguments.
    const longCity = await conversation("Oslo, Akershus, Norway, Europe", '{"temperature": 4}');
    expect(longCity.usage!.prompt_tokens).toBeGreaterThan(short.usage!.prompt_tokens + 4);
  });

  it("produces JSON that parses and validates for response_format json_schema", async () => {
    const schema = {
      type: "object",
      properties: {
        name: { type: "string", maxLength: 10 },
        age: { type: "integer" },
        colour: { enum: ["red", "green", "blue"] },
        tags: { type: "array", items: { type: "string", maxLength: 5 }, maxItems: 3 },
        ok: { type: "boolean" },
      },
      required: ["name", "age", "colour", "tags", "ok"],
    };
    for (const seed of [1, 2]) {
      const completion = await openai.chat.completions.create({
        model: "tiny",
        messages: user("Describe a person as JSON"),
        response_format: { type: "json_schema", json_schema: { name: "person", schema } },
        max_tokens: 200,
        seed,
      });
      const value = JSON.parse(completion.choices[0]!.message.content!) as Record<string, unknown>;
      expect(typeof value.name).toBe("string");
      expect((value.name as string).length).toBeLessThanOrEqual(10);
      expect(Number.isInteger(value.age)).toBe(true);
      expect(["red", "green", "blue"]).toContain(value.colour);
      expect(Array.isArray(value.tags) && value.tags.length <= 3).toBe(true);
      expect(typeof value.ok).toBe("boolean");
    }
  });

  it("produces JSON that parses for response_format json_object", async () => {
    // json_object cannot bound a string, and the random model rarely closes one on its own: make
    // '"' and '}' likely (not forced) so the JSON ends well within max_tokens.
    const request = {
      model: "tiny",
      messages: user("JSON"),
      max_tokens: 200,
      logit_bias: { [QUOTE]: 6, [CLOSE_BRACE]: 6 },
    };
    for (const seed of [1, 2, 3]) {
      const anyJson = await openai.chat.completions.create({
        ...request,
        seed,
        response_format: { type: "json_object" },
      });
      const choice = anyJson.choices[0]!;
      // The grammar ended the answer (not max_tokens), so the JSON is complete.
      expect(choice.finish_reason, choice.message.content!).toBe("stop");
      const value = JSON.parse(choice.message.content!) as unknown;
      expect(typeof value === "object" && value !== null && !Array.isArray(value)).toBe(true);
    }
    // The same bias without the grammar is not JSON: the grammar is what made it parse.
    const free = await openai.chat.completions.create({ ...request, seed: 1 });
    expect(() => JSON.parse(free.choices[0]!.message.content!)).toThrow();
  });

  it("refuses JSON schemas a grammar cannot express, naming the keyword", async () => {
    const schemaFormat = (schema: Record<string, unknown>) =>
      post(server, "/v1/chat/completions", {
        model: "tiny",
        messages: user("x"),
        max_tokens: 4,
        response_format: { type: "json_schema", json_schema: { name: "x", schema } },
      });
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ type: "weird" }, "response_format.json_schema.schema.type", /unknown type "weird"/],
      [
        { type: "object", properties: { a: { $ref: "#/$defs/missing" } }, $defs: { other: { type: "string" } } },
        "response_format.json_schema.schema.properties.a.$ref",
        /points to no definition \(defined: other\)/,
      ],
      [{ $ref: "https://example.com/schema.json" }, "response_format.json_schema.schema.$ref", /only local references/],
      [{ not: { type: "string" } }, "response_format.json_schema.schema.not", /'not' is not supported/],
      [{ type: "string", maxLength: 1e9 }, "response_format.json_schema.schema.maxLength", /integer from 0 to/],
    ];
    for (const [schema, param, message] of cases) {
      const response = await schemaFormat(schema);
      expect(response.status, JSON.stringify(schema)).toBe(400);
      expect(response.json.error!.param).toBe(param);
      expect(response.json.error!.message).toMatch(message);
    }
    const tool = await post(server, "/v1/chat/completions", {
      model: "tiny",
      messages: user("x"),
      max_tokens: 4,
      tools: [
        {
          type: "function",
          function: { name: "f", parameters: { type: "object", properties: { n: { type: "int" } } } },
        },
      ],
    });
    expect(tool.status).toBe(400);
    expect(tool.json.error!.param).toBe("tools[0].function.parameters.properties.n.type");

    // What it can express after rewriting: anyOf, nullable types, draft-7 definitions.
    const supported = await openai.chat.completions.create({
      model: "tiny",
      messages: user("x"),
      max_tokens: 200,
      seed: 1,
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "x",
          schema: {
            type: "object",
            properties: {
              colour: { $ref: "#/definitions/colour" },
              size: { anyOf: [{ type: "integer" }, { type: "null" }] },
              note: { type: ["string", "null"], maxLength: 5 },
            },
            required: ["colour", "size", "note"],
            definitions: { colour: { enum: ["red", "green"] } },
          },
        },
      },
    });
    const value = JSON.parse(supported.choices[0]!.message.content!) as Record<string, unknown>;
    expect(["red", "green"]).toContain(value.colour);
    expect(value.size === null || Number.isInteger(value.size)).toBe(true);
    expect(value.note === null || (typeof value.note === "string" && value.note.length <= 5)).toBe(true);
  });

  it("serves two streams at once", async () => {
    const run = async (seed: number) => {
      const stream = await openai.chat.completions.create({
        model: "tiny",
        messages: user(`stream ${seed}`),
        max_tokens: 200,
        seed,
        stream: true,
        logit_bias: { "511": -100 },
      });
      const times: number[] = [];
      let text = "";
      for await (const chunk of stream) {
        const content = chunk.choices[0]?.delta.content;
        if (content) {
          text += content;
          times.push(performance.now());
        }
      }
      return { text, first: times[0]!, last: times.at(-1)! };
    };
    const [a, b] = await Promise.all([run(1), run(2)]);
    expect(a.text.length).toBeGreaterThan(0);
    expect(b.text.length).toBeGreaterThan(0);
    expect(a.text).not.toBe(b.text);
    // Both generated during the same window: batched, not one after the other.
    expect(a.first).toBeLessThan(b.last);
    expect(b.first).toBeLessThan(a.last);
  });
});

describe("text completions and embeddings", () => {
  it("continues a prompt", async () => {
    const completion = await openai.completions.create({ model: "tiny", prompt: "Once upon a time", max_tokens: 8 });
    expect(completion.object).toBe("text_completion");
    expect(completion.choices[0]!.text.length).toBeGreaterThan(0);
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    const stream = await openai.completions.create({ model: "tiny", prompt: "Once", max_tokens: 8, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    expect(text.length).toBeGreaterThan(0);
  });

  it("embeds text as floats and as base64 (the client's default)", async () => {
    const base64 = await openai.embeddings.create({ model: "tiny", input: ["hello world", "goodbye"] });
    expect(base64.data).toHaveLength(2);
    expect(base64.data[0]!.embedding).toHaveLength(64);
    expect(base64.data[0]!.embedding.every(Number.isFinite)).toBe(true);
    expect(base64.usage.prompt_tokens).toBeGreaterThan(0);
    const floats = await openai.embeddings.create({ model: "tiny", input: "hello world", encoding_format: "float" });
    expect(floats.data[0]!.embedding[0]).toBeCloseTo(base64.data[0]!.embedding[0]!, 4);
  });
});

describe("bad requests", () => {
  const chat = (body: Record<string, unknown>) =>
    post(server, "/v1/chat/completions", { model: "tiny", messages: user("hi"), max_tokens: 4, ...body });

  it("rejects out-of-range numbers with an OpenAI-shaped error naming the field", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ temperature: 5 }, "temperature"],
      [{ temperature: "hot" }, "temperature"],
      [{ top_p: 1.5 }, "top_p"],
      [{ max_tokens: -1 }, "max_tokens"],
      [{ max_tokens: 1.5 }, "max_tokens"],
      [{ max_tokens: 10_000_000 }, "max_tokens"],
      [{ seed: 2 ** 64 }, "seed"],
      [{ n: 2 }, "n"],
      [{ logit_bias: { "99999": 5 } }, "logit_bias"],
      [{ logit_bias: { "1": 500 } }, "logit_bias.1"],
      [{ messages: [] }, "messages"],
      [{ messages: [{ role: "wizard", content: "x" }] }, "messages[0].role"],
      [{ response_format: { type: "xml" } }, "response_format.type"],
      [{ tool_choice: "required" }, "tool_choice"],
      [
        {
          tools: [{ type: "function", function: { name: "a" } }],
          tool_choice: { type: "function", function: { name: "b" } },
        },
        "tool_choice.function.name",
      ],
    ];
    for (const [body, param] of cases) {
      const response = await chat(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.json.error!.type).toBe("invalid_request_error");
      expect(response.json.error!.param, JSON.stringify(body)).toBe(param);
      expect(response.json.error!.message.length).toBeGreaterThan(5);
    }
  });

  it("rejects unknown models, bad JSON, wrong content types and unknown routes", async () => {
    const unknown = await chat({ model: "nope" });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error!.code).toBe("model_not_found");
    expect(unknown.json.error!.message).toContain("tiny");
    const badJson = await post(server, "/v1/chat/completions", "{not json");
    expect(badJson.status).toBe(400);
    expect(badJson.json.error!.code).toBe("invalid_json");
    const form = await post(server, "/v1/chat/completions", "a=b", { "Content-Type": "text/plain" });
    expect(form.status).toBe(415);
    const route = await fetch(`${server.url}/v1/nothing`);
    expect(route.status).toBe(404);
    expect(((await route.json()) as { error: { code: string } }).error.code).toBe("not_found");
    const method = await fetch(`${server.url}/v1/chat/completions`);
    expect(method.status).toBe(405);
    const encoding = await fetch(`${server.url}/v1/models/%E0%A4%A`);
    expect(encoding.status).toBe(400);
    const encodingError = ((await encoding.json()) as { error: { code: string; message: string } }).error;
    expect(encodingError.code).toBe("invalid_request");
    expect(encodingError.message).toMatch(/not valid percent-encoding/);
    const embed = await post(server, "/v1/embeddings", { model: "tiny", input: [[1, 99999]] });
    expect(embed.status).toBe(400);
    // Still serving after all that.
    expect(
      (await openai.chat.completions.create({ model: "tiny", messages: user("ok"), max_tokens: 2 })).choices,
    ).toHaveLength(1);
  });

  it("refuses foreign Host headers and Origins, allows loopback origins", async () => {
    const http = await import("node:http");
    const status = (headers: Record<string, string>) =>
      new Promise<{ status: number; allow: string | undefined }>((resolve, reject) => {
        const request = http.request(`${server.url}/v1/models`, { headers }, (response) => {
          response.resume();
          resolve({
            status: response.statusCode!,
            allow: response.headers["access-control-allow-origin"] as string | undefined,
          });
        });
        request.on("error", reject);
        request.end();
      });
    expect((await status({ Host: "evil.example" })).status).toBe(403);
    expect((await status({ Origin: "https://evil.example" })).status).toBe(403);
    const local = await status({ Origin: "http://localhost:5173" });
    expect(local.status).toBe(200);
    expect(local.allow).toBe("http://localhost:5173");
    expect((await status({})).allow).toBeUndefined();
  });
});

describe("operations", () => {
  it("reports health and Prometheus metrics", async () => {
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe("ok");
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    for (const name of [
      "lmx_requests_total",
      "lmx_generated_tokens_total",
      "lmx_tokens_per_second",
      "lmx_time_to_first_token_seconds_bucket",
      "lmx_queue_depth",
      "lmx_models_loaded",
      "lmx_process_resident_memory_bytes",
    ]) {
      expect(metrics).toContain(name);
    }
    expect(metrics).toMatch(/lmx_generated_tokens_total\{model="tiny"\} [1-9]/);
  });
});
