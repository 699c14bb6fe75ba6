import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProviderRegistry } from "../../src/provider/registry.js";
import { ProviderError } from "../../src/provider/types.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

const TIMEOUTS = { connectTimeoutMs: 1000, idleTimeoutMs: 1000 };

describe("model resolution", () => {
  let lmx: ScriptedServer;
  beforeAll(async () => {
    lmx = await startScriptedServer({ models: ["first", "second"] });
  });
  afterAll(async () => {
    await lmx?.close();
  });

  it("asks LMX again when a recent failure marked it down and nothing else can answer", async () => {
    const registry = new ProviderRegistry(TIMEOUTS, { OPTA_LMX_HOST: lmx.host });
    registry.configure({});
    const provider = registry.list()[0]!;
    registry.markFailed(
      provider,
      new ProviderError("PROVIDER_ERROR", "answered 500", {
        endpoint: lmx.url,
        retryable: true,
        beforeFirstToken: true,
      }),
    );
    expect((await registry.resolve(undefined)).ref).toBe("lmx/first");
  });

  it("treats a slash as a provider prefix only when it names a provider", async () => {
    const registry = new ProviderRegistry(TIMEOUTS, { OPTA_LMX_HOST: lmx.host });
    registry.configure({ providers: { local: { type: "openai-compatible", baseUrl: lmx.url, models: ["m"] } } });
    expect((await registry.resolve("local/m")).ref).toBe("local/m");
    expect((await registry.resolve("qwen/qwen3-8b")).ref).toBe("lmx/qwen/qwen3-8b");
    expect((await registry.resolve("second")).ref).toBe("lmx/second");
    expect(registry.fallbackOrder()).toEqual(["lmx", "local"]);
  });

  it("names the missing key instead of calling a cloud provider without one", async () => {
    const registry = new ProviderRegistry(TIMEOUTS, { OPTA_LMX_HOST: lmx.host });
    registry.configure({ providers: { anthropic: { type: "anthropic", baseUrl: lmx.url } } });
    const health = await registry.check(registry.get("anthropic")!);
    expect(health).toMatchObject({ healthy: false });
    expect(health.error).toContain("opta account add anthropic");
  });
});

describe("routing a bare model id that two providers list", () => {
  let lmx: ScriptedServer;
  let other: ScriptedServer;
  beforeAll(async () => {
    lmx = await startScriptedServer({ models: ["test"] });
    other = await startScriptedServer({ models: ["test"] });
  });
  afterAll(async () => {
    await lmx?.close();
    await other?.close();
  });

  it("puts a healthy LMX first even before its model list is cached", async () => {
    const registry = new ProviderRegistry(TIMEOUTS, { OPTA_LMX_HOST: lmx.host });
    registry.configure({ providers: { other: { type: "openai-compatible", baseUrl: other.url, models: ["test"] } } });
    expect(registry.cachedModels(registry.get("lmx")!)).toEqual([]);
    expect((await registry.resolve("test")).ref).toBe("lmx/test");
  });

  it("goes to the other provider when LMX is down", async () => {
    const down = await startScriptedServer({ models: ["test"] });
    const host = down.host;
    await down.close();
    const registry = new ProviderRegistry(TIMEOUTS, { OPTA_LMX_HOST: host });
    registry.configure({ providers: { other: { type: "openai-compatible", baseUrl: other.url, models: ["test"] } } });
    expect((await registry.resolve("test")).ref).toBe("other/test");
  });
});
