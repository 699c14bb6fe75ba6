import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FileVault, maskSecret, openVault } from "@opta/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redactSecrets } from "../../src/vault/mask.js";
import { tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type KeyGate, startKeyGate } from "../fixtures/key-gate.js";
import { type ScriptedAnthropicServer, startScriptedAnthropicServer } from "../fixtures/scripted-anthropic-server.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";
import { type Event, type ProviderRig, startRig } from "../provider/setup.js";

describe("the file vault", () => {
  let home: { home: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    home = await tempHome("opta-vault-");
  });
  afterAll(async () => {
    await home.cleanup();
  });

  it("adds, lists, rotates and removes keys in a 0600 file", async () => {
    const vault = await openVault({ home: home.home, env: { OPTA_VAULT: "file" } });
    expect(vault).toBeInstanceOf(FileVault);
    expect(vault.note).toContain("OPTA_VAULT=file");
    expect(await vault.list()).toEqual([]);
    await vault.set("anthropic", "sk-ant-api03-first-key-aaaa3f2a");
    await vault.set("openai", "sk-proj-second-key-bbbb9c1d");
    expect(await vault.list()).toEqual(["anthropic", "openai"]);
    expect((await stat(vault.location)).mode & 0o777).toBe(0o600);
    await vault.set("anthropic", "sk-ant-api03-rotated-key-cccc7e4b");
    expect(await vault.get("anthropic")).toBe("sk-ant-api03-rotated-key-cccc7e4b");
    expect((await stat(vault.location)).mode & 0o777).toBe(0o600);
    expect(await vault.delete("openai")).toBe(true);
    expect(await vault.delete("openai")).toBe(false);
    expect(await vault.list()).toEqual(["anthropic"]);
    expect(await vault.get("openai")).toBeUndefined();
  });

  it("reports a corrupt file without echoing it", async () => {
    const path = join(home.home, "broken.json");
    await writeFile(path, '{"keys": {"x": "sk-ant-secret-value-123456"', { mode: 0o600 });
    const error = await new FileVault(path).get("x").catch((caught: Error) => caught);
    expect(String(error)).toContain("not valid JSON");
    expect(String(error)).not.toContain("sk-ant-secret");
  });

  it("opens the keychain when one answers, else the file vault with the reason", async () => {
    // A home without vault.json: the one above already holds keys, and an existing file is kept.
    const vault = await openVault({ home: join(home.home, "fresh"), env: {} });
    if (vault.backend === "file") expect(vault.note).toMatch(/keychain/);
    else expect(vault.location).toContain("service opta");
  });
});

describe("masking", () => {
  it("shows a recognisable prefix and the last four characters", () => {
    expect(maskSecret("sk-ant-api03-AbCdEfGhIjKlMnOp3f2a")).toBe("sk-ant-••••3f2a");
    expect(maskSecret("sk-proj-AbCdEfGhIjKlMnOp9c1d")).toBe("sk-proj-••••9c1d");
    expect(maskSecret("sk-AbCdEfGhIjKlMnOpQrSt77aa")).toBe("sk-••••77aa");
    expect(maskSecret("short")).toBe("••••");
    expect(maskSecret("abcdefghijklmnopqrstuvwxyz")).toBe("••••wxyz");
  });

  it("redacts known secrets and anything shaped like a key", () => {
    const text = "key gsk_live_0123456789abcdef failed; also sk-ant-api03-zzzzzzzzzzzz1234 and Bearer abcdefghijkl";
    const redacted = redactSecrets(text, ["gsk_live_0123456789abcdef"]);
    expect(redacted).not.toContain("gsk_live_0123456789abcdef");
    expect(redacted).not.toContain("zzzzzzzzzzzz");
    expect(redacted).not.toContain("abcdefghijkl");
    expect(redacted).toContain("••••cdef");
  });
});

