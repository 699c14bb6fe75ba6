import { STATUS_CODES } from "node:http";
import { ConfigError, VaultError } from "@opta/local";
import { ERROR_STATUS, type ErrorCode } from "@opta/protocol";
import { McpCallError } from "../mcp/connection.js";
import { NoModelError, ProviderError } from "../provider/types.js";

/** An error that crosses the wire: a code clients switch on and a message a person can act on. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): { error: { code: string; message: string; details?: unknown } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }

  /**
   * The whole HTTP/1.1 response, for the places that answer on a raw socket (a refused WebSocket
   * upgrade, a request Node's parser rejected); it always closes the connection.
   */
  toHttpResponse(headers: Record<string, string> = {}): string {
    const body = JSON.stringify(this.toBody());
    const extra = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join("");
    return `HTTP/1.1 ${this.status} ${STATUS_CODES[this.status] ?? this.code}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`;
  }
}

/**
 * The one place an error thrown anywhere under a route becomes an HTTP answer: each in-process
 * error family keeps its code and its message (which already says what to do) and gets its status
 * from ERROR_STATUS. Only what matches no family is INTERNAL (500), which the server logs as a bug.
 */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof ProviderError) {
    const { endpoint, status, retryable } = error.options;
    return new ApiError(error.code, error.message, { endpoint, ...(status ? { status } : {}), retryable });
  }
  if (error instanceof NoModelError) return new ApiError("NO_MODEL", error.message);
  if (error instanceof ConfigError) return new ApiError("CONFIG_INVALID", error.message);
  if (error instanceof VaultError) return new ApiError("VAULT_UNAVAILABLE", error.message);
  if (error instanceof McpCallError) {
    return new ApiError(error.code === "MCP_TIMEOUT" ? "MCP_TIMEOUT" : "MCP_ERROR", error.message);
  }
  // Express and its body parsers throw http-errors with a 4xx status (a malformed URI, a bad body).
  const httpError = error as { status?: number; message?: string };
  if (typeof httpError.status === "number" && httpError.status >= 400 && httpError.status < 500) {
    return new ApiError(
      httpError.status === 413 ? "PAYLOAD_TOO_LARGE" : "BAD_REQUEST",
      httpError.message ?? "Bad request.",
    );
  }
  return new ApiError("INTERNAL", "The daemon hit an internal error; see 'opta daemon logs --level error'.");
}
