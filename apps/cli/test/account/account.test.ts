import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { type CliResult, runCli } from "../fixtures/run-cli.js";

const KEY = "sk-ant-api03-account-test-AbCdEf3f2a";
const NEXT = "sk-ant-api03-account-test-rotated-9c1d";
let home: string;

/** The built `opta` command, run against a temporary home with the file vault. */
function opta(args: string[], input = ""): Promise<CliResult> {
  return runCli(args, { home, input, env: { OPTA_VAULT: "file" } });
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "opta-account-"));
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe("opta account", () => {
  it("adds a piped key, lists it masked, rotates and removes it", async () => {
    const added = await opta(["account", "add", "anthropic"], `${KEY}\n`);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain("sk-ant-••••3f2a");
    expect(added.stderr).toContain("add-provider anthropic --type anthropic");
    const vaultPath = join(home, "vault.json");
    expect((await stat(vaultPath)).mode & 0o777).toBe(0o600);

    const listed = await opta(["account", "list"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/anthropic\s+sk-ant-••••3f2a/);
    const json = JSON.parse((await opta(["account", "list", "--json"])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ backend: "file", accounts: [{ provider: "anthropic", key: "sk-ant-••••3f2a" }] });

    const rotated = await opta(["account", "rotate", "anthropic"], NEXT);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain("sk-ant-••••3f2a → sk-ant-••••9c1d");
    expect(JSON.parse(await readFile(vaultPath, "utf8")).keys.anthropic).toBe(NEXT);

    const removed = await opta(["account", "remove", "anthropic"]);
    expect(removed.code).toBe(0);
    expect((await opta(["account", "list"])).stdout).toContain("No keys stored");

    for (const result of [added, listed, rotated, removed]) {
      expect(result.stdout + result.stderr).not.toContain(KEY);
      expect(result.stdout + result.stderr).not.toContain(NEXT);
    }
  });

  it("says what to do when there is nothing to rotate or remove, or no key was given", async () => {
    const rotate = await opta(["account", "rotate", "openai"], "sk-proj-whatever-123456789");
    expect(rotate).toMatchObject({ code: 1 });
    expect(rotate.stderr).toContain("opta account add openai");
    expect((await opta(["account", "remove", "openai"])).code).toBe(1);
    const empty = await opta(["account", "add", "openai"], "\n");
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("no key given");
    expect((await opta(["account", "add", "../etc"], "x")).code).toBe(2);
  });
});

describe("opta config add-provider", () => {
  it("writes the provider to config.yaml, never a key", async () => {
    const added = await opta([
      "config",
      "add-provider",
      "ollama",
      "--type",
      "openai-compatible",
      "--base-url",
      "127.0.0.1:11434",
      "--models",
      "qwen3:8b, llama3.2",
    ]);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain("ollama/qwen3:8b");
    const cloud = await opta(["config", "add-provider", "anthropic", "--type", "anthropic"]);
    expect(cloud.code).toBe(0);
    expect(cloud.stderr).toContain("opta account add anthropic");
    const config = YAML.parse(await readFile(join(home, "config.yaml"), "utf8")) as Record<string, unknown>;
    expect(config.providers).toEqual({
      ollama: { type: "openai-compatible", baseUrl: "http://127.0.0.1:11434/v1", models: ["qwen3:8b", "llama3.2"] },
      anthropic: { type: "anthropic" },
    });
    expect((await opta(["config", "add-provider", "x", "--type", "openai-compatible"])).code).toBe(2);
    expect((await opta(["config", "add-provider", "x", "--type", "gemini"])).code).toBe(2);
    const defaultModel = await opta(["config", "set", "default-model", "ollama/qwen3:8b"]);
    expect(defaultModel).toMatchObject({ code: 0, stdout: "default-model = ollama/qwen3:8b\n" });
  });
});
