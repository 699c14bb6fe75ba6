/**
 * Errors that cross the wire, in OpenAI's shape: `{"error":{"message","type","param","code"}}`.
 * Every code maps to one HTTP status here, in one place.
 */
export const LMX_ERRORS = {
  invalid_request: { status: 400, type: "invalid_request_error" },
  invalid_json: { status: 400, type: "invalid_request_error" },
  unsupported_parameter: { status: 400, type: "invalid_request_error" },
  context_length_exceeded: { status: 400, type: "invalid_request_error" },
  previous_response_not_found: { status: 400, type: "invalid_request_error" },
  invalid_api_key: { status: 401, type: "authentication_error" },
  forbidden_host: { status: 403, type: "permission_error" },
  forbidden_origin: { status: 403, type: "permission_error" },
  not_found: { status: 404, type: "invalid_request_error" },
  model_not_found: { status: 404, type: "invalid_request_error" },
  no_models: { status: 404, type: "invalid_request_error" },
  method_not_allowed: { status: 405, type: "invalid_request_error" },
  payload_too_large: { status: 413, type: "invalid_request_error" },
  unsupported_media_type: { status: 415, type: "invalid_request_error" },
  headers_too_large: { status: 431, type: "invalid_request_error" },
  model_invalid: { status: 422, type: "invalid_request_error" },
  model_load_failed: { status: 500, type: "server_error" },
  internal_error: { status: 500, type: "server_error" },
  queue_full: { status: 503, type: "server_error" },
  model_unloaded: { status: 503, type: "server_error" },
  server_closing: { status: 503, type: "server_error" },
  insufficient_memory: { status: 507, type: "server_error" },
} as const;

/** A code a client can switch on. */
export type LmxErrorCode = keyof typeof LMX_ERRORS;

/** The JSON body of every error response. */
export type LmxErrorBody = {
  error: { message: string; type: string; param: string | null; code: LmxErrorCode };
};

/** An error meant for the client: a readable message, a code, and the offending parameter if any. */
export class LmxError extends Error {
  /** Seconds after which a retry may succeed (sent as `Retry-After`). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly code: LmxErrorCode,
    message: string,
    options: { param?: string; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LmxError";
    this.param = options.param ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The request field at fault, like OpenAI's `param`. */
  readonly param: string | null;

  /** HTTP status for this error's code. */
  get status(): number {
    return LMX_ERRORS[this.code].status;
  }

  /** The wire body. */
  toBody(): LmxErrorBody {
    return { error: { message: this.message, type: LMX_ERRORS[this.code].type, param: this.param, code: this.code } };
  }
}

/** Wraps anything thrown into an LmxError; unknown failures become `internal_error` without a stack trace. */
export function toLmxError(error: unknown): LmxError {
  if (error instanceof LmxError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new LmxError("internal_error", `internal error: ${message}`, { cause: error });
}
