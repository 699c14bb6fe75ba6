import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildByteLevelVocabulary } from "../src/gguf/tokenizer.js";
import { type LmxServer, TEST_MODEL_PRESETS } from "../src/index.js";
import { client, startTestLmx, TINY_EOS, tinyModelsDir } from "./helpers.js";

/**
 * Codex CLI end to end: `codex exec` (npm `@openai/codex`, the real Rust binary) against LMX's
 * `/v1/responses` with the generated tiny model, reaching a tool call that Codex runs and a final
 * answer. The random model never calls a tool on its own and Codex sends `tool_choice: "auto"`, so
 * LMX runs with its testing aids: `forceToolCall` (the first answer to a user message calls
 * `exec_command`) and a server-wide `logitBias` that makes the model close its JSON strings and
 * numbers soon (short arguments Codex can parse) and end its text answer.
 */

const require = createRequire(import.meta.url);
const CODEX = require.resolve("@openai/codex/bin/codex.js");

/**
 * Tiny-model token ids → bias: `"` closes strings, `,`/`}` end numbers, no `-`/`.`/`e` (integers,
 * which Codex parses into its integer fields), no leading `r`, and <|im_end|> to end the answer.
 */
function tinyAgentBias(): Record<number, number> {
  const vocabulary = buildByteLevelVocabulary(TEST_MODEL_PRESETS.tiny.vocabSize);
  const bias: Record<number, number> = {};
  vocabulary.tokens.forEach((token, id) => {
    // Finite, not -100: a banned token the number grammar still needs made llama.cpp's sampler throw.
    if (/[-.eE]/.test(token)) bias[id] = -8;
    else if (token.includes('"')) bias[id] = 3;
    else if (/^[,}]/.test(token)) bias[id] = 3;
    // exec_command's `sandbox_permissions` enum: `use_default`, not `require_escalated` (which the
    // approval policy refuses without running anything).
    else if (/^r/.test(token)) bias[id] = -8;
  });
  bias[TINY_EOS] = 2;
  return bias;
}

type CodexRun = { code: number | null; events: Record<string, unknown>[]; stderr: string };

function runCodex(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<CodexRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CODEX, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const events = stdout
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ code, events, stderr });
    });
  });
}

/** A CODEX_HOME with a config that keeps Codex headless, offline and its prompt short, plus a work dir. */
async function codexConfig(
  name: string,
  topLevel: string[],
  tables: string[] = [],
): Promise<{ codexHome: string; work: string }> {
  const codexHome = join(home, name, "codex-home");
  const work = join(home, name, "work");
  await mkdir(codexHome, { recursive: true });
  await mkdir(work, { recursive: true });
  // Codex's own system prompt is ~17 KB; a short one keeps the test fast (same request shape).
  const instructions = join(home, name, "instructions.md");
  await writeFile(instructions, "You are a coding agent. Use exec_command to run shell commands.\n");
  await writeFile(
    join(codexHome, "config.toml"),
    [
      `approval_policy = "never"`,
      `sandbox_mode = "read-only"`,
      `check_for_update_on_startup = false`,
      `model_instructions_file = ${JSON.stringify(instructions)}`,
      `web_search = "disabled"`,
      ...topLevel,
      ``,
      `[analytics]`,
      `enabled = false`,
      ``,
      `[agents]`,
      `enabled = false`,
      ``,
      `[features]`,
      `goals = false`,
      `shell_snapshot = false`,
      `apps = false`,
      `plugins = false`,
      `image_generation = false`,
      `tool_suggest = false`,
      ``,
      ...tables,
      ``,
    ].join("\n"),
  );
  return { codexHome, work };
}

let server: LmxServer;
let cleanup: () => Promise<void>;
let home: string;
const log: Record<string, unknown>[] = [];

