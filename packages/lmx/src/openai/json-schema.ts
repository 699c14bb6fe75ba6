import { LmxError } from "../server/errors.js";

/**
 * Client JSON schemas (for `response_format` and tool parameters) checked and rewritten into the
 * subset node-llama-cpp's grammar builder understands. That builder never fails: an unknown `type`
 * becomes `null`, a `$ref` to a missing definition becomes "any JSON", an unknown string `format`
 * becomes the empty string, `anyOf` is ignored. So every schema goes through here first, and what
 * cannot be expressed is a 400 naming the keyword instead of a grammar that silently means
 * something else.
 *
 * Enforced: `type` (also a list), `enum`, `const`, `properties`, `additionalProperties`,
 * `min/maxProperties`, `items`, `prefixItems`, `min/maxItems`, `min/maxLength`, `format`
 * `date` | `time` | `date-time`, `anyOf` / `oneOf`, a one-element `allOf`, and local `$ref`s to
 * `#/$defs/…` or `#/definitions/…`. Refused for `response_format` and strict tools, dropped for
 * other tools: `not`, `if`/`then`/`else`, `patternProperties`, `propertyNames`,
 * `dependentSchemas`, … (see {@link REFUSED}). Accepted as hints but not enforced: numeric ranges,
 * `pattern`, `uniqueItems`, other string formats (the string is free-form).
 */

type Schema = Record<string, unknown>;

const TYPES = ["string", "number", "integer", "boolean", "null", "object", "array"] as const;
const FORMATS = new Set(["date", "time", "date-time"]);
/** Keywords whose meaning a grammar built from the rest would get wrong. */
const REFUSED = [
  "not",
  "if",
  "then",
  "else",
  "patternProperties",
  "propertyNames",
  "dependentSchemas",
  "dependentRequired",
  "dependencies",
  "contains",
  "unevaluatedProperties",
  "unevaluatedItems",
  "$dynamicRef",
  "$recursiveRef",
];
/** Upper bound for lengths and counts: llama.cpp expands `{m,n}` repetitions into rules. */
const MAX_REPEAT = 4096;
const MAX_DEPTH = 64;

/**
 * Caps on what one request may ask the grammar builder to compile. node-llama-cpp builds grammars
 * synchronously, at ~25 µs per schema node or enum value (a 10,000-value enum blocks the event
 * loop for ~0.3 s, 50,000 for seconds), so the whole request's schemas are bounded before it runs.
 */
export const SCHEMA_LIMITS = {
  /** Values in one `enum` (and alternatives in one `anyOf` / `oneOf`). */
  enumValues: 1024,
  /** Schema nodes plus enum values, across all of a request's schemas (all tools together). */
  nodes: 4096,
  /** Bytes of schema JSON (names, strings, descriptions, patterns), across the request. */
  bytes: 256 * 1024,
  /** Nesting levels. */
  depth: MAX_DEPTH,
} as const;

/** What a request's schemas have used of {@link SCHEMA_LIMITS}; share one across its tools. */
export class SchemaBudget {
  nodes = 0;
  bytes = 0;
}
/** Any JSON value, in the builder's vocabulary (it has no "any" schema of its own). */
const ANY: Schema = {
  oneOf: [
    { type: ["string", "number", "boolean", "null"] },
    { type: "array" },
    { type: "object", additionalProperties: true },
  ],
};

/**
 * Returns `schema` rewritten for node-llama-cpp's grammar builder; throws a 400 naming what it
 * cannot express, or what exceeds {@link SCHEMA_LIMITS} (counted in `budget`, shared by a request).
 * With `dropped` (non-strict tools), the keywords of {@link REFUSED} are left out instead of
 * refused, and their paths are added to `dropped`: the grammar then admits more than the schema
 * says, which is what a non-strict tool promises anyway (OpenAI does not enforce them either).
 */
export function normalizeJsonSchema(
  schema: unknown,
  param: string,
  budget = new SchemaBudget(),
  dropped?: string[],
): Schema {
  measureJson(schema, param, budget);
  return new Normalizer(param, budget, dropped).node(schema, "", new Map(), 0);
}

