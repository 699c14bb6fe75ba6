/**
 * Structured logging: one JSON object per line, the same shape as the daemon's log lines
 * (`ts`, `level`, `scope`, `message`, then fields), so one reader formats both.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** One log line as written. */
export interface LogLine {
  ts: string;
  level: LogLevel;
  scope: string;
  message: string;
  [field: string]: unknown;
}

/** Writes log lines; `child` fixes the scope. */
export interface Logger {
  log(level: LogLevel, scope: string, message: string, fields?: Record<string, unknown>): void;
  info(scope: string, message: string, fields?: Record<string, unknown>): void;
  warn(scope: string, message: string, fields?: Record<string, unknown>): void;
  error(scope: string, message: string, fields?: Record<string, unknown>): void;
}

/** A logger that writes each line to `write` (stdout by default; the CLI sends that to platform.log). */
export function createLogger(write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  const log = (level: LogLevel, scope: string, message: string, fields: Record<string, unknown> = {}) => {
    const line: LogLine = { ts: new Date().toISOString(), level, scope, message, ...fields };
    write(`${JSON.stringify(line)}\n`);
  };
  return {
    log,
    info: (scope, message, fields) => log("info", scope, message, fields),
    warn: (scope, message, fields) => log("warn", scope, message, fields),
    error: (scope, message, fields) => log("error", scope, message, fields),
  };
}
