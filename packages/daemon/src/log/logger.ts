import { appendFileSync, mkdirSync, renameSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { LogLevel, LogLine } from "@opta/protocol";

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Options for the daemon logger. */
export interface LoggerOptions {
  /** daemon.log path; omitted → memory only. */
  file?: string;
  /** Rotate when the file passes this size (bytes). */
  maxBytes?: number;
  /** Rotated files kept (daemon.log.1 … .N). */
  keep?: number;
  /** Lines kept in memory for `GET /v3/daemon/logs`. */
  ringSize?: number;
  /** Lowest level recorded. */
  level?: LogLevel;
  /** Extra strings that must never reach a log line (e.g. the current token). */
  secrets?: () => readonly string[];
}

type Listener = (line: LogLine) => void;

// Anything that looks like a credential is masked before a line is stored, whatever its source.
const SECRET_PATTERNS: RegExp[] = [
  /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi,
  /\b(sk-(?:ant-)?)[A-Za-z0-9_-]{8,}/g,
  /([?&]token=)[^&\s"]+/gi,
];

/** Structured JSON-lines logger: one line per event, rotated by size, with an in-memory tail. */
export class Logger {
  private readonly ring: LogLine[] = [];
  private readonly listeners = new Set<Listener>();
  private readonly minLevel: number;
  private bytes = 0;

  constructor(private readonly options: LoggerOptions = {}) {
    this.minLevel = LEVEL_ORDER[options.level ?? "info"];
    if (options.file) {
      mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
      try {
        this.bytes = statSync(options.file).size;
      } catch {
        this.bytes = 0;
      }
    }
  }

  debug(scope: string, message: string, fields?: Record<string, unknown>): void {
    this.write("debug", scope, message, fields);
  }
  info(scope: string, message: string, fields?: Record<string, unknown>): void {
    this.write("info", scope, message, fields);
  }
  warn(scope: string, message: string, fields?: Record<string, unknown>): void {
    this.write("warn", scope, message, fields);
  }
  error(scope: string, message: string, fields?: Record<string, unknown>): void {
    this.write("error", scope, message, fields);
  }

  /** Recent lines at or above `level`, oldest first. */
  tail(limit: number, level?: LogLevel): LogLine[] {
    const min = level ? LEVEL_ORDER[level] : 0;
    const lines = min === 0 ? this.ring : this.ring.filter((line) => LEVEL_ORDER[line.level] >= min);
    return lines.slice(Math.max(0, lines.length - limit));
  }

  /** Calls `listener` with every new line; returns the unsubscribe function. */
  onLine(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private write(level: LogLevel, scope: string, message: string, fields?: Record<string, unknown>): void {
    if (LEVEL_ORDER[level] < this.minLevel) return;
    const line: LogLine = { ts: new Date().toISOString(), level, scope, message: this.redact(message) };
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        if (key === "ts" || key === "level" || key === "scope" || key === "message") continue;
        line[key] = typeof value === "string" ? this.redact(value) : value;
      }
    }
    this.ring.push(line);
    const ringSize = this.options.ringSize ?? 2000;
    if (this.ring.length > ringSize) this.ring.splice(0, this.ring.length - ringSize);
    for (const listener of this.listeners) listener(line);
    if (this.options.file) this.append(this.options.file, `${this.redact(JSON.stringify(line))}\n`);
  }

  private append(file: string, text: string): void {
    try {
      const maxBytes = this.options.maxBytes ?? 5 * 1024 * 1024;
      if (this.bytes + text.length > maxBytes) this.rotate(file);
      appendFileSync(file, text, { mode: 0o600 });
      this.bytes += Buffer.byteLength(text);
    } catch {
      // A full disk must not take the daemon down; the in-memory tail still has the line.
    }
  }

  private rotate(file: string): void {
    const keep = this.options.keep ?? 3;
    for (let index = keep - 1; index >= 1; index -= 1) {
      try {
        renameSync(`${file}.${index}`, `${file}.${index + 1}`);
      } catch {
        // missing rotation slot: nothing to move
      }
    }
    try {
      renameSync(file, `${file}.1`);
    } catch {
      // nothing to rotate yet
    }
    this.bytes = 0;
  }

  private redact(text: string): string {
    let out = text;
    for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, "$1[redacted]");
    for (const secret of this.options.secrets?.() ?? []) {
      if (secret.length >= 8) out = out.split(secret).join("[redacted]");
    }
    return out;
  }
}
