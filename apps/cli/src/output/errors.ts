/** A mistake in how a command was called (bad flag value…): exit code 2, no stack trace. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly exitCode = 2;
}

/** A known condition worth one line and exit code 1 (a missing key, nothing to show…). */
export class CliError extends Error {
  override readonly name = "CliError";
  readonly exitCode = 1;
}

/** Error names whose message is written for the user (a mistake or a known condition, not a bug). */
const EXPECTED = new Set([
  "DaemonApiError",
  "DaemonConnectionError",
  "ConfigError",
  "VaultError",
  "UsageError",
  "CliError",
  "PlatformLoginError",
  "PlatformSyncError",
  "VaultSyncError",
]);
const SYSTEM_CODES = new Set(["ENOENT", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "EEXIST", "ENOSPC", "EROFS"]);

/**
 * Turns any error into one readable line on stderr and returns the exit code. Stacks only with
 * OPTA_DEBUG=1. Matches by name so this module stays free of heavy imports (cold start).
 */
export function reportError(error: unknown): number {
  const debug = process.env.OPTA_DEBUG === "1";
  const record = (error ?? {}) as { name?: unknown; message?: unknown; code?: unknown; exitCode?: unknown };
  const name = typeof record.name === "string" ? record.name : "";
  const message = oneLine(typeof record.message === "string" && record.message ? record.message : String(error));
  const expected = EXPECTED.has(name) || (typeof record.code === "string" && SYSTEM_CODES.has(record.code));
  const hint = expected || debug ? "" : " (set OPTA_DEBUG=1 for details)";
  process.stderr.write(`error: ${message}${hint}\n`);
  if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return typeof record.exitCode === "number" ? record.exitCode : 1;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}
