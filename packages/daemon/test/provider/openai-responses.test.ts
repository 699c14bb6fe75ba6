/**
 * OpenAI reasoning models through the Responses API: their reasoning summaries become
 * `turn.thinking`, tool calls make the round trip as function_call / function_call_output items,
 * reasoning tokens count as thinking, and config `thinking` / `thinking-budget` / `api` decide
 * what is asked for. Against a scripted Responses server behind a key check, on loopback.
 */
import type { OptaConfig } from "@opta/protocol";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { isOpenAIReasoningModel, reasoningEffortFor } from "../../src/provider/openai-reasoning.js";
import { waitFor } from "../fixtures/daemon-harness.js";
import { type KeyGate, startKeyGate } from "../fixtures/key-gate.js";
import { type ScriptedReply, type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";
import { type Event, type ProviderRig, startRig } from "./setup.js";

const OPENAI_KEY = "sk-proj-responses-test-key-0003";

/** Think (summarised), read a file, then answer from it. */
const SCRIPT: ScriptedReply[] = [
  {
    reasoning: ["Reading ", "the note first."],
    reasoningTokens: 37,
    chunks: ["Let me look."],
    toolCalls: [{ name: "read_file", arguments: { path: "note.txt" }, id: "call_note" }],
  },
  { reasoning: ["It says hello."], reasoningTokens: 5, chunks: ["The note says ", "hello."] },
];

type InputItem = Record<string, unknown> & { type?: string; role?: string };

describe("OpenAI reasoning models through the Responses API", () => {
  let cloud: ScriptedServer;
  let lmx: ScriptedServer;
  let gate: KeyGate;
  let rig: ProviderRig;
  let baseConfig: OptaConfig;

  let generation = 0;
  async function reload(config: OptaConfig): Promise<void> {
    generation += 1;
    const marker = generation;
    await rig.writeConfig({ ...config, "test-generation": marker });
    await waitFor(() => rig.daemon.config()["test-generation"] === marker);
  }
  /** The requests the cloud server received since `before`. */
  const since = (before: number) => cloud.requests.slice(before);

  beforeAll(async () => {
    cloud = await startScriptedServer({ models: ["o4-mini", "gpt-5-mini", "gpt-4.1"] });
    lmx = await startScriptedServer({ models: ["local-model"] });
    gate = await startKeyGate({ target: cloud.host, apiKey: () => OPENAI_KEY });
    baseConfig = { lmx: { host: lmx.host }, providers: { openai: { type: "openai", baseUrl: gate.url } } };
    rig = await startRig({ env: { OPTA_PROVIDER_TIMEOUT_MS: "800" }, config: baseConfig });
    await rig.vault.set("openai", OPENAI_KEY);
  });
  afterAll(async () => {
    await rig?.close();
    await Promise.all([gate?.close(), cloud?.close(), lmx?.close()]);
  });
  beforeEach(async () => {
    await reload(baseConfig);
    cloud.setReplies([{ chunks: ["ok"] }]);
    lmx.setReplies([{ chunks: ["local"] }]);
  });

  it("streams the reasoning summary as turn.thinking, makes the tool round trip and counts reasoning tokens", async () => {
    await reload({ ...baseConfig, thinking: true, "thinking-budget": 16_000 });
    cloud.setReplies(SCRIPT);
    const before = cloud.requests.length;
    const events = await rig.run(await rig.session(), { text: "What does the note say?", model: "openai/o4-mini" });

    const [first, second] = since(before);
    expect([first?.path, second?.path]).toEqual(["/v1/responses", "/v1/responses"]);
    // Summaries asked for (thinking: true), effort from the budget (16000 → high), nothing stored.
    expect(first?.body).toMatchObject({ model: "o4-mini", stream: true, store: false });
    expect(first?.body.reasoning).toEqual({ effort: "high", summary: "auto" });
    expect(first?.body.include).toContain("reasoning.encrypted_content");
    // Reasoning counts inside max_output_tokens: the budget is added to max-output-tokens (4096).
    expect(first?.body.max_output_tokens).toBe(4096 + 16_000);
    const firstInput = first?.body.input as InputItem[];
    expect(firstInput[0]).toMatchObject({ role: "developer", content: expect.stringContaining("# Mode: ") });
    expect(first?.body.tools).toContainEqual(expect.objectContaining({ type: "function", name: "read_file" }));

    // What the user sees: the summary as thinking, then the text, the tool call and the answer.
    const thinking = events.filter((event) => event.event === "turn.thinking").map((event) => event.delta);
    expect(thinking.join("")).toBe("Reading the note first.It says hello.");
    expect(events.filter((event) => event.event === "turn.token").map((event) => event.delta)).toEqual([
      "Let me look.",
      "The note says ",
      "hello.",
    ]);
    const call = events.find((event) => event.event === "tool.call");
    expect(call).toMatchObject({ name: "read_file", args: { path: "note.txt" } });
    expect(events.find((event) => event.event === "tool.result")).toMatchObject({ ok: true });
    // OpenAI's usage counts reasoning tokens (37 + 5), far more than the summary's deltas.
    expect(events.at(-1)).toMatchObject({ event: "turn.done", steps: 2, toolCalls: 1, thinkingTokens: 42 });

    // The second request hands back the call, its output and the encrypted reasoning before it.
    const secondInput = second?.body.input as InputItem[];
    const functionCall = secondInput.find((item) => item.type === "function_call");
    expect(functionCall).toMatchObject({ name: "read_file", arguments: JSON.stringify({ path: "note.txt" }) });
    const output = secondInput.find((item) => item.type === "function_call_output");
    expect(output).toMatchObject({ call_id: functionCall?.call_id });
    expect(String(output?.output)).toContain("hello from the note");
    const reasoning = secondInput.find((item) => item.type === "reasoning");
    expect(reasoning).toMatchObject({ id: "rs_1", encrypted_content: "enc-1" });
    expect(secondInput.indexOf(reasoning!)).toBeLessThan(secondInput.indexOf(functionCall!));
    expect(gate.keys.slice(-2)).toEqual([OPENAI_KEY, OPENAI_KEY]);
  });

  it("asks for no summary unless thinking is on, and maps thinking-budget to the effort", async () => {
    cloud.setReplies([{ reasoning: ["hidden"], reasoningTokens: 12, chunks: ["done"] }]);
    let before = cloud.requests.length;
    const quiet = await rig.run(await rig.session(), { text: "go", model: "openai/gpt-5-mini" });
    const [plain] = since(before);
    expect(plain?.path).toBe("/v1/responses");
    // Nothing configured: OpenAI's own default effort, no summary, so no thinking shown…
    expect(plain?.body.reasoning).toBeUndefined();
    expect(quiet.some((event) => event.event === "turn.thinking")).toBe(false);
    // …but the reasoning tokens the model spent are still counted.
    expect(quiet.at(-1)).toMatchObject({ event: "turn.done", thinkingTokens: 12 });

    for (const [budget, effort] of [
      [1024, "low"],
      [4096, "medium"],
      [32_000, "high"],
    ] as const) {
      await reload({ ...baseConfig, "thinking-budget": budget });
      before = cloud.requests.length;
      await rig.run(await rig.session(), { text: "go", model: "openai/o4-mini" });
      expect(since(before)[0]?.body.reasoning).toEqual({ effort });
    }
  });

  it("keeps other models on Chat Completions, and follows providers.<name>.api", async () => {
    let before = cloud.requests.length;
    await rig.run(await rig.session(), { text: "go", model: "openai/gpt-4.1" });
    expect(since(before).map((request) => request.path)).toEqual(["/v1/chat/completions"]);
    // No reasoning, so no budget on top of the answer's cap.
    expect(since(before)[0]?.body.max_tokens).toBe(4096);

    await reload({ ...baseConfig, providers: { openai: { type: "openai", baseUrl: gate.url, api: "chat" } } });
    before = cloud.requests.length;
    const chat = await rig.run(await rig.session(), { text: "go", model: "openai/o4-mini" });
    expect(since(before).map((request) => request.path)).toEqual(["/v1/chat/completions"]);
    expect(since(before)[0]?.body.max_completion_tokens).toBe(4096 + 4096);
    expect(chat.at(-1)).toMatchObject({ event: "turn.done" });

    await reload({ ...baseConfig, providers: { openai: { type: "openai", baseUrl: gate.url, api: "responses" } } });
    before = cloud.requests.length;
    const responses = await rig.run(await rig.session(), { text: "go", model: "openai/gpt-4.1" });
    expect(since(before).map((request) => request.path)).toEqual(["/v1/responses"]);
    expect(responses.find((event) => event.event === "turn.token")?.delta).toBe("ok");
  });

  it("falls back before the first token, times out naming /responses, and keeps the key out of errors", async () => {
    cloud.setReplies([{ status: 503, errorMessage: "overloaded" }]);
    const fellBack = await rig.run(await rig.session(), { text: "go", model: "openai/o4-mini" });
    const fallback = fellBack.find((event) => event.event === "provider.fallback");
    expect(fallback).toMatchObject({ from: "openai/o4-mini", to: "lmx/local-model" });
    expect(String(fallback?.reason)).toContain(`${gate.url}/responses answered 503`);
    expect(fellBack.find((event) => event.event === "turn.token")?.delta).toBe("local");

    cloud.setReplies([{ chunks: ["a", "b"], hangAfterChunks: 1 }]);
    const stalled = await rig.run(await rig.session(), { text: "go", model: "openai/o4-mini" });
    expect(stalled.filter((event) => event.event === "turn.token")).toHaveLength(1);
    expect(stalled.at(-1)).toMatchObject({ event: "turn.error", code: "PROVIDER_TIMEOUT", retryable: true });
    expect(String(stalled.at(-1)?.message)).toContain(`${gate.url}/responses stopped sending`);

    // Summaries for an unverified organization: the error says what to do.
    await reload({ ...baseConfig, thinking: true });
    cloud.setReplies([
      { status: 400, errorMessage: "Your organization must be verified to generate reasoning summaries." },
    ]);
    const unverified = await rig.run(await rig.session(), { text: "go", model: "openai/o4-mini" });
    expect(unverified.at(-1)).toMatchObject({ event: "turn.error", code: "PROVIDER_ERROR", retryable: false });
    expect(String(unverified.at(-1)?.message)).toContain("verify the organization");
    expect(String(unverified.at(-1)?.message)).toContain("'opta config set thinking false'");

    // The gate's 401 echoes the wrong key, as OpenAI's does: the error must not.
    const wrongKey = "sk-proj-wrong-key-for-responses-0009";
    await rig.vault.set("openai", wrongKey);
    try {
      const refused = await rig.run(await rig.session(), { text: "go", model: "openai/o4-mini" });
      const error = refused.at(-1)!;
      expect(error).toMatchObject({ event: "turn.error", code: "PROVIDER_ERROR", retryable: false });
      expect(String(error.message)).toContain("answered 401");
      expect(String(error.message)).toContain("opta account rotate openai");
      expect(JSON.stringify(refused)).not.toContain(wrongKey);
    } finally {
      await rig.vault.set("openai", OPENAI_KEY);
    }
  });

  it("stops a Responses stream at once when the turn is stopped", async () => {
    cloud.setReplies([{ reasoning: ["thinking…"], chunks: ["a", "b"], hangAfterChunks: 1 }]);
    await reload({ ...baseConfig, thinking: true });
    const id = await rig.session();
    const submitted = await rig.call(`/v3/sessions/${id}/turns`, {
      method: "POST",
      json: { text: "go", model: "openai/o4-mini" },
    });
    expect(submitted.status).toBe(202);
    await waitFor(async () => (await rig.events(id)).some((event) => event.event === "turn.token"));
    const stopped = await rig.call(`/v3/sessions/${id}/stop`, { method: "POST" });
    expect(await stopped.json()).toMatchObject({ stopped: true });
    const events: Event[] = await rig.events(id);
    expect(events.some((event) => event.event === "session.cancelled")).toBe(true);
    expect(events.some((event) => event.event === "turn.error")).toBe(false);
    expect(events.filter((event) => event.event === "turn.thinking").map((event) => event.delta)).toEqual([
      "thinking…",
    ]);
  });
});

describe("which OpenAI models reason, and how a budget becomes an effort", () => {
  it("knows the o-series and gpt-5 families, but not gpt-5-chat or older models", () => {
    const reasoning = [
      "o1",
      "o1-mini",
      "o3",
      "o3-pro",
      "o4-mini",
      "gpt-5",
      "gpt-5-mini",
      "gpt-5.1-codex",
      "GPT-5-nano",
    ];
    const plain = ["gpt-4.1", "gpt-4o", "gpt-5-chat-latest", "gpt-5.1-chat-latest", "gpt-50", "omni", "o"];
    expect(reasoning.filter((model) => !isOpenAIReasoningModel(model))).toEqual([]);
    expect(plain.filter(isOpenAIReasoningModel)).toEqual([]);
  });

  it("puts budgets below 2048 at low, below 8192 at medium, the rest at high", () => {
    expect([1024, 2047, 2048, 4096, 8191, 8192, 128_000].map(reasoningEffortFor)).toEqual([
      "low",
      "low",
      "medium",
      "medium",
      "medium",
      "high",
      "high",
    ]);
  });
});
