import { createServer } from "node:net";
import { Bonjour } from "bonjour-service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browseLmx, chooseLmx, type DiscoveredLmx, LMX_SERVICE_TYPE } from "../../src/provider/discovery.js";
import { ProviderRegistry } from "../../src/provider/registry.js";
import { type KeyGate, startKeyGate } from "../fixtures/key-gate.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

const TIMEOUTS = { connectTimeoutMs: 1000, idleTimeoutMs: 1000 };

function found(name: string, address: string, extra: Partial<DiscoveredLmx> = {}): DiscoveredLmx {
  const host = address.includes(":") ? `[${address}]` : address;
  return { name, address, port: 1234, baseUrl: `http://${host}:1234/v1`, auth: false, ...extra };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("choosing among discovered LMX servers", () => {
  it("prefers this machine, then a private network, then anything routable; never link-local", () => {
    const all = [
      found("public", "203.0.113.7"),
      found("lan", "192.168.1.20"),
      found("v6", "2001:db8::1"),
      found("link-local", "fe80::1"),
      found("here", "127.0.0.1"),
    ];
    expect(chooseLmx(all, { haveKey: false })?.name).toBe("here");
    expect(chooseLmx(all.slice(0, 4), { haveKey: false })?.name).toBe("lan");
    expect(chooseLmx([found("v6", "2001:db8::1"), found("public", "203.0.113.7")], { haveKey: false })?.name).toBe(
      "public",
    );
    expect(chooseLmx([found("link-local", "fe80::1"), found("auto", "169.254.3.4")], { haveKey: false })).toBe(
      undefined,
    );
  });

  it("passes over servers that want a key we do not have, and is stable by name", () => {
    const locked = found("a-locked", "10.0.0.2", { auth: true });
    const open = found("b-open", "10.0.0.3");
    expect(chooseLmx([locked, open], { haveKey: false })?.name).toBe("b-open");
    expect(chooseLmx([open, locked], { haveKey: true })?.name).toBe("a-locked");
    expect(chooseLmx([found("zeta", "10.0.0.9"), found("alpha", "10.0.0.8")], { haveKey: false })?.name).toBe("alpha");
  });
});

describe("LMX discovery in the registry", () => {
  let lmx: ScriptedServer;
  let dead: string;

  beforeAll(async () => {
    lmx = await startScriptedServer({ models: ["found-model"] });
    dead = `127.0.0.1:${await closedPort()}`;
  });
  afterAll(async () => {
    await lmx?.close();
  });

  function registry(env: NodeJS.ProcessEnv, browse: () => Promise<DiscoveredLmx[]>) {
    const calls: number[] = [];
    const providers = new ProviderRegistry(TIMEOUTS, env, {
      defaultLmxHost: dead,
      discoveryTimeoutMs: 10,
      browse: async () => {
        calls.push(Date.now());
        return browse();
      },
    });
    return { providers, calls };
  }

  it("browses when nothing answers at the default address, and uses what answers", async () => {
    const { providers, calls } = registry({}, async () => [
      found("far", "203.0.113.7"),
      { ...found("near", "127.0.0.1"), baseUrl: lmx.url, port: Number(lmx.host.split(":")[1]) },
    ]);
    providers.configure({});
    const health = await providers.check(providers.list()[0]!);
    expect(calls).toHaveLength(1);
    expect(health).toMatchObject({ name: "lmx", healthy: true, baseUrl: lmx.url, models: ["found-model"] });
    expect(providers.lmxOrigin()).toBe("mdns");
    const route = await providers.resolve(undefined);
    expect(route.ref).toBe("lmx/found-model");
  });

  it("browses at most once per interval", async () => {
    const { providers, calls } = registry({}, async () => []);
    providers.configure({});
    await providers.check(providers.list()[0]!, true);
    await providers.check(providers.list()[0]!, true);
    expect(calls).toHaveLength(1);
    expect(providers.lmxOrigin()).toBe("default");
  });

  it("never browses when opted out or when a host is configured", async () => {
    const optedOut = registry({}, async () => [found("x", "127.0.0.1")]);
    optedOut.providers.configure({ lmx: { discovery: false } });
    expect((await optedOut.providers.check(optedOut.providers.list()[0]!)).healthy).toBe(false);
    const configured = registry({}, async () => [found("x", "127.0.0.1")]);
    configured.providers.configure({ lmx: { host: dead } });
    await configured.providers.check(configured.providers.list()[0]!);
    const fromEnv = registry({ OPTA_LMX_HOST: dead }, async () => [found("x", "127.0.0.1")]);
    fromEnv.providers.configure({});
    await fromEnv.providers.check(fromEnv.providers.list()[0]!);
    expect([optedOut.calls, configured.calls, fromEnv.calls].map((calls) => calls.length)).toEqual([0, 0, 0]);
  });

  it("finds an LMX advertised over real mDNS (multicast on loopback only)", async () => {
    // Sends and listens through 127.0.0.1 alone, so no packet leaves this machine.
    const advertiser = new Bonjour({ interface: "127.0.0.1", bind: "0.0.0.0" } as Record<string, unknown>, () => {});
    const port = Number(lmx.host.split(":")[1]);
    advertiser.publish({
      name: `opta-test-${process.pid}`,
      type: LMX_SERVICE_TYPE,
      protocol: "tcp",
      port,
      txt: { path: "/v1", auth: "none", version: "test" },
    });
    try {
      const answers = await browseLmx({ interface: "127.0.0.1", timeoutMs: 1200 });
      expect(answers.find((answer) => answer.name === `opta-test-${process.pid}`)).toMatchObject({
        baseUrl: `http://127.0.0.1:${port}/v1`,
        address: "127.0.0.1",
        auth: false,
        version: "test",
      });
    } finally {
      await new Promise<void>((resolve) => advertiser.unpublishAll(() => advertiser.destroy(() => resolve())));
    }
  });
});

describe("the lmx key and discovered hosts", () => {
  const KEY = "lmx-discovery-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0";
  let lmx: ScriptedServer;
  let gate: KeyGate;
  let dead: string;

  beforeAll(async () => {
    lmx = await startScriptedServer({ models: ["keyed-model"] });
    gate = await startKeyGate({ target: lmx.host, apiKey: () => KEY });
    dead = `127.0.0.1:${await closedPort()}`;
  });
  afterAll(async () => {
    await Promise.all([gate?.close(), lmx?.close()]);
  });

  /**
   * A registry whose mDNS browse "finds" the keyed gate as if it answered from `address`. Every
   * request still goes to 127.0.0.1 (the base URL): only the address the answer came from differs.
   */
  function discovering(address: string, options: { env?: NodeJS.ProcessEnv; vaultKey?: string } = {}) {
    const messages: string[] = [];
    const port = Number(gate.url.split(":")[2]!.split("/")[0]);
    const registry = new ProviderRegistry(TIMEOUTS, options.env ?? {}, {
      defaultLmxHost: dead,
      discoveryTimeoutMs: 10,
      keys: async (name) => (name === "lmx" ? options.vaultKey : undefined),
      browse: async () => [{ name: "office-lmx", address, port, baseUrl: gate.url, auth: true }],
      onDiscovery: (message) => messages.push(message),
    });
    return { registry, messages };
  }

  it("never sends the vault key to a discovered LMX on another machine", async () => {
    gate.keys.length = 0;
    const { registry, messages } = discovering("192.168.1.50", { vaultKey: KEY });
    registry.configure({});
    const health = await registry.check(registry.list()[0]!);
    expect(registry.lmxOrigin()).toBe("mdns");
    expect(registry.list()[0]!.baseUrl).toBe(gate.url);
    expect(health).toMatchObject({ healthy: false });
    expect(health.error).toContain("401");
    expect(gate.keys).toEqual([undefined]);
    expect(await registry.keyFor(registry.list()[0]!)).toBeUndefined();
    expect(messages.join("\n")).toContain("lmx.trust-discovered");
    expect(messages.join("\n")).toContain("opta config set lmx.host 192.168.1.50:");
  });

  it("nor the OPTA_LMX_API_KEY one", async () => {
    gate.keys.length = 0;
    const { registry } = discovering("10.1.2.3", { env: { OPTA_LMX_API_KEY: KEY } });
    registry.configure({});
    expect((await registry.check(registry.list()[0]!)).healthy).toBe(false);
    expect(gate.keys).toEqual([undefined]);
  });

  it("sends it with lmx.trust-discovered: true, and to an LMX on this machine", async () => {
    gate.keys.length = 0;
    const trusted = discovering("192.168.1.50", { vaultKey: KEY });
    trusted.registry.configure({ lmx: { "trust-discovered": true } });
    const health = await trusted.registry.check(trusted.registry.list()[0]!);
    expect(health).toMatchObject({ healthy: true, models: ["keyed-model"] });
    expect(trusted.messages.join("\n")).not.toContain("trust-discovered");

    const local = discovering("127.0.0.1", { vaultKey: KEY });
    local.registry.configure({});
    expect((await local.registry.check(local.registry.list()[0]!)).healthy).toBe(true);
    const mapped = discovering("::ffff:127.0.0.1", { env: { OPTA_LMX_API_KEY: KEY } });
    mapped.registry.configure({});
    expect((await mapped.registry.check(mapped.registry.list()[0]!)).healthy).toBe(true);
    expect(gate.keys).toEqual([KEY, KEY, KEY]);
  });

  it("withdraws the key when the opt-in is removed (config reload)", async () => {
    const { registry } = discovering("192.168.1.50", { vaultKey: KEY });
    registry.configure({ lmx: { "trust-discovered": true } });
    expect((await registry.check(registry.list()[0]!)).healthy).toBe(true);
    registry.configure({});
    // Still pointed at the discovered host, but now without the key.
    expect(registry.lmxOrigin()).toBe("mdns");
    expect(await registry.keyFor(registry.list()[0]!)).toBeUndefined();
    // Only a real `true` opts in (a hand-edited "yes" is not a boolean).
    registry.configure({ lmx: { "trust-discovered": "yes" } } as unknown as Parameters<typeof registry.configure>[0]);
    expect(await registry.keyFor(registry.list()[0]!)).toBeUndefined();
  });

  it("a configured host (the user pinned it) gets the key wherever it is", async () => {
    gate.keys.length = 0;
    const { registry } = discovering("192.168.1.50", { vaultKey: KEY });
    registry.configure({ lmx: { host: gate.url } });
    expect(await registry.check(registry.list()[0]!)).toMatchObject({ healthy: true });
    expect(registry.lmxOrigin()).toBe("config");
    expect(gate.keys).toEqual([KEY]);
  });

  it("prefers an open LMX over a keyed one it may not send the key to", async () => {
    const open = { ...found("b-open", "192.168.1.61"), baseUrl: lmx.url };
    const locked = { ...found("a-locked", "192.168.1.60", { auth: true }), baseUrl: gate.url };
    const pick = async (config: Parameters<ProviderRegistry["configure"]>[0]) => {
      const registry = new ProviderRegistry(
        TIMEOUTS,
        {},
        {
          defaultLmxHost: dead,
          discoveryTimeoutMs: 10,
          keys: async () => KEY,
          browse: async () => [locked, open],
        },
      );
      registry.configure(config);
      await registry.check(registry.list()[0]!);
      return registry.list()[0]!.baseUrl;
    };
    // Without trust the key cannot be used there, so the open one wins despite its name…
    expect(await pick({})).toBe(lmx.url);
    // …with trust, both are usable and the choice falls back to the name.
    expect(await pick({ lmx: { "trust-discovered": true } })).toBe(gate.url);
  });
});
