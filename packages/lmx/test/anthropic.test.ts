import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LmxServer } from "../src/index.js";
import { post, startTestLmx, tinyModelsDir } from "./helpers.js";

const KEY = "test-key-for-messages";
let server: LmxServer;
let anthropic: Anthropic;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const models = await tinyModelsDir();
  cleanup = models.cleanup;
  server = await startTestLmx({ modelsDir: models.dir, parallel: 1, apiKey: KEY });
  // The SDK sends the key as x-api-key, as it does to Anthropic.
  anthropic = new Anthropic({ baseURL: server.url, apiKey: KEY, maxRetries: 0, timeout: 30_000 });
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

const weatherTool: Anthropic.Tool = {
  name: "get_weather",
  description: "Current weather for a city",
  input_schema: {
    type: "object",
    properties: { city: { type: "string", maxLength: 12 }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
    required: ["city", "unit"],
  },
};

describe("POST /v1/messages through @anthropic-ai/sdk", () => {
  it("answers text with a system prompt, stop_reason and usage", async () => {
    const message = await anthropic.messages.create({
      model: "tiny",
      max_tokens: 12,
      system: "You are terse.",
      messages: [{ role: "user", content: "Hello" }],
    });
    expect(message.type).toBe("message");
    expect(message.id).toMatch(/^msg_/);
    expect(message.role).toBe("assistant");
    expect(message.content[0]!.type).toBe("text");
    expect(["end_turn", "max_tokens"]).toContain(message.stop_reason);
    expect(message.usage.output_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBeLessThanOrEqual(12);
    const bare = await anthropic.messages.create({
      model: "tiny",
      max_tokens: 2,
      messages: [{ role: "user", content: [{ type: "text", text: "Hello" }] }],
    });
    expect(message.usage.input_tokens).toBeGreaterThan(bare.usage.input_tokens + 4);
  });

  it("streams message_start, content blocks with text_delta, message_delta and message_stop", async () => {
    const stream = anthropic.messages.stream({
      model: "tiny",
      max_tokens: 16,
      messages: [{ role: "user", content: "Stream please" }],
    });
    const types: string[] = [];
    let text = "";
    let startUsage = 0;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "message_start") startUsage = event.message.usage.input_tokens;
      if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
    }
    const final = await stream.finalMessage();
    expect(types[0]).toBe("message_start");
    expect(types[1]).toBe("content_block_start");
    expect(types).toContain("content_block_delta");
    expect(types.slice(-3)).toEqual(["content_block_stop", "message_delta", "message_stop"]);
    expect(text.length).toBeGreaterThan(0);
    expect(final.content[0]).toMatchObject({ type: "text", text });
    expect(["end_turn", "max_tokens"]).toContain(final.stop_reason);
    // The prompt's size is known at message_start, and matches the final count.
    expect(startUsage).toBeGreaterThan(3);
    expect(final.usage.input_tokens).toBe(startUsage);
    expect(final.usage.output_tokens).toBeGreaterThan(0);
  });

  it("makes a forced tool_use, and reads the tool_result back in the next turn", async () => {
    const question: Anthropic.MessageParam = { role: "user", content: "What is the weather in Paris?" };
    const first = await anthropic.messages.create({
      model: "tiny",
      max_tokens: 96,
      messages: [question],
      tools: [weatherTool],
      tool_choice: { type: "tool", name: "get_weather" },
    });
    expect(first.stop_reason).toBe("tool_use");
    const use = first.content.find((block) => block.type === "tool_use")!;
    expect(use.id).toMatch(/^toolu_/);
    expect(use.name).toBe("get_weather");
    const input = use.input as { city: unknown; unit: unknown };
    expect(typeof input.city).toBe("string");
    expect(["celsius", "fahrenheit"]).toContain(input.unit);

    const note = "Light snow from the north-west, clearing by evening; roads icy near the fjord.";
    const answer = (result: string) =>
      anthropic.messages.create({
        model: "tiny",
        max_tokens: 8,
        messages: [
          question,
          { role: "assistant", content: first.content },
          { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: result }] },
        ],
        tools: [weatherTool],
        tool_choice: { type: "none" },
      });
    const short = await answer("4 degrees");
    const long = await answer(`4 degrees. ${note}`);
    expect(short.content.every((block) => block.type !== "tool_use")).toBe(true);
    // The result is rendered into the prompt.
    expect(long.usage.input_tokens - short.usage.input_tokens).toBeGreaterThanOrEqual(note.length / 4);
  });

  it("streams a tool call as input_json_delta", async () => {
    const stream = anthropic.messages.stream({
      model: "tiny",
      max_tokens: 96,
      messages: [{ role: "user", content: "weather?" }],
      tools: [weatherTool],
      tool_choice: { type: "any" },
    });
    let json = "";
    for await (const event of stream) {
      if (event.type === "content_block_delta" && event.delta.type === "input_json_delta")
        json += event.delta.partial_json;
    }
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe("tool_use");
    const use = final.content.find((block) => block.type === "tool_use")!;
    expect(use.input).toEqual(JSON.parse(json));
  });

  it("requires max_tokens and the key, answering in Anthropic's error shape", async () => {
    const missing = await post(
      server,
      "/v1/messages",
      { model: "tiny", messages: [{ role: "user", content: "x" }] },
      { "x-api-key": KEY },
    );
    expect(missing.status).toBe(400);
    expect(missing.json).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    expect((missing.json.error as unknown as { message: string }).message).toMatch(/^max_tokens/);
    const wrong = new Anthropic({ baseURL: server.url, apiKey: "wrong", maxRetries: 0 });
    await expect(
      wrong.messages.create({ model: "tiny", max_tokens: 2, messages: [{ role: "user", content: "x" }] }),
    ).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    // Bearer works too, as on every other LMX route.
    const bearer = await post(
      server,
      "/v1/messages",
      { model: "tiny", max_tokens: 2, messages: [{ role: "user", content: "x" }] },
      { Authorization: `Bearer ${KEY}` },
    );
    expect(bearer.status).toBe(200);
  });
});
