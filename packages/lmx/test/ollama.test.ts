import { get } from "node:http";
import { Ollama } from "ollama";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LmxServer } from "../src/index.js";
import { startTestLmx, tinyModelsDir } from "./helpers.js";

let server: LmxServer;
let keyed: LmxServer;
let ollama: Ollama;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const models = await tinyModelsDir();
  cleanup = models.cleanup;
  // Ollama's API has no tool_choice, and the random model never calls a tool on its own: the
  // testing aid forces the first answer to a user message to call one (only when tools are sent).
  server = await startTestLmx({ modelsDir: models.dir, parallel: 1, forceToolCall: true });
  keyed = await startTestLmx({ modelsDir: models.dir, parallel: 1, apiKey: "sekret" });
  ollama = new Ollama({ host: server.url });
});
afterAll(async () => {
  await server?.close();
  await keyed?.close();
  await cleanup?.();
});

const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather for a city",
    parameters: { type: "object", properties: { city: { type: "string", maxLength: 8 } }, required: ["city"] },
  },
};

describe("Ollama's API through the ollama npm client", () => {
  it("lists models (tags), reports a version and shows a model", async () => {
    const tags = await ollama.list();
    expect(tags.models.map((model) => model.name)).toContain("tiny:latest");
    const tiny = tags.models.find((model) => model.name === "tiny:latest")!;
    expect(tiny.size).toBeGreaterThan(0);
    expect(tiny.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(tiny.details.format).toBe("gguf");
    const { version } = await ollama.version();
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    const show = await ollama.show({ model: "tiny" });
    const info = show.model_info as unknown as Record<string, unknown>;
    expect(info["general.architecture"]).toBe("llama");
    expect(info["llama.context_length"]).toBe(4096);
    expect(show.capabilities).toContain("tools");
  });

  it("chats without streaming: text, done_reason, token counts", async () => {
    const answer = await ollama.chat({
      model: "tiny:latest",
      messages: [
        { role: "system", content: "Be terse." },
        { role: "user", content: "Hello" },
      ],
      stream: false,
      options: { num_predict: 8, seed: 7 },
    });
    expect(answer.done).toBe(true);
    expect(answer.message.role).toBe("assistant");
    expect(typeof answer.message.content).toBe("string");
    expect(["stop", "length"]).toContain(answer.done_reason);
    expect(answer.eval_count).toBeGreaterThan(0);
    expect(answer.eval_count).toBeLessThanOrEqual(8);
    expect(answer.prompt_eval_count).toBeGreaterThan(5);
    expect(answer.total_duration).toBeGreaterThan(0);
  });

  it("streams chat as NDJSON by default, ending at num_predict with done_reason length", async () => {
    // The raw request shows the framing; the client reads it as a stream of parts.
    const response = await fetch(`${server.url}/api/chat`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: "tiny",
        messages: [{ role: "user", content: "Count" }],
        options: { num_predict: 12 },
      }),
    });
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = (await response.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const last = lines.at(-1);
    expect(last.done).toBe(true);
    expect(lines.slice(0, -1).every((line) => line.done === false)).toBe(true);
    const parts = [];
    for await (const part of await ollama.chat({
      model: "tiny",
      messages: [{ role: "user", content: "Count" }],
      stream: true,
      options: { num_predict: 12, seed: 3 },
    })) {
      parts.push(part);
    }
    const end = parts.at(-1)!;
    expect(end.done).toBe(true);
    expect(end.eval_count).toBeLessThanOrEqual(12);
    expect(["stop", "length"]).toContain(end.done_reason);
    if (end.done_reason === "length") expect(end.eval_count).toBe(12);
    const text = parts.map((part) => part.message.content).join("");
    const whole = await ollama.chat({
      model: "tiny",
      messages: [{ role: "user", content: "Count" }],
      stream: false,
      options: { num_predict: 12, seed: 3 },
    });
    // Same seed, same answer, streamed or not.
    expect(text).toBe(whole.message.content);
  });

  it('follows format: a JSON schema, and "json"', async () => {
    const shaped = await ollama.chat({
      model: "tiny",
      messages: [{ role: "user", content: "A number please" }],
      format: { type: "object", properties: { n: { type: "integer" } }, required: ["n"] },
      stream: false,
      options: { num_predict: 48 },
    });
    expect(Number.isInteger(JSON.parse(shaped.message.content).n)).toBe(true);
    const json = await ollama.generate({
      model: "tiny",
      prompt: "JSON please",
      format: "json",
      stream: false,
      options: { num_predict: 64 },
    });
    if (json.done_reason === "stop") expect(() => JSON.parse(json.response ?? "")).not.toThrow();
  });

  it("calls a tool (arguments as an object) and takes the result back, by tool_name", async () => {
    const first = await ollama.chat({
      model: "tiny",
      messages: [{ role: "user", content: "Weather in Paris?" }],
      tools: [weather],
      stream: false,
      options: { num_predict: 64 },
    });
    const call = first.message.tool_calls?.[0];
    expect(call?.function.name).toBe("get_weather");
    expect(typeof call?.function.arguments).toBe("object");
    expect(typeof call?.function.arguments.city).toBe("string");
    const streamed = [];
    for await (const part of await ollama.chat({
      model: "tiny",
      messages: [{ role: "user", content: "Weather in Paris?" }],
      tools: [weather],
      stream: true,
      options: { num_predict: 64 },
    })) {
      streamed.push(part);
    }
    expect(streamed.find((part) => part.message.tool_calls?.length)?.message.tool_calls?.[0]?.function.name).toBe(
      "get_weather",
    );
    const second = await ollama.chat({
      model: "tiny",
      messages: [
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: "", tool_calls: [call!] },
        { role: "tool", content: '{"temperature": 21}', tool_name: "get_weather" },
      ],
      tools: [weather],
      stream: false,
      options: { num_predict: 8 },
    });
    // After the tool's result the answer is text (the forcing aid applies only after a user message).
    expect(second.done).toBe(true);
    expect(second.message.tool_calls ?? []).toEqual([]);
  });

  it("generates from a prompt, streamed and not; an empty prompt loads, keep_alive 0 unloads", async () => {
    const whole = await ollama.generate({
      model: "tiny",
      system: "Be terse.",
      prompt: "Hello",
      stream: false,
      options: { num_predict: 6, seed: 5 },
    });
    expect(whole.done).toBe(true);
    expect(whole.eval_count).toBeLessThanOrEqual(6);
    const parts = [];
    for await (const part of await ollama.generate({
      model: "tiny",
      system: "Be terse.",
      prompt: "Hello",
      stream: true,
      options: { num_predict: 6, seed: 5 },
    })) {
      parts.push(part);
    }
    expect(parts.map((part) => part.response).join("")).toBe(whole.response);
    expect(parts.at(-1)!.done).toBe(true);
    const load = await ollama.generate({ model: "tiny", prompt: "", stream: false });
    expect(load.done_reason).toBe("load");
    expect((await ollama.ps()).models.map((model) => model.name)).toContain("tiny:latest");
    const unload = await ollama.generate({ model: "tiny", prompt: "", stream: false, keep_alive: 0 });
    expect(unload.done_reason).toBe("unload");
    expect((await ollama.ps()).models).toEqual([]);
  });

  it("answers errors in Ollama's shape, with the same key, Host and Origin checks as every route", async () => {
    await expect(ollama.chat({ model: "nope", messages: [{ role: "user", content: "Hi" }] })).rejects.toMatchObject({
      status_code: 404,
      error: expect.stringContaining("nope"),
    });
    await expect(ollama.generate({ model: "tiny", prompt: "x", raw: true, stream: false })).rejects.toMatchObject({
      status_code: 400,
      error: expect.stringContaining("/v1/completions"),
    });
    const anonymous = new Ollama({ host: keyed.url });
    await expect(anonymous.list()).rejects.toMatchObject({ status_code: 401 });
    const withKey = new Ollama({ host: keyed.url, headers: { Authorization: "Bearer sekret" } });
    expect((await withKey.list()).models.length).toBeGreaterThan(0);
    // fetch cannot send a foreign Host header; node:http can.
    const rebinding = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = get(`${server.url}/api/tags`, { headers: { Host: "evil.example" } }, (response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => {
          body += chunk.toString("utf8");
        });
        response.on("end", () => resolve({ status: response.statusCode!, body }));
      });
      request.on("error", reject);
    });
    expect(rebinding.status).toBe(403);
    expect(JSON.parse(rebinding.body)).toMatchObject({ error: expect.any(String), code: "forbidden_host" });
    const foreign = await fetch(`${server.url}/api/chat`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Origin: "https://evil.example" },
      body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "Hi" }] }),
    });
    expect(foreign.status).toBe(403);
  });
});
