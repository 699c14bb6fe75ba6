import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import { buildByteLevelVocabulary } from "../src/gguf/tokenizer.js";
import { type LmxServer, TEST_MODEL_PRESETS } from "../src/index.js";
import { post, startTestLmx, tinyModelsDir } from "./helpers.js";

let server: LmxServer;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const models = await tinyModelsDir();
  cleanup = models.cleanup;
  server = await startTestLmx({ modelsDir: models.dir, parallel: 1 });
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

const vocabulary = buildByteLevelVocabulary(TEST_MODEL_PRESETS.tiny.vocabSize);
/** `logit_bias: -100` on every tiny-model token matching `pattern`. */
function ban(pattern: RegExp): Record<string, number> {
  const bias: Record<string, number> = {};
  vocabulary.tokens.forEach((token, id) => {
    if (pattern.test(token)) bias[String(id)] = -100;
  });
  return bias;
}

describe("logit_bias bans that a grammar needs", () => {
  // A -Infinity bias on every token a grammar still allows made llama.cpp's sampler pick a token
  // the grammar rejects; node-llama-cpp threw that from a promise nobody awaited, and the whole
  // LMX process died (this test process with it).
  it("cannot take the server down", async ({ task }) => {
    const numberTool = {
      type: "function",
      function: {
        name: "run",
        parameters: { type: "object", properties: { cmd: { type: "string" }, n: { type: "number" } } },
      },
    };
    const attacks: { attack: string; body: Record<string, unknown> }[] = [
      {
        attack: "forced tool call with number arguments, '-', '.', 'e' tokens banned",
        body: { tools: [numberTool], tool_choice: "required", logit_bias: ban(/[-.eE]/) },
      },
      {
        attack: "json_schema integer with every digit token banned",
        body: {
          response_format: { type: "json_schema", json_schema: { name: "n", schema: { type: "integer" } } },
          logit_bias: ban(/[0-9]/),
        },
      },
      {
        attack: "json_schema enum with every token of its values banned",
        body: {
          response_format: {
            type: "json_schema",
            json_schema: { name: "e", schema: { type: "string", enum: ["yes", "no"] } },
          },
          logit_bias: ban(/[yesno]/),
        },
      },
      {
        attack: "forced tool call with '\"' tokens banned",
        body: { tools: [numberTool], tool_choice: "required", logit_bias: ban(/"/) },
      },
    ];
    const cases: SecurityCase[] = [];
    for (const { attack, body } of attacks) {
      for (let round = 0; round < 3; round++) {
        const answer = await post(server, "/v1/chat/completions", {
          model: "tiny",
          messages: [{ role: "user", content: "Hi" }],
          max_tokens: 48,
          ...body,
        });
        const health = await fetch(`${server.url}/health`);
        cases.push({
          attack: `${attack} #${round + 1}`,
          refused: answer.status < 500 && health.status === 200,
          detail: `status ${answer.status}, health ${health.status}`,
        });
      }
    }
    const report = reportFamily(task, "bias-grammar-crash", cases);
    expect(report.through).toEqual([]);
  }, 120_000);
});
