import { describe, expect, it } from "vitest";
import { normalizeJsonSchema } from "../src/openai/json-schema.js";
import { LmxError } from "../src/server/errors.js";

const normalize = (schema: unknown) => normalizeJsonSchema(schema, "s");
const refusal = (schema: unknown): LmxError => {
  try {
    normalize(schema);
  } catch (error) {
    return error as LmxError;
  }
  throw new Error(`accepted ${JSON.stringify(schema)}`);
};

describe("JSON schemas for grammars", () => {
  it("rewrites what the grammar builder would misread", () => {
    // A type list with "object" (ignored by the builder) becomes alternatives.
    expect(normalize({ type: ["object", "null"], properties: { a: { type: "integer" } } })).toEqual({
      oneOf: [{ type: "object", properties: { a: { type: "integer" } } }, { type: "null" }],
    });
    // anyOf (ignored by the builder) is oneOf; draft-7 definitions are $defs.
    expect(
      normalize({ anyOf: [{ $ref: "#/definitions/n" }, { type: "null" }], definitions: { n: { type: "number" } } }),
    ).toEqual({ $defs: { n: { type: "number" } }, oneOf: [{ $ref: "#/$defs/n" }, { type: "null" }] });
    // An unknown format would become "" in the builder: a plain string instead.
    expect(normalize({ type: "string", format: "email", maxLength: 40, title: "x" })).toEqual({
      type: "string",
      maxLength: 40,
    });
    // {} is any value, an object without properties any object, false items an empty array.
    expect((normalize({}) as { oneOf: unknown[] }).oneOf).toHaveLength(3);
    expect(normalize({ type: "object" })).toEqual({ type: "object", additionalProperties: true });
    expect(normalize({ type: "array", items: [{ type: "string" }], additionalItems: false })).toEqual({
      type: "array",
      prefixItems: [{ type: "string" }],
      maxItems: 1,
    });
    expect(normalize({ allOf: [{ type: "boolean" }], description: "d" })).toEqual({
      type: "boolean",
      description: "d",
    });
  });

  it("refuses what it cannot express, naming the keyword's path", () => {
    const cases: [unknown, string, RegExp][] = [
      [{ type: "weird" }, "s.type", /unknown type "weird"/],
      [{ type: ["string", 5] }, "s.type[1]", /unknown type 5/],
      [{ properties: { a: { $ref: "#/$defs/b" } } }, "s.properties.a.$ref", /points to no definition/],
      [{ $ref: "#" }, "s.$ref", /only local references/],
      [{ allOf: [{ type: "string" }, { maxLength: 3 }] }, "s.allOf", /one-element allOf/],
      [{ type: "object", patternProperties: {} }, "s.patternProperties", /not supported/],
      [{ type: "array", items: { type: "string", minLength: -1 } }, "s.items.minLength", /integer from 0/],
      [{ enum: [{ a: 1 }] }, "s.enum[0]", /only strings, numbers/],
      [false, "s", /matches no value/],
      ["string", "s", /must be an object/],
    ];
    for (const [schema, param, message] of cases) {
      const error = refusal(schema);
      expect(error).toBeInstanceOf(LmxError);
      expect(error.status).toBe(400);
      expect(error.param, JSON.stringify(schema)).toBe(param);
      expect(error.message).toMatch(message);
    }
  });
});