/**
 * Counts the schema's JSON size and depth with an explicit stack, stopping at the first cap
 * exceeded: a 16 MiB `properties` object or 10,000 nested levels cost no more than the cap.
 */
function measureJson(schema: unknown, param: string, budget: SchemaBudget): void {
  // Two parallel stacks rather than one of pairs: a 50,000-element array allocates nothing per item.
  const values: unknown[] = [schema];
  const depths: number[] = [0];
  while (values.length > 0) {
    const value = values.pop();
    const depth = depths.pop()!;
    if (typeof value === "string") budget.bytes += value.length + 2;
    else if (typeof value !== "object" || value === null) budget.bytes += 6;
    else {
      if (depth > MAX_DEPTH) tooLarge(param, `it is nested deeper than ${MAX_DEPTH} levels`);
      budget.bytes += 2;
      if (Array.isArray(value)) {
        for (let index = 0; index < value.length && budget.bytes <= SCHEMA_LIMITS.bytes; index++) {
          budget.bytes += 1;
          values.push(value[index]);
          depths.push(depth + 1);
        }
      } else {
        for (const key in value) {
          if (!Object.hasOwn(value, key)) continue;
          budget.bytes += key.length + 3;
          values.push((value as Record<string, unknown>)[key]);
          depths.push(depth + 1);
          if (budget.bytes > SCHEMA_LIMITS.bytes) break;
        }
      }
    }
    if (budget.bytes > SCHEMA_LIMITS.bytes) {
      tooLarge(param, `the request's schemas are larger than ${SCHEMA_LIMITS.bytes / 1024} KiB of JSON`);
    }
  }
}

function tooLarge(param: string, why: string): never {
  throw new LmxError(
    "invalid_request",
    `${param}: schema too large to compile into a grammar: ${why}; simplify it (fewer properties, shorter enums, or a plain string with a description)`,
    { param },
  );
}

class Normalizer {
  constructor(
    private readonly param: string,
    private readonly budget: SchemaBudget,
    private readonly dropped: string[] | undefined,
  ) {}

  /** Counts `count` nodes against the request's budget. */
  private spend(count: number, path: string): void {
    this.budget.nodes += count;
    if (this.budget.nodes > SCHEMA_LIMITS.nodes) {
      tooLarge(
        `${this.param}${path}`,
        `the request's schemas have more than ${SCHEMA_LIMITS.nodes} nodes and enum values in all`,
      );
    }
  }

  private fail(path: string, message: string): never {
    const param = `${this.param}${path}`;
    throw new LmxError("invalid_request", `${param}: unsupported JSON schema: ${message}`, { param });
  }

  node(input: unknown, path: string, scope: ReadonlyMap<string, unknown>, depth: number): Schema {
    if (depth > MAX_DEPTH) this.fail(path, `nested deeper than ${MAX_DEPTH} levels`);
    this.spend(1, path);
    if (input === true) return { ...ANY };
    if (input === false) this.fail(path, "the schema `false` matches no value");
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      this.fail(path, `a schema must be an object, got ${Array.isArray(input) ? "an array" : JSON.stringify(input)}`);
    }
    let schema = input as Schema;
    for (const keyword of REFUSED) {
      if (!(keyword in schema)) continue;
      if (!this.dropped) {
        this.fail(
          `${path}.${keyword}`,
          `'${keyword}' is not supported (a grammar cannot enforce it; non-strict tools have it dropped)`,
        );
      }
      this.dropped.push(`${this.param}${path}.${keyword}`);
      const { [keyword]: _, ...rest } = schema;
      schema = rest;
    }

