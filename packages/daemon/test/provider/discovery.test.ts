import { createServer } from "node:net";
import { Bonjour } from "bonjour-service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browseLmx, chooseLmx, type DiscoveredLmx, LMX_SERVICE_TYPE } from "../../src/provider/discovery.js";
import { ProviderRegistry } from "../../src/provider/registry.js";
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
