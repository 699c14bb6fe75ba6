import { z } from "zod";

/**
 * Error codes that cross the wire, each with its HTTP status. Clients switch on `code`; the status
 * is mapped here, in one place.
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  INVALID_AUTH_CODE: 401,
  INVALID_CLIENT_GRANT: 401,
  FORBIDDEN_HOST: 403,
  FORBIDDEN_ORIGIN: 403,
  NOT_FOUND: 404,
  SESSION_NOT_FOUND: 404,
  PERMISSION_REQUEST_NOT_FOUND: 404,
  MCP_SERVER_NOT_FOUND: 404,
  GRANT_NOT_FOUND: 404,
  TURN_NOT_FOUND: 404,
  TURN_IN_PROGRESS: 409,
  NO_ACTIVE_TURN: 409,
  /** The session has a paused turn: resume it (`POST /resume`) or stop it (`POST /stop`) first. */
  TURN_PAUSED: 409,
  /** `POST /resume` on a session with no paused turn. */
  NO_PAUSED_TURN: 409,
  REWIND_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL: 500,
  /** config.yaml is broken; the message names the key and how to fix it. */
  CONFIG_INVALID: 500,
  /** The provider answered with an error (a 4xx/5xx, a broken stream, no API key). */
  PROVIDER_ERROR: 502,
  /** An MCP server failed the call. */
  MCP_ERROR: 502,
  /** No provider answers (connection refused, DNS, a failed health check): start it or configure another. */
  PROVIDER_UNREACHABLE: 503,
  /** No model to use: none configured, none listed. */
  NO_MODEL: 503,
  /** The key vault cannot be opened where the keys are kept. */
  VAULT_UNAVAILABLE: 503,
  DAEMON_STOPPING: 503,
  /** The provider did not answer in time. */
  PROVIDER_TIMEOUT: 504,
  /** An MCP server did not answer in time. */
  MCP_TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ErrorCode = z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]);

/** Body of every error response: `{"error":{"code":"...","message":"..."}}`. */
export const ErrorBody = z.object({
  error: z.object({
    /** Machine-readable code; see ERROR_STATUS. */
    code: z.string(),
    /** One readable sentence that says what went wrong and what to do. */
    message: z.string(),
    /** Optional structured detail, e.g. the bad field's path. */
    details: z.unknown().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/** Turn-level error codes (in `turn.error`), not HTTP statuses. */
export const TurnErrorCode = {
  providerUnreachable: "PROVIDER_UNREACHABLE",
  providerError: "PROVIDER_ERROR",
  providerTimeout: "PROVIDER_TIMEOUT",
  interrupted: "TURN_INTERRUPTED",
  internal: "INTERNAL",
} as const;
