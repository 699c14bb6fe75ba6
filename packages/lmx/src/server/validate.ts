import type { z } from "zod";
import { LmxError } from "./errors.js";

/**
 * Parses a request body with a schema; the first problem becomes one readable sentence naming the
 * field (`temperature: Too big: expected number to be <=2`), with the field in `param`.
 */
export function parseRequest<Schema extends z.ZodType>(schema: Schema, body: unknown): z.infer<Schema> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new LmxError("invalid_request", "the request body must be a JSON object");
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const path = issue.path
    .map((part, index) => (typeof part === "number" ? `[${part}]` : index === 0 ? String(part) : `.${String(part)}`))
    .join("");
  const message = issue.code === "invalid_union" ? "has an unsupported shape or value" : issue.message;
  throw new LmxError("invalid_request", path ? `${path}: ${message}` : message, path ? { param: path } : {});
}
