/**
 * An error the daemon sent over the wire: `{"error":{"code","message"}}` with an HTTP status, or a
 * response the SDK could not understand (code `INVALID_RESPONSE`). Switch on `code`.
 */
export class DaemonApiError extends Error {
  override readonly name = "DaemonApiError";
  constructor(
    /** Machine-readable code from the daemon (see `ERROR_STATUS` in @opta/protocol). */
    readonly code: string,
    message: string,
    /** HTTP status of the response (0 when the error did not come with one, e.g. a stream close). */
    readonly status: number,
    /** Structured detail the daemon attached, if any. */
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** The daemon could not be reached at all (not running, wrong port, timed out). Stays in-process. */
export class DaemonConnectionError extends Error {
  override readonly name = "DaemonConnectionError";
  readonly code = "DAEMON_UNREACHABLE";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Hint appended to every connection error so the user knows what to do next. */
export const START_HINT = "Start it with `opta daemon start`.";
