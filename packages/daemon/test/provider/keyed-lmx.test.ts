import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type KeyGate, startKeyGate } from "../fixtures/key-gate.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";
import { type ProviderRig, startRig } from "./setup.js";

/** Not `sk-…` shaped: LMX keys are whatever `opta lmx start --api-key` was given. */
const LMX_KEY = "lmx-3b9f1c0d2e4a6b8c0d1e2f3a4b5c6d7e8f90a1b2";

/** A daemon turn against an LMX that wants a key (`opta lmx start --api-key …`). */
describe("a keyed LMX", () => {
  let lmx: ScriptedServer;
  let gate: KeyGate;
  let rig: ProviderRig | undefined;

  beforeAll(async () => {
    lmx = await startScriptedServer({ models: ["keyed-model"] });
    gate = await startKeyGate({ target: lmx.host, apiKey: () => LMX_KEY });
  });
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
    gate.keys.length = 0;
  });
  afterAll(async () => {
    await Promise.all([gate?.close(), lmx?.close()]);
  });

  async function turn(options: { env?: Record<string, string>; vaultKey?: string }) {
    rig = await startRig({ env: { OPTA_LMX_HOST: gate.url, ...options.env } });
    if (options.vaultKey) await rig.vault.set("lmx", options.vaultKey);
    // Only this turn's requests (the daemon may have checked LMX's health before the key was stored).
    gate.keys.length = 0;
    lmx.setReplies([{ chunks: ["keyed ", "answer"] }]);
    return rig.run(await rig.session(), { text: "hello" });
  }

  it("gets the key from OPTA_LMX_API_KEY (the variable 'opta lmx start' reads too)", async () => {
    const events = await turn({ env: { OPTA_LMX_API_KEY: LMX_KEY } });
    expect(events.at(-1)).toMatchObject({ event: "turn.done" });
    expect(events.filter((event) => event.event === "turn.token").map((event) => event.delta)).toEqual([
      "keyed ",
      "answer",
    ]);
    // The chat at least (the preflight GET /models may have been answered from the health cache).
    expect(gate.keys.length).toBeGreaterThanOrEqual(1);
    expect(gate.keys.every((key) => key === LMX_KEY)).toBe(true);
  });

  it("gets the key from the vault entry 'lmx' ('opta account add lmx'), which wins over the environment", async () => {
    const events = await turn({ vaultKey: LMX_KEY, env: { OPTA_LMX_API_KEY: "lmx-stale-key-from-the-environment" } });
    expect(events.at(-1)).toMatchObject({ event: "turn.done" });
    expect(gate.keys.length).toBeGreaterThanOrEqual(1);
    expect(gate.keys.every((key) => key === LMX_KEY)).toBe(true);
  });

  it("with a wrong key, ends the turn saying it was rejected, and never shows that key", async () => {
    const wrong = "lmx-9d8c7b6a5f4e3d2c1b0a99887766554433221100";
    const events = await turn({ vaultKey: wrong });
    const last = events.at(-1);
    expect(last).toMatchObject({ event: "turn.error" });
    expect(JSON.stringify(last)).toContain("401");
    expect(gate.keys).toContain(wrong);
    // The gate echoes the rejected key in its error, as OpenAI does; it is redacted everywhere.
    expect(JSON.stringify(events)).not.toContain(wrong);
  });
});