describe("keys in a session", () => {
  const FIRST = "sk-ant-api03-first-leaktest-key-0001";
  const SECOND = "sk-ant-api03-rotated-leaktest-key-0002";
  const WRONG_OPENAI = "sk-proj-wrong-leaktest-key-0003";
  // Keys of other shapes, which no generic pattern recognises: only exact-key redaction hides them.
  /** A long hex key for an OpenAI-compatible provider (stored with `opta account add together`). */
  const HEX_KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  /** A base64 key for a keyed LMX, given to the daemon as OPTA_LMX_API_KEY. */
  const BASE64_LMX_KEY = "q7Zr+u3/Lk9XbT2wYc8Vn0Pf4Hs6Jd1Ea5Gm==";
  let expected = FIRST;
  let anthropic: ScriptedAnthropicServer;
  let upstream: ScriptedServer;
  let gate: KeyGate;
  let hexGate: KeyGate;
  let lmxGate: KeyGate;
  let rig: ProviderRig;

  beforeAll(async () => {
    anthropic = await startScriptedAnthropicServer({ models: ["claude-scripted"], apiKey: () => expected });
    upstream = await startScriptedServer({ models: ["gpt-scripted"] });
    gate = await startKeyGate({ target: upstream.host, apiKey: () => "sk-proj-the-right-key-nobody-has" });
    // Both echo the rejected key in their 401, as OpenAI does.
    hexGate = await startKeyGate({ target: upstream.host, apiKey: () => "a-different-key-this-provider-wants" });
    lmxGate = await startKeyGate({ target: upstream.host, apiKey: () => "the-lmx-wants-another-key" });
    rig = await startRig({
      env: { OPTA_LMX_HOST: lmxGate.url, OPTA_LMX_API_KEY: BASE64_LMX_KEY, OPTA_PROVIDER_TIMEOUT_MS: "2000" },
      config: {
        providers: {
          anthropic: { type: "anthropic", baseUrl: anthropic.url },
          openai: { type: "openai", baseUrl: gate.url },
          together: { type: "openai-compatible", baseUrl: hexGate.url, models: ["hex-model"] },
        },
      },
    });
    await rig.vault.set("anthropic", FIRST);
    await rig.vault.set("openai", WRONG_OPENAI);
    await rig.vault.set("together", HEX_KEY);
  });
  afterAll(async () => {
    await rig?.close();
    await Promise.all([anthropic?.close(), gate?.close(), hexGate?.close(), lmxGate?.close(), upstream?.close()]);
  });

  it("rotates a key without interrupting a running turn; the next request uses the new key", async () => {
    anthropic.setReplies([
      {
        chunks: ["Reading", " the", " note", " now."],
        delayMs: 60,
        toolCalls: [{ name: "read_file", arguments: { path: "note.txt" } }],
      },
      { chunks: ["Done."] },
    ]);
    const id = await rig.session();
    await rig.call(`/v3/sessions/${id}/turns`, {
      method: "POST",
      json: { text: "read it", model: "anthropic/claude-scripted" },
    });
    await waitFor(async () => (await rig.events(id)).some((event) => event.event === "turn.token"));
    // What `opta account rotate anthropic` does: the vault changes, and the provider accepts only the new key.
    await rig.vault.set("anthropic", SECOND);
    expected = SECOND;
    const events = await waitFor(async () => {
      const all = await rig.events(id);
      return all.some((event) => event.event === "turn.done" || event.event === "turn.error") ? all : undefined;
    });
    expect(events.at(-1)).toMatchObject({ event: "turn.done", steps: 2 });
    expect(anthropic.requests.slice(-2).map((request) => request.apiKey)).toEqual([FIRST, SECOND]);
  });

  it("keeps keys out of config, logs, session files, errors and API responses", async () => {
    // Keys rejected by the provider, whose error messages echo them.
    const rejected = await rig.run(await rig.session(), { text: "hi", model: "openai/gpt-scripted" });
    expect(rejected.at(-1)).toMatchObject({ event: "turn.error", code: "PROVIDER_ERROR" });
    expect(String(rejected.at(-1)?.message)).toContain("Incorrect API key provided: sk-proj-••••0003");
    expected = "sk-ant-something-else-entirely";
    const stale = await rig.run(await rig.session(), { text: "hi", model: "anthropic/claude-scripted" });
    expect(String(stale.at(-1)?.message)).toContain("invalid x-api-key");
    expected = SECOND;
    // Keys no pattern would catch: a hex key from the vault and a base64 LMX key from the environment.
    for (const key of [HEX_KEY, BASE64_LMX_KEY]) expect(redactSecrets(`provided: ${key}.`)).toContain(key);
    const hex = await rig.run(await rig.session(), { text: "hi", model: "together/hex-model" });
    expect(hexGate.keys).toContain(HEX_KEY);
    expect(hex.at(-1)).toMatchObject({ event: "turn.error" });
    expect(String(hex.at(-1)?.message)).toContain(`Incorrect API key provided: ${maskSecret(HEX_KEY)}`);
    // LMX's preflight is rejected, so the turn falls back to Anthropic; the reason carries the echo.
    const keyedLmx = await rig.run(await rig.session(), { text: "hi", model: "lmx/m1" });
    expect(lmxGate.keys).toContain(BASE64_LMX_KEY);
    const fallback = keyedLmx.find((event) => event.event === "provider.fallback");
    expect(fallback).toMatchObject({ from: "lmx/m1" });
    expect(String(fallback?.reason)).toContain(`Incorrect API key provided: ${maskSecret(BASE64_LMX_KEY)}`);
    // /v3/models lists every provider, so its health errors carry both echoes too. Health is cached
    // for 10 s and the start-up check ran before the keys above were stored: check afresh.
    await rig.daemon.providers.checkAll(true);
    const models = await (await rig.call("/v3/models")).text();
    expect(models).toContain(maskSecret(HEX_KEY));

    const secrets = [FIRST, SECOND, WRONG_OPENAI, HEX_KEY, BASE64_LMX_KEY];
    const leaks: string[] = [];
    const scan = (where: string, text: string) => {
      for (const secret of secrets) if (text.includes(secret)) leaks.push(`${where} contains ${secret}`);
    };
    // Every file in the home except the vault itself.
    const files = (await readdir(rig.home, { recursive: true, withFileTypes: true })).filter(
      (entry) => entry.isFile() && entry.name !== "vault.json",
    );
    expect(files.map((entry) => entry.name)).toEqual(expect.arrayContaining(["config.yaml", "daemon.log"]));
    expect(files.some((entry) => entry.name.endsWith(".jsonl"))).toBe(true);
    const seenMasked = new Map<string, string[]>();
    const noteMasks = (where: string, text: string) => {
      for (const key of [HEX_KEY, BASE64_LMX_KEY]) {
        if (text.includes(maskSecret(key))) seenMasked.set(key, [...(seenMasked.get(key) ?? []), where]);
      }
    };
    for (const entry of files) {
      const path = join(entry.parentPath, entry.name);
      const text = await readFile(path, "utf8");
      scan(path, text);
      noteMasks(entry.name.endsWith(".jsonl") ? "session file" : entry.name, text);
    }
    // Every API response that could carry provider detail.
    const sessions = (await (await rig.call("/v3/sessions")).json()) as { sessions: Array<{ id: string }> };
    const paths = ["/v3/models", "/v3/daemon", "/v3/daemon/logs?limit=2000&level=debug", "/v3/sessions"];
    for (const session of sessions.sessions) {
      paths.push(
        `/v3/sessions/${session.id}`,
        `/v3/sessions/${session.id}/events`,
        `/v3/sessions/${session.id}/export?format=json`,
        `/v3/sessions/${session.id}/export?format=md`,
      );
    }
    for (const path of paths) {
      const text = await (await rig.call(path)).text();
      scan(path, text);
      noteMasks(path, text);
    }
    // The events themselves, as every client sees them.
    const all: Event[] = [];
    for (const session of sessions.sessions) all.push(...(await rig.events(session.id)));
    scan("events", JSON.stringify(all));
    expect(leaks).toEqual([]);
    // …and the echoes did travel through each of them, masked: the scan above is not vacuous.
    const reached = (key: string) => [...new Set(seenMasked.get(key)?.map((where) => where.replace(/s-[^/]+/, "…")))];
    expect(reached(HEX_KEY)).toEqual(
      expect.arrayContaining(["daemon.log", "session file", "/v3/models", "/v3/sessions/…/events"]),
    );
    expect(reached(BASE64_LMX_KEY)).toEqual(
      expect.arrayContaining(["session file", "/v3/models", "/v3/sessions/…/events"]),
    );
  });
});
