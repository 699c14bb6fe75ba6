/**
 * The platform's error family: every failure a user or operator can cause or fix carries a stable
 * `code` and a message that says what to do. The process entry turns one into a single log line
 * and a single stderr line; a stack trace is only for bugs.
 */
export type PlatformErrorCode =
  /** DATABASE_URL is not a postgres:// or postgresql:// URL. */
  | "PLATFORM_DB_URL_INVALID"
  /** Nothing answers at DATABASE_URL's host and port (refused, unknown host, timeout). */
  | "PLATFORM_DB_UNREACHABLE"
  /** The server answered but refused the user or password. */
  | "PLATFORM_DB_AUTH_FAILED"
  /** The server answered but has no such database. */
  | "PLATFORM_DB_NOT_FOUND"
  /** Any other refusal from the database while connecting. */
  | "PLATFORM_DB_FAILED"
  /** The embedded database could not be created or opened in the data dir. */
  | "PLATFORM_DB_EMBEDDED_FAILED"
  /** A migration failed, or an applied migration's file has changed since. */
  | "PLATFORM_MIGRATION_FAILED"
  /** Bad --port / --domain / --data value. */
  | "PLATFORM_USAGE"
  /** The port is taken by another program. */
  | "PLATFORM_PORT_IN_USE"
  /** A platform server already runs for this Opta home. */
  | "PLATFORM_ALREADY_RUNNING"
  /** The server process did not come up (see its log). */
  | "PLATFORM_START_FAILED"
  /** The server process did not exit after SIGTERM. */
  | "PLATFORM_STOP_FAILED"
  /** `admin grant`: no account has that email. */
  | "PLATFORM_NO_SUCH_USER"
  /** `admin grant`: the server's process runs but does not answer (its database is locked to it). */
  | "PLATFORM_SERVER_UNREACHABLE"
  /** `admin grant`: the database predates a feature; one start of the server updates it. */
  | "PLATFORM_DB_OUTDATED";

/** A failure the platform explains in one line; `code` is what scripts and tests switch on. */
export class PlatformError extends Error {
  override readonly name = "PlatformError";
  constructor(
    readonly code: PlatformErrorCode,
    message: string,
  ) {
    super(message);
  }
}