beforeAll(async () => {
  const models = await tinyModelsDir();
  cleanup = models.cleanup;
  server = await startTestLmx({
    modelsDir: models.dir,
    parallel: 1,
    // Codex's prompt with one tool is ~3.3k tokens; the tiny model was trained on 4096.
    contextSize: 8192,
    forceToolCall: "exec_command",
    logitBias: tinyAgentBias(),
    log: (line) => log.push(line as Record<string, unknown>),
  });
  home = await mkdtemp(join(tmpdir(), "opta-codex-test-"));
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("Codex CLI against LMX", () => {
  it("codex exec completes a turn: a forced exec_command call that Codex runs, then a final answer", async () => {
    const { codexHome, work } = await codexConfig(
      "responses",
      [`model = "tiny"`, `model_provider = "lmx"`],
      [`[model_providers.lmx]`, `name = "Opta LMX"`, `base_url = "${server.url}/v1"`, `wire_api = "responses"`],
    );
    log.length = 0;
    const run = await runCodex(
      ["exec", "--strict-config", "--json", "--skip-git-repo-check", "--ephemeral", "list the files here"],
      { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, CODEX_HOME: codexHome },
      work,
    );
    const items = run.events
      .filter((event) => event.type === "item.completed")
      .map((event) => event.item as { type: string; text?: string; command?: string; status?: string });
    expect(run.code, `${run.stderr.slice(-1500)}\n${JSON.stringify(run.events.slice(-4))}`).toBe(0);
    // Codex ran the call: a command_execution item (the random command itself fails, as it should).
    expect(items.some((item) => item.type === "command_execution" && typeof item.command === "string")).toBe(true);
    // …and came back for the final answer, in text.
    const answer = items.filter((item) => item.type === "agent_message").at(-1);
    expect(answer?.text?.length).toBeGreaterThan(0);
    expect(run.events.at(-1)?.type).toBe("turn.completed");
    // On LMX's side: the forced call, then a text answer after the tool's output.
    const done = log.filter((line) => line.event === "chat.done").map((line) => line.finish);
    expect(done[0]).toBe("tool_calls");
    expect(done.at(-1)).toBe("stop");
    expect(log.filter((line) => line.event === "tools.forced_for_testing")).toHaveLength(1);
  }, 120_000);

  it("codex exec --oss finds LMX as an Ollama server (version, tags) and completes a turn over /v1/responses", async () => {
    const { codexHome, work } = await codexConfig("oss", []);
    log.length = 0;
    const run = await runCodex(
      [
        "exec",
        "--oss",
        "--local-provider",
        "ollama",
        "-m",
        "tiny:latest",
        "--strict-config",
        "--json",
        "--skip-git-repo-check",
        "--ephemeral",
        "list the files here",
      ],
      {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: home,
        CODEX_HOME: codexHome,
        CODEX_OSS_BASE_URL: `${server.url}/v1`,
      },
      work,
    );
    expect(run.code, `${run.stderr.slice(-1500)}\n${JSON.stringify(run.events.slice(-4))}`).toBe(0);
    expect(run.events.at(-1)?.type).toBe("turn.completed");
    const paths = log
      .filter((line) => line.event === "request")
      .map((line) => `${line.method} ${line.path} ${line.status}`);
    // Codex checks the Ollama version, finds `tiny:latest` in the tags (no pull), then talks Responses.
    expect(paths).toContain("GET /api/version 200");
    expect(paths).toContain("GET /api/tags 200");
    expect(paths).toContain("POST /v1/responses 200");
    expect(paths.some((entry) => entry.startsWith("POST /api/pull"))).toBe(false);
  }, 120_000);
});

describe("forceToolCall and logit_bias on end-of-generation tokens", () => {
  const tool = {
    type: "function" as const,
    function: { name: "lookup", parameters: { type: "object", properties: { q: { type: "string", maxLength: 4 } } } },
  };
  it("forces a call after a user message, not after a tool result", async () => {
    const openai = client(server);
    const first = await openai.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "Hi" }],
      tools: [tool],
      max_tokens: 48,
    });
    expect(first.choices[0]!.message.tool_calls?.[0]).toMatchObject({ function: { name: "lookup" } });
    const call = first.choices[0]!.message.tool_calls![0]!;
    const second = await openai.chat.completions.create({
      model: "tiny",
      messages: [
        { role: "user", content: "Hi" },
        { role: "assistant", content: null, tool_calls: [call] },
        { role: "tool", tool_call_id: call.id, content: "ok" },
      ],
      tools: [tool],
      max_tokens: 48,
    });
    expect(second.choices[0]!.message.tool_calls).toBeUndefined();
  });

  it("refuses a server-wide logitBias outside ±100 before starting", async () => {
    await expect(startTestLmx({ modelsDir: home, logitBias: { 5: 500 } })).rejects.toThrow(/within ±100, got 5: 500/);
  });

  it("applies logit_bias to <|im_end|> (node-llama-cpp's TokenBias skips end tokens)", async () => {
    const openai = client(server);
    const ended = await openai.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "Hi" }],
      max_tokens: 64,
      logit_bias: { [String(TINY_EOS)]: 100 },
    });
    expect(ended.choices[0]!.finish_reason).toBe("stop");
    expect(ended.usage!.completion_tokens).toBe(1);
  });
});
