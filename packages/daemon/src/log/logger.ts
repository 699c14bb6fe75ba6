import { appendFileSync, mkdirSync, readFileSync, renameSync, statSync } from "node:fs";
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
      // Earlier daemon processes wrote to the same file (and its rotations): start the tail with
      // their last lines, so `opta daemon logs` shows why the previous one stopped.
      this.ring.push(...readLogHistory(options.file, options.keep ?? 3, options.ringSize ?? 2000));
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

/**
 * The last `limit` lines of `file` and its rotations (`file.1` … `file.keep`), oldest first. A line
 * that is not JSON is output the process wrote itself (a crash's stack trace): it is kept as an
 * error of scope `output`, stamped with the time of the line before it so the order holds.
 */
export function readLogHistory(file: string, keep: number, limit: number): LogLine[] {
  const chunks: LogLine[][] = [];
  let count = 0;
  // Newest file first, and only as many older ones as the limit needs.
  for (let index = 0; index <= keep && count < limit; index += 1) {
    let text: string;
    try {
      text = readFileSync(index === 0 ? file : `${file}.${index}`, "utf8");
    } catch {
      continue;
    }
    const lines = parseLogText(text);
    chunks.unshift(lines);
    count += lines.length;
  }
  const all = chunks.flat();
  return all.slice(Math.max(0, all.length - limit));
}

function parseLogText(text: string): LogLine[] {
  const out: LogLine[] = [];
  let ts = "";
  for (const raw of text.split("\n")) {
    if (!raw.trim()) continue;
    let line: LogLine | undefined;
    try {
      const parsed = JSON.parse(raw) as Partial<LogLine>;
      if (typeof parsed.ts === "string" && typeof parsed.level === "string" && parsed.level in LEVEL_ORDER) {
        line = parsed as LogLine;
      }
    } catch {
      line = undefined;
    }
    line ??= { ts, level: "error", scope: "output", message: raw };
    ts = line.ts;
    out.push(line);
  }
  return out;
}
