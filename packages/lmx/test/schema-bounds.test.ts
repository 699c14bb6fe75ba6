import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import type { LmxServer } from "../src/index.js";
import { normalizeJsonSchema, SCHEMA_LIMITS } from "../src/openai/json-schema.js";
import { blockProbe, post, startTestLmx, tinyModelsDir } from "./helpers.js";

// Schemas that node-llama-cpp would compile into enormous grammars, synchronously: before the caps
// a 50,000-value enum stalled LMX for 15 s. Each must be a 400 before the grammar builder runs.

let server: LmxServer;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const models = await tinyModelsDir();
  cleanup = models.cleanup;
  server = await startTestLmx({ modelsDir: models.dir });
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

const values = (count: number) => Array.from({ length: count }, (_, index) => `v${index}`);
const properties = (count: number) =>
  Object.fromEntries(Array.from({ length: count }, (_, index) => [`p${index}`, { type: "string" }]));
/** A schema nested `levels` deep, as JSON text (JSON.stringify itself overflows the stack on it). */
const nested = (levels: number) =>
  `${'{"type":"object","properties":{"a":'.repeat(levels)}{"type":"string"}${"}}".repeat(levels)}`;
const withFormat = (schema: unknown) => ({
  response_format: { type: "json_schema", json_schema: { name: "x", schema } },
});
const withTools = (count: number, parameters: (index: number) => unknown) => ({
  tools: Array.from({ length: count }, (_, index) => ({
    type: "function",
    function: { name: `tool_${index}`, parameters: parameters(index) },
  })),
  tool_choice: "required",
});

const REQUEST = { model: "tiny", messages: [{ role: "user", content: "x" }], max_tokens: 4 };
const body = (fields: Record<string, unknown>) => JSON.stringify({ ...REQUEST, ...fields });

/** Request bodies, as text. */
const ATTACKS: Record<string, string> = {
  "a 50,000-value enum": body(withFormat({ type: "object", properties: { a: { enum: values(50_000) } } })),
  "anyOf with 50,000 const alternatives": body(
    withFormat({ anyOf: values(50_000).map((value) => ({ const: value })) }),
  ),
  "a schema nested 10,000 levels deep": body(withFormat("NESTED")).replace('"NESTED"', nested(10_000)),
  "a properties object with 20,000 entries": body(withFormat({ type: "object", properties: properties(20_000) })),
  "a 1 MiB pattern": body(withFormat({ type: "string", pattern: "a".repeat(1024 * 1024) })),
  "5 enums of 1,000 values each": body(
    withFormat({
      type: "object",
      properties: Object.fromEntries(Array.from({ length: 5 }, (_, index) => [`e${index}`, { enum: values(1000) }])),
    }),
  ),
  "128 tools of 40 properties each": body(withTools(128, () => ({ type: "object", properties: properties(40) }))),
  "a tool whose parameter is a 50,000-value enum": body(
    withTools(1, () => ({ type: "object", properties: { a: { enum: values(50_000) } } })),
  ),
};

describe("schema bounds", () => {
  it("refuses schemas too large to compile, at once, while the server keeps answering", async ({ task }) => {
    const cases: SecurityCase[] = [];
    const probe = blockProbe();
    for (const [attack, text] of Object.entries(ATTACKS)) {
      const [answer, health] = await Promise.all([
        post(server, "/v1/chat/completions", text),
        fetch(`${server.url}/health`),
      ]);
      const error = answer.json.error;
      cases.push({
        attack,
        refused:
          answer.status === 400 &&
          error?.type === "invalid_request_error" &&
          /^(response_format|tools\[)/.test(error.param ?? "") &&
          /too large to compile/.test(error.message) &&
          health.status === 200,
        detail: `${answer.status} ${error?.param}: ${error?.message.slice(0, 160)}`,
      });
    }
    const blocked = probe.stop();
    cases.push({
      attack: "event-loop delay across all the attacks",
      refused: blocked < 100,
      detail: `longest block ${blocked.toFixed(0)} ms`,
    });
    const report = reportFamily(task, "schema-bounds", cases);
    expect(report.through).toEqual([]);
  });

  it("still compiles schemas within the caps", async () => {
    const answer = await post(server, "/v1/chat/completions", {
      model: "tiny",
      messages: [{ role: "user", content: "x" }],
      max_tokens: 8,
      ...withFormat({ enum: values(SCHEMA_LIMITS.enumValues) }),
    });
    expect(answer.status).toBe(200);
    // A request's tools share one budget; one tool alone may use it all.
    expect(() => normalizeJsonSchema({ type: "object", properties: properties(4000) }, "s")).not.toThrow();
    expect(() => normalizeJsonSchema({ type: "object", properties: properties(4100) }, "s")).toThrow(
      /more than 4096 nodes/,
    );
  });
});
