import type { Risk } from "@opta/protocol";
import { z } from "zod";
import { ToolError, toToolError } from "./errors.js";
import type { ToolContext, ToolDefinition, ToolOutcome } from "./types.js";

/** A successful run: the result for the model and a one-line summary for UIs. */
export interface ToolSuccess {
  result: unknown;
  summary: string;
}

interface ToolSpec<S extends z.ZodType> {
  name: string;
  description: string;
  kind: ToolDefinition["kind"];
  risk: Risk;
  schema: S;
  execute(args: z.output<S>, ctx: ToolContext): Promise<ToolSuccess>;
}

/** Renders zod issues as one sentence the model can act on. */
export function describeIssues(toolName: string, error: z.ZodError): string {
  const parts = error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join(".") : "arguments";
    return `${where}: ${issue.message}`;
  });
  return `invalid arguments for ${toolName}: ${parts.join("; ")}`;
}

/** JSON Schema for the model: input side (defaults make a field optional), without the $schema key. */
function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io: "input" }) as Record<string, unknown>;
  delete json.$schema;
  return stripSafeIntegerBounds(json) as Record<string, unknown>;
}

/** z.number().int() adds ±MAX_SAFE_INTEGER bounds that only add noise to the model's prompt. */
function stripSafeIntegerBounds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSafeIntegerBounds);
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if ((key === "maximum" || key === "minimum") && Math.abs(inner as number) === Number.MAX_SAFE_INTEGER) continue;
    out[key] = stripSafeIntegerBounds(inner);
  }
  return out;
}

/**
 * Builds a ToolDefinition from one zod schema: the model's JSON Schema is derived from it, and
 * `run` validates the arguments with it and turns every failure into an error outcome.
 */
export function defineTool<S extends z.ZodType>(spec: ToolSpec<S>): ToolDefinition {
  return {
    name: spec.name,
    description: spec.description,
    inputSchema: jsonSchemaOf(spec.schema),
    kind: spec.kind,
    risk: spec.risk,
    async run(args: unknown, ctx: ToolContext): Promise<ToolOutcome> {
      const parsed = spec.schema.safeParse(args ?? {});
      if (!parsed.success) return { ok: false, code: "INVALID_ARGS", error: describeIssues(spec.name, parsed.error) };
      try {
        if (ctx.signal.aborted) throw new ToolError("ABORTED", "cancelled before it started");
        const { result, summary } = await spec.execute(parsed.data, ctx);
        return { ok: true, result, summary };
      } catch (error) {
        const failure = toToolError(error);
        return { ok: false, code: failure.code, error: failure.message };
      }
    },
  };
}