    // Definitions visible here: the enclosing ones plus this node's own ($defs and definitions).
    const ownDefs = { ...this.defsObject(schema, "definitions", path), ...this.defsObject(schema, "$defs", path) };
    const defNames = Object.keys(ownDefs);
    const innerScope = defNames.length === 0 ? scope : new Map([...scope, ...Object.entries(ownDefs)]);
    const out: Schema = {};
    if (typeof schema.description === "string") out.description = schema.description;
    if (defNames.length > 0) {
      out.$defs = Object.fromEntries(
        defNames.map((name) => [name, this.node(ownDefs[name], `${path}.$defs.${name}`, innerScope, depth + 1)]),
      );
    }
    const child = (value: unknown, at: string) => this.node(value, `${path}${at}`, innerScope, depth + 1);

    if ("$ref" in schema) {
      const ref = schema.$ref;
      const match = typeof ref === "string" ? /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref) : null;
      if (!match) {
        this.fail(
          `${path}.$ref`,
          `only local references like '#/$defs/<name>' are supported, got ${JSON.stringify(ref)}`,
        );
      }
      const name = match[1]!.replace(/~1/g, "/").replace(/~0/g, "~");
      if (!innerScope.has(name)) {
        const known = [...innerScope.keys()];
        this.fail(
          `${path}.$ref`,
          `'${ref}' points to no definition (${known.length > 0 ? `defined: ${known.join(", ")}` : "the schema has no $defs"})`,
        );
      }
      return { ...out, $ref: `#/$defs/${name}` };
    }
    if ("allOf" in schema) {
      const all = schema.allOf;
      if (!Array.isArray(all) || all.length !== 1) {
        this.fail(`${path}.allOf`, "only a one-element allOf is supported; merge the schemas into one");
      }
      const { allOf: _, ...rest } = schema;
      if (Object.keys(rest).some((key) => key !== "description" && key !== "$defs" && key !== "definitions")) {
        this.fail(`${path}.allOf`, "allOf cannot be combined with other keywords; merge the schemas into one");
      }
      const inner = child(all[0], ".allOf[0]");
      const defs = { ...(inner.$defs as Schema | undefined), ...(out.$defs as Schema | undefined) };
      return { ...inner, ...out, ...(Object.keys(defs).length > 0 ? { $defs: defs } : {}) };
    }
    for (const keyword of ["anyOf", "oneOf"] as const) {
      if (!(keyword in schema)) continue;
      const options = schema[keyword];
      if (!Array.isArray(options) || options.length === 0) this.fail(`${path}.${keyword}`, "must be a non-empty array");
      if (options.length > SCHEMA_LIMITS.enumValues) {
        tooLarge(
          `${this.param}${path}.${keyword}`,
          `${keyword} has ${options.length} alternatives (at most ${SCHEMA_LIMITS.enumValues})`,
        );
      }
      // The grammar accepts any of the alternatives, which is anyOf; oneOf's "exactly one" is not checked.
      return { ...out, oneOf: options.map((option, index) => child(option, `.${keyword}[${index}]`)) };
    }
    if ("const" in schema) return { ...out, const: this.literal(schema.const, `${path}.const`) };
    if ("enum" in schema) {
      const values = schema.enum;
      if (!Array.isArray(values) || values.length === 0) this.fail(`${path}.enum`, "must be a non-empty array");
      if (values.length > SCHEMA_LIMITS.enumValues) {
        tooLarge(
          `${this.param}${path}.enum`,
          `the enum has ${values.length} values (at most ${SCHEMA_LIMITS.enumValues})`,
        );
      }
      this.spend(values.length, `${path}.enum`);
      return { ...out, enum: values.map((value, index) => this.literal(value, `${path}.enum[${index}]`)) };
    }

    let type = schema.type;
    if (type === undefined) {
      // No type: infer it from the keywords, or accept any value (JSON Schema's meaning of {}).
      if ("properties" in schema || "additionalProperties" in schema) type = "object";
      else if ("items" in schema || "prefixItems" in schema) type = "array";
      else return { ...ANY, ...out };
    }
    const types = Array.isArray(type) ? type : [type];
    if (types.length === 0) this.fail(`${path}.type`, "must not be an empty list");
    for (const [index, name] of types.entries()) {
      if (typeof name !== "string" || !(TYPES as readonly string[]).includes(name)) {
        this.fail(
          `${path}.type${Array.isArray(type) ? `[${index}]` : ""}`,
          `unknown type ${JSON.stringify(name)}; use ${TYPES.join(", ")}`,
        );
      }
    }
    if (types.length > 1) {
      // The builder ignores "object" and "array" inside a type list: split into alternatives.
      if (types.some((name) => name === "object" || name === "array")) {
        const { type: _, description: __, ...rest } = schema;
        return { ...out, oneOf: types.map((name, index) => child({ ...rest, type: name }, `.type[${index}]`)) };
      }
      return { ...out, type: types };
    }

    const single = types[0] as (typeof TYPES)[number];
    out.type = single;
    if (single === "string") {
      this.count(schema, "minLength", out, path);
      this.count(schema, "maxLength", out, path);
      if (schema.format !== undefined) {
        if (typeof schema.format !== "string") this.fail(`${path}.format`, "must be a string");
        // Other formats (email, uri, uuid…) are hints: the builder would turn them into "".
        if (FORMATS.has(schema.format)) {
          out.format = schema.format;
          delete out.minLength;
          delete out.maxLength;
        }
      }
    } else if (single === "object") {
      const properties = schema.properties;
      if (properties !== undefined) {
        if (typeof properties !== "object" || properties === null || Array.isArray(properties)) {
          this.fail(`${path}.properties`, "must be an object mapping names to schemas");
        }
        out.properties = Object.fromEntries(
          Object.entries(properties).map(([name, value]) => [name, child(value, `.properties.${name}`)]),
        );
      }
      const additional = schema.additionalProperties;
      if (typeof additional === "boolean") out.additionalProperties = additional;
      else if (additional !== undefined) out.additionalProperties = child(additional, ".additionalProperties");
      // JSON Schema's default is "anything"; the builder's is "nothing", right only next to properties.
      else if (properties === undefined || Object.keys(out.properties as Schema).length === 0) {
        out.additionalProperties = true;
      }
      this.count(schema, "minProperties", out, path);
      this.count(schema, "maxProperties", out, path);
      if (schema.required !== undefined && !Array.isArray(schema.required)) {
        this.fail(`${path}.required`, "must be an array of property names");
      }
    } else if (single === "array") {
      const items = schema.items;
      // Draft-7 tuples (`items: [...]`) are prefixItems.
      const prefix = Array.isArray(items) ? items : schema.prefixItems;
      if (prefix !== undefined) {
        if (!Array.isArray(prefix)) this.fail(`${path}.prefixItems`, "must be an array of schemas");
        out.prefixItems = prefix.map((value, index) =>
          child(value, `.${Array.isArray(items) ? "items" : "prefixItems"}[${index}]`),
        );
      }
      const rest = Array.isArray(items) ? schema.additionalItems : items;
      if (rest === false) out.maxItems = (out.prefixItems as unknown[] | undefined)?.length ?? 0;
      else if (rest !== undefined && rest !== true)
        out.items = child(rest, Array.isArray(items) ? ".additionalItems" : ".items");
      this.count(schema, "minItems", out, path);
      if (out.maxItems === undefined) this.count(schema, "maxItems", out, path);
    }
    return out;
  }

  private defsObject(schema: Schema, key: "$defs" | "definitions", path: string): Record<string, unknown> {
    const value = schema[key];
    if (value === undefined) return {};
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.fail(`${path}.${key}`, "must be an object mapping names to schemas");
    }
    return value as Record<string, unknown>;
  }

  private literal(value: unknown, path: string): string | number | boolean | null {
    if (value === null || typeof value === "string" || typeof value === "boolean") return value;
    if (typeof value === "number" && Number.isFinite(value)) return value;
    return this.fail(path, `only strings, numbers, booleans and null are supported, got ${JSON.stringify(value)}`);
  }

  private count(schema: Schema, key: string, out: Schema, path: string): void {
    const value = schema[key];
    if (value === undefined) return;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_REPEAT) {
      this.fail(`${path}.${key}`, `must be an integer from 0 to ${MAX_REPEAT}, got ${JSON.stringify(value)}`);
    }
    out[key] = value;
  }
}
