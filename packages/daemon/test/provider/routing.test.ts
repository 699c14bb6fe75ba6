import { createServer } from "node:net";
import type { OptaConfig } from "@opta/protocol";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { waitFor } from "../fixtures/daemon-harness.js";
import { type KeyGate, startKeyGate } from "../fixtures/key-gate.js";
import { type ScriptedAnthropicServer, startScriptedAnthropicServer } from "../fixtures/scripted-anthropic-server.js";
import { type ScriptedReply, type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";
import { comparable, type Event, type ProviderRig, startRig } from "./setup.js";

const ANTHROPIC_KEY = "sk-ant-routing-test-key-0001";
const OPENAI_KEY = "sk-proj-routing-test-key-0002";

/** One agent script: think, say something, read a file, then answer from it. */
const SCRIPT: ScriptedReply[] = [
  {
    reasoning: ["The user wants ", "the note."],
    chunks: ["Let me look."],
    toolCalls: [{ name: "read_file", arguments: { path: "note.txt" } }],
  },
  { chunks: ["The note says ", "hello."] },
];

/** A port nothing listens on (connection refused). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("provider routing", () => {
  let lmx: ScriptedServer;
  let cloudOpenAi: ScriptedServer;
  let gate: KeyGate;
  let anthropic: ScriptedAnthropicServer;
  let rig: ProviderRig;
  let baseConfig: OptaConfig;
  let deadHost: string;

  let generation = 0;
  /** Writes config.yaml and waits until the daemon has reloaded it (hot reload, no restart). */
  async function reload(config: OptaConfig): Promise<void> {
    generation += 1;
    const marker = generation;
    await rig.writeConfig({ ...config, "test-generation": marker });
    await waitFor(() => rig.daemon.config()["test-generation"] === marker);
  }
  const models = async () => (await (await rig.call("/v3/models")).json()) as ModelsBody;

  beforeAll(async () => {
    lmx = await startScriptedServer({ models: ["m1"] });
    cloudOpenAi = await startScriptedServer({ models: ["gpt-scripted"] });
    gate = await startKeyGate({ target: cloudOpenAi.host, apiKey: () => OPENAI_KEY });
    anthropic = await startScriptedAnthropicServer({ models: ["claude-scripted", "m1"], apiKey: ANTHROPIC_KEY });
    deadHost = `127.0.0.1:${await closedPort()}`;
    baseConfig = {
      lmx: { host: lmx.host },
      providers: {
        anthropic: { type: "anthropic", baseUrl: anthropic.url },
        openai: { type: "openai", baseUrl: gate.url },
      },
    };
    rig = await startRig({ env: { OPTA_PROVIDER_TIMEOUT_MS: "800" }, config: baseConfig });
    await rig.vault.set("anthropic", ANTHROPIC_KEY);
    await rig.vault.set("openai", OPENAI_KEY);
  });
  afterAll(async () => {
    await rig?.close();
    await Promise.all([lmx?.close(), gate?.close(), cloudOpenAi?.close(), anthropic?.close()]);
  });
  beforeEach(async () => {
    // Fresh health for each test: a config write rebuilds the providers and clears the cache.
    await reload(baseConfig);
    for (const server of [lmx, cloudOpenAi, anthropic]) server.setReplies([{ chunks: ["ok"] }]);
  });

  it("produces the same events through LMX, OpenAI and Anthropic wire formats", async () => {
    const runs: Record<string, Event[]> = {};
    for (const provider of ["lmx", "openai", "anthropic"]) {
      for (const server of [lmx, cloudOpenAi, anthropic]) server.setReplies(SCRIPT);
      runs[provider] = await rig.run(await rig.session(), { text: "What does the note say?", model: `${provider}/m1` });
    }
    // The system prompt reached each wire format: a system message (LMX, OpenAI), Anthropic's `system`.
    const systemText = (lmx.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>)[0]!;
    expect(systemText).toMatchObject({ role: "system", content: expect.stringContaining("# Mode: ") });
    expect(JSON.stringify(anthropic.requests.at(-1)?.body.system)).toContain("# Mode: ");
    expect(JSON.stringify(anthropic.requests.at(-1)?.body.messages)).not.toContain("# Mode: ");
    const openAiMessages = cloudOpenAi.requests.at(-1)?.body.messages as Array<{ role: string; content: string }>;
    expect(["system", "developer"]).toContain(openAiMessages[0]?.role);
    expect(openAiMessages[0]?.content).toContain("# Mode: ");
    // turn.start names the ref the user asked for (`lmx/m1`…); everything after it must match.
    const same = (events: Event[]) =>
      events
        .map(comparable)
        .map((event) => (event.event === "turn.start" ? { ...event, model: "m1" } : event))
        // turn.done names the provider that answered; the rest must match whichever it was.
        .map((event) => (event.event === "turn.done" ? { ...event, provider: "any" } : event));
    const lmxEvents = same(runs.lmx!);
    expect(lmxEvents.map((event) => event.event)).toEqual([
      "turn.start",
      "turn.system",
      "turn.thinking",
      "turn.thinking",
      "turn.token",
      "tool.call",
      "tool.result",
      "turn.token",
      "turn.token",
      "turn.done",
    ]);
    expect(lmxEvents.find((event) => event.event === "tool.result")).toMatchObject({ ok: true });
    expect(lmxEvents.at(-1)).toMatchObject({
      tokens: 5,
      thinkingTokens: 2,
      steps: 2,
      toolCalls: 1,
      promptTokens: 10,
      cachedTokens: 0,
    });
    expect(same(runs.anthropic!)).toEqual(lmxEvents);
    // OpenAI's Chat Completions API streams no reasoning; everything else is identical.
    const withoutThinking = (events: Array<Record<string, unknown>>) =>
      events
        .filter((event) => event.event !== "turn.thinking")
        .map((event) => (event.event === "turn.done" ? { ...event, thinkingTokens: 0 } : event));
    expect(withoutThinking(same(runs.openai!))).toEqual(withoutThinking(lmxEvents));
    // Tool results went back in each wire format, and each cloud request carried its key.
    expect(JSON.stringify(anthropic.requests.at(-1)?.body.messages)).toContain("hello from the note");
    expect(anthropic.requests.at(-1)?.apiKey).toBe(ANTHROPIC_KEY);
    expect(gate.keys.at(-1)).toBe(OPENAI_KEY);
  });

  it("asks Anthropic for thinking when configured and hands its signed thinking back in the tool loop", async () => {
    await reload({ ...baseConfig, thinking: true });
    anthropic.setReplies(SCRIPT);
    const before = anthropic.requests.length;
    const events = await rig.run(await rig.session(), { text: "go", model: "anthropic/claude-scripted" });
    expect(events.at(-1)).toMatchObject({ event: "turn.done", steps: 2 });
    const [first, second] = anthropic.requests.slice(before);
    expect(first?.body.thinking).toEqual({ type: "enabled", budget_tokens: 4096 });
    const messages = (second?.body.messages ?? []) as Array<{ role: string; content: Array<Record<string, unknown>> }>;
    const assistant = messages.find((message) => message.role === "assistant");
    expect(assistant?.content[0]).toMatchObject({ type: "thinking", thinking: "The user wants the note." });
    expect(assistant?.content[0]?.signature).toMatch(/^sig-/);

    // config `thinking-budget` is the budget, and the SDK adds it to max_tokens (the text's cap stays).
    await reload({ ...baseConfig, thinking: true, "thinking-budget": 2048, "max-output-tokens": 1000 });
    anthropic.setReplies([{ chunks: ["ok"] }]);
    const budgeted = anthropic.requests.length;
    await rig.run(await rig.session(), { text: "go", model: "anthropic/claude-scripted" });
    expect(anthropic.requests[budgeted]?.body).toMatchObject({
      thinking: { type: "enabled", budget_tokens: 2048 },
      max_tokens: 3048,
    });
  });

  it("falls back when LMX returns 503, and stays on the fallback for the rest of the turn", async () => {
    lmx.setReplies([{ status: 503, errorMessage: "queue_full" }]);
    anthropic.setReplies(SCRIPT);
    const before = anthropic.requests.length;
    const lmxBefore = lmx.requests.length;
    const events = await rig.run(await rig.session(), { text: "go", model: "m1" });
    const fallback = events.find((event) => event.event === "provider.fallback");
    expect(fallback).toMatchObject({ from: "lmx/m1", to: "anthropic/m1" });
    expect(String(fallback?.reason)).toContain("503");
    expect(events.at(-1)).toMatchObject({ event: "turn.done", steps: 2 });
    expect(events.filter((event) => event.event === "turn.token").map((event) => event.model)).toEqual([
      "m1",
      "m1",
      "m1",
    ]);
    expect(anthropic.requests.length - before).toBe(2);
    expect(lmx.requests.length - lmxBefore).toBe(1);
  });

  it("falls back when LMX hangs past the timeout", async () => {
    lmx.setReplies([{ hang: true }]);
    anthropic.setReplies([{ chunks: ["rescued"] }]);
    // The hung reply never ends: only the connect timeout can get this turn done.
    const events = await rig.run(await rig.session(), { text: "go", model: "lmx/m1" });
    const fallback = events.find((event) => event.event === "provider.fallback");
    expect(fallback).toMatchObject({ from: "lmx/m1", to: "anthropic/m1" });
    expect(String(fallback?.reason)).toMatch(/did not answer within 0\.8s/);
    expect(events.at(-1)).toMatchObject({ event: "turn.done" });
  });

  it("falls back when LMX is down (refused), found by its preflight", async () => {
    await reload({ ...baseConfig, lmx: { host: deadHost } });
    anthropic.setReplies([{ chunks: ["from the cloud"] }]);
    const explicit = await rig.run(await rig.session(), { text: "go", model: "lmx/m1" });
    const fallback = explicit.find((event) => event.event === "provider.fallback");
    expect(fallback).toMatchObject({ from: "lmx/m1", to: "anthropic/m1" });
    expect(String(fallback?.reason)).toContain("ECONNREFUSED");
    expect(explicit.at(-1)).toMatchObject({ event: "turn.done" });
    // A bare id that both serve goes straight to the healthy one: no fallback needed.
    const bare = await rig.run(await rig.session(), { text: "go", model: "m1" });
    expect(bare.some((event) => event.event === "provider.fallback")).toBe(false);
    expect(bare.at(-1)).toMatchObject({ event: "turn.done" });
    // No model at all: the first model of the next provider in the fallback order.
    const none = await rig.run(await rig.session(), { text: "go" });
    expect(none.find((event) => event.event === "provider.fallback")).toMatchObject({
      from: "lmx",
      to: "anthropic/claude-scripted",
    });
    expect(none.find((event) => event.event === "turn.token")?.model).toBe("claude-scripted");
  });

  it("does not fall back once the first token is out: a retryable turn.error", async () => {
    lmx.setReplies([{ chunks: ["a", "b", "c"], hangAfterChunks: 1 }]);
    const before = anthropic.requests.length;
    const stalled = await rig.run(await rig.session(), { text: "go", model: "m1" });
    expect(stalled.some((event) => event.event === "provider.fallback")).toBe(false);
    expect(stalled.filter((event) => event.event === "turn.token")).toHaveLength(1);
    expect(stalled.at(-1)).toMatchObject({ event: "turn.error", code: "PROVIDER_TIMEOUT", retryable: true });
    expect(anthropic.requests.length).toBe(before);
    // A connection dropped mid-stream, on the Anthropic wire this time.
    anthropic.setReplies([{ chunks: ["x", "y", "z"], dropAfterChunks: 1, delayMs: 50 }]);
    const dropped = await rig.run(await rig.session(), { text: "go", model: "anthropic/claude-scripted" });
    expect(dropped.some((event) => event.event === "provider.fallback")).toBe(false);
    expect(dropped.filter((event) => event.event === "turn.token")).toHaveLength(1);
    expect(dropped.at(-1)).toMatchObject({ event: "turn.error", code: "PROVIDER_ERROR", retryable: true });
  });

  it("does not fall back on a mistake that another try would repeat (400)", async () => {
    lmx.setReplies([{ status: 400, errorMessage: "bad request" }]);
    const events = await rig.run(await rig.session(), { text: "go", model: "m1" });
    expect(events.some((event) => event.event === "provider.fallback")).toBe(false);
    expect(events.at(-1)).toMatchObject({ event: "turn.error", code: "PROVIDER_ERROR", retryable: false });
  });

  it("follows the configured fallback order and skips providers without a key", async () => {
    await rig.vault.delete("anthropic");
    try {
      lmx.setReplies([{ status: 429, errorMessage: "slow down" }]);
      cloudOpenAi.setReplies([{ chunks: ["from openai"] }]);
      const events = await rig.run(await rig.session(), { text: "go", model: "m1" });
      expect(events.find((event) => event.event === "provider.fallback")).toMatchObject({
        from: "lmx/m1",
        to: "openai/gpt-scripted",
      });
      expect(events.at(-1)).toMatchObject({ event: "turn.done" });
    } finally {
      await rig.vault.set("anthropic", ANTHROPIC_KEY);
    }
    await reload({ ...baseConfig, fallback: ["openai/gpt-scripted", "anthropic"] });
    lmx.setReplies([{ status: 500, errorMessage: "boom" }]);
    cloudOpenAi.setReplies([{ status: 502, errorMessage: "bad gateway" }]);
    anthropic.setReplies([{ chunks: ["third time lucky"] }]);
    const chain = await rig.run(await rig.session(), { text: "go", model: "m1" });
    expect(chain.filter((event) => event.event === "provider.fallback").map((event) => [event.from, event.to])).toEqual(
      [
        ["lmx/m1", "openai/gpt-scripted"],
        ["openai/gpt-scripted", "anthropic/m1"],
      ],
    );
    expect(chain.at(-1)).toMatchObject({ event: "turn.done" });
  });

  it("lists every provider's models with health, LMX first, and resolves ids", async () => {
    const listed = await models();
    expect(listed.providers.map((provider) => [provider.name, provider.healthy])).toEqual([
      ["lmx", true],
      ["anthropic", true],
      ["openai", true],
    ]);
    expect(listed.providers[0]?.latencyMs).toBeGreaterThanOrEqual(0);
    expect(listed.models.map((model) => model.ref)).toEqual([
      "lmx/m1",
      "anthropic/claude-scripted",
      "anthropic/m1",
      "openai/gpt-scripted",
    ]);
    anthropic.setReplies([{ chunks: ["claude here"] }]);
    cloudOpenAi.setReplies([{ chunks: ["gpt here"] }]);
    const claude = await rig.run(await rig.session(), { text: "hi", model: "claude-scripted" });
    expect(claude.find((event) => event.event === "turn.token")).toMatchObject({
      delta: "claude here",
      model: "claude-scripted",
    });
    const gpt = await rig.run(await rig.session(), { text: "hi", model: "gpt-scripted" });
    expect(gpt.find((event) => event.event === "turn.token")?.delta).toBe("gpt here");
    lmx.setReplies([{ chunks: ["local"] }]);
    const shared = await rig.run(await rig.session(), { text: "hi", model: "m1" });
    expect(shared.find((event) => event.event === "turn.token")?.delta).toBe("local");
  });

  it("applies default-model and new providers without a restart", async () => {
    const extra = await startScriptedServer({ models: ["ollama-model"], replies: [{ chunks: ["from ollama"] }] });
    try {
      await reload({
        ...baseConfig,
        "default-model": "ollama/ollama-model",
        providers: { ...baseConfig.providers, ollama: { type: "openai-compatible", baseUrl: extra.url } },
      });
      const listed = await models();
      expect(listed.defaultModel).toBe("ollama/ollama-model");
      expect(listed.providers.map((provider) => [provider.name, provider.healthy])).toContainEqual(["ollama", true]);
      expect(listed.models.map((model) => model.ref)).toContain("ollama/ollama-model");
      const events = await rig.run(await rig.session(), { text: "hi" });
      expect(events.find((event) => event.event === "turn.token")).toMatchObject({
        delta: "from ollama",
        model: "ollama-model",
      });
    } finally {
      await extra.close();
    }
  });
});

interface ModelsBody {
  models: Array<{ id: string; provider: string; ref: string }>;
  providers: Array<{ name: string; healthy: boolean; baseUrl?: string; latencyMs?: number; checkedAt?: string }>;
  defaultModel?: string;
}
