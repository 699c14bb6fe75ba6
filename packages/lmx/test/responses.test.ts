import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LmxServer } from "../src/index.js";
import { ResponseStore } from "../src/openai/responses.js";
import { client, post, startTestLmx, tinyModelsDir } from "./helpers.js";

let server: LmxServer;
let openai: OpenAI;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const models = await tinyModelsDir();
  cleanup = models.cleanup;
  server = await startTestLmx({ modelsDir: models.dir, parallel: 1 });
  openai = client(server);
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

const weatherTool: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "get_weather",
  description: "Current weather for a city",
  strict: false,
  parameters: {
    type: "object",
    properties: { city: { type: "string", maxLength: 12 }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
    required: ["city", "unit"],
  },
};

describe("POST /v1/responses through the openai SDK", () => {
  it("answers text, with instructions and usage", async () => {
    const response = await openai.responses.create({
      model: "tiny",
      instructions: "You are terse.",
      input: "Hello",
      max_output_tokens: 12,
    });
    expect(response.object).toBe("response");
    expect(response.id).toMatch(/^resp_/);
    expect(["completed", "incomplete"]).toContain(response.status);
    const message = response.output.find((item) => item.type === "message")!;
    expect(message.role).toBe("assistant");
    expect(typeof response.output_text).toBe("string");
    expect(response.usage!.output_tokens).toBeGreaterThan(0);
    expect(response.usage!.output_tokens).toBeLessThanOrEqual(12);
    expect(response.usage!.total_tokens).toBe(response.usage!.input_tokens + response.usage!.output_tokens);
    // The instructions are part of the prompt.
    const bare = await openai.responses.create({ model: "tiny", input: "Hello", max_output_tokens: 2 });
    expect(response.usage!.input_tokens).toBeGreaterThan(bare.usage!.input_tokens + 4);
    // Input as message items with input_text parts is the same prompt as the string.
    const items = await openai.responses.create({
      model: "tiny",
      input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "Hello" }] }],
      max_output_tokens: 2,
    });
    expect(items.usage!.input_tokens).toBe(bare.usage!.input_tokens);
  });

  it("streams the documented events in order and ends with response.completed and usage", async () => {
    const stream = openai.responses.stream({ model: "tiny", input: "Stream please", max_output_tokens: 16 });
    const types: string[] = [];
    let deltas = "";
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") deltas += event.delta;
    }
    const final = await stream.finalResponse();
    expect(types.slice(0, 4)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
    ]);
    expect(types).toContain("response.output_text.delta");
    const tail = types.slice(types.indexOf("response.output_text.done"));
    expect(tail[0]).toBe("response.output_text.done");
    expect(tail.slice(1, 3)).toEqual(["response.content_part.done", "response.output_item.done"]);
    expect(["response.completed", "response.incomplete"]).toContain(types.at(-1));
    expect(deltas.length).toBeGreaterThan(0);
    expect(final.output_text).toBe(deltas);
    expect(final.usage!.output_tokens).toBeGreaterThan(0);
  });

  it("round-trips a forced function call: function_call item, then function_call_output with previous_response_id", async () => {
    const first = await openai.responses.create({
      model: "tiny",
      input: "What is the weather in Paris?",
      tools: [weatherTool],
      tool_choice: { type: "function", name: "get_weather" },
      max_output_tokens: 96,
    });
    expect(first.status).toBe("completed");
    const call = first.output.find((item) => item.type === "function_call")!;
    expect(call.name).toBe("get_weather");
    expect(call.call_id).toMatch(/^call_/);
    const args = JSON.parse(call.arguments) as { city: string; unit: string };
    expect(typeof args.city).toBe("string");
    expect(["celsius", "fahrenheit"]).toContain(args.unit);

    const note = "Light snow from the north-west, clearing by evening; roads icy near the fjord.";
    const second = await openai.responses.create({
      model: "tiny",
      previous_response_id: first.id,
      input: [
        { type: "function_call_output", call_id: call.call_id, output: JSON.stringify({ temperature: 4, note }) },
      ],
      tools: [weatherTool],
      tool_choice: "none",
      max_output_tokens: 8,
    });
    expect(second.previous_response_id).toBe(first.id);
    const message = second.output.find((item) => item.type === "message")!;
    expect(message.content[0]!.type).toBe("output_text");
    expect(second.output.some((item) => item.type === "function_call")).toBe(false);
    // The earlier question, the call and its result are all in the prompt.
    const question = await openai.responses.create({
      model: "tiny",
      input: "What is the weather in Paris?",
      max_output_tokens: 2,
    });
    expect(second.usage!.input_tokens).toBeGreaterThan(question.usage!.input_tokens + note.length);

    // The same turn without the stored response: the call_id answers nothing.
    const alone = await post(server, "/v1/responses", {
      model: "tiny",
      input: [{ type: "function_call_output", call_id: call.call_id, output: "{}" }],
      max_output_tokens: 4,
    });
    expect(alone.status).toBe(400);
    expect(alone.json.error!.message).toMatch(/does not answer any earlier assistant tool call/);
  });

  it("streams function call arguments as deltas", async () => {
    const stream = openai.responses.stream({
      model: "tiny",
      input: "weather?",
      tools: [weatherTool],
      tool_choice: "required",
      max_output_tokens: 96,
    });
    let args = "";
    const types: string[] = [];
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.function_call_arguments.delta") args += event.delta;
    }
    const final = await stream.finalResponse();
    expect(types.filter((type) => type === "response.function_call_arguments.delta").length).toBeGreaterThan(2);
    expect(types).toContain("response.function_call_arguments.done");
    expect(types.at(-1)).toBe("response.completed");
    const call = final.output.find((item) => item.type === "function_call")!;
    expect(call.arguments).toBe(args);
    expect(JSON.parse(args)).toHaveProperty("city");
  });

  it("keeps state across turns with previous_response_id, and honours store: false", async () => {
    const first = await openai.responses.create({ model: "tiny", input: "My name is Ada.", max_output_tokens: 6 });
    const second = await openai.responses.create({
      model: "tiny",
      previous_response_id: first.id,
      input: "What is my name?",
      max_output_tokens: 6,
    });
    const fresh = await openai.responses.create({ model: "tiny", input: "What is my name?", max_output_tokens: 6 });
    // The second turn's prompt holds the first turn (question and answer) on top of its own input.
    expect(second.usage!.input_tokens).toBeGreaterThan(fresh.usage!.input_tokens + first.usage!.input_tokens / 2);

    const unstored = await openai.responses.create({ model: "tiny", input: "x", max_output_tokens: 2, store: false });
    expect((unstored as unknown as { store: boolean }).store).toBe(false);
    for (const id of [unstored.id, "resp_nothing"]) {
      const missing = await post(server, "/v1/responses", { model: "tiny", previous_response_id: id, input: "y" });
      expect(missing.status).toBe(400);
      expect(missing.json.error!.code).toBe("previous_response_not_found");
      expect(missing.json.error!.param).toBe("previous_response_id");
    }
  });

  it("refuses what it cannot do with a field-naming 400", async () => {
    const image = await post(server, "/v1/responses", {
      model: "tiny",
      input: [{ role: "user", content: [{ type: "input_image", image_url: "https://example.com/a.png" }] }],
    });
    expect(image.status).toBe(400);
    expect(image.json.error!.param).toBe("input[0].content[0]");
    const bad = await post(server, "/v1/responses", { model: "tiny", input: "x", max_output_tokens: 0 });
    expect(bad.status).toBe(400);
    expect(bad.json.error!.param).toBe("max_output_tokens");
  });
});

describe("the stored-response bound", () => {
  it("evicts the oldest by count and by bytes", () => {
    const store = new ResponseStore({ count: 2, bytes: 1000 });
    const message = (text: string) => [{ role: "user" as const, content: text }];
    store.put("a", message("1"));
    store.put("b", message("2"));
    store.put("c", message("3"));
    expect([store.get("a"), store.size]).toEqual([undefined, 2]);
    store.put("d", message("x".repeat(960)));
    expect(store.get("b")).toBeUndefined();
    expect(store.get("c")).toBeUndefined();
    expect(store.get("d")).toBeDefined();
    // Larger than the whole budget: not kept (and nothing else evicted for it).
    store.put("e", message("y".repeat(2000)));
    expect([store.get("e"), store.get("d") !== undefined]).toEqual([undefined, true]);
  });
});
