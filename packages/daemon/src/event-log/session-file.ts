import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";

/** What `repairTail` found at the end of a session file. */
export interface RepairResult {
  /** Bytes cut off the end (a torn line left by a crash mid-write). */
  truncatedBytes: number;
  /** File size after repair. */
  size: number;
}

/**
 * One session's append-only JSONL file. Appends are synchronous writes into the kernel (so a
 * SIGKILL never loses an event a client has already seen) and `sync()` makes them durable on disk;
 * the caller batches appends and syncs at turn boundaries.
 */
export class SessionFile {
  private fd: number;
  private closed = false;
  size: number;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
    this.size = fstatSync(fd).size;
  }

  /** Opens (creating if needed) a session file for appending and repairs a torn last line. */
  static open(path: string): { file: SessionFile; repair: RepairResult } {
    const fd = openSync(path, "a+", 0o600);
    const file = new SessionFile(path, fd);
    const repair = file.repairTail();
    return { file, repair };
  }

  /** Appends already-serialised lines (each ending in "\n"). */
  append(text: string): void {
    if (this.closed) throw new Error(`session file ${this.path} is closed`);
    const buffer = Buffer.from(text, "utf8");
    let offset = 0;
    while (offset < buffer.length) offset += writeSync(this.fd, buffer, offset, buffer.length - offset);
    this.size += buffer.length;
  }

  /** Flushes written data to the disk (fdatasync). */
  sync(): void {
    if (!this.closed) fdatasyncSync(this.fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      fdatasyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
  }

  /**
   * Cuts a torn last line: a file must end in "\n" and its last line must be valid JSON. Earlier
   * lines are never touched, so a crash mid-write loses at most the event being written.
   */
  private repairTail(): RepairResult {
    const original = this.size;
    if (original === 0) return { truncatedBytes: 0, size: 0 };
    let cut: number;
    if (this.byteAt(original - 1) !== 0x0a) {
      cut = this.lastNewlineBefore(original) + 1;
    } else {
      // Ends in "\n": still check that the last line parses. JSON.stringify never emits a raw newline,
      // so a complete line that fails to parse can only be the remains of a torn write.
      const start = this.lastNewlineBefore(original - 1) + 1;
      cut = isJsonObject(this.readRange(start, original - 1)) ? original : start;
    }
    if (cut !== original) {
      ftruncateSync(this.fd, cut);
      this.size = cut;
    }
    return { truncatedBytes: original - cut, size: cut };
  }

  private byteAt(position: number): number {
    const buffer = Buffer.alloc(1);
    readSync(this.fd, buffer, 0, 1, position);
    return buffer[0]!;
  }

  /** Position of the last "\n" strictly before `position`, or -1. */
  private lastNewlineBefore(position: number): number {
    const chunk = 64 * 1024;
    let end = position;
    while (end > 0) {
      const start = Math.max(0, end - chunk);
      const buffer = Buffer.alloc(end - start);
      readSync(this.fd, buffer, 0, buffer.length, start);
      const index = buffer.lastIndexOf(0x0a);
      if (index !== -1) return start + index;
      end = start;
    }
    return -1;
  }

  private readRange(start: number, end: number): string {
    const buffer = Buffer.alloc(end - start);
    readSync(this.fd, buffer, 0, buffer.length, start);
    return buffer.toString("utf8");
  }
}

function isJsonObject(line: string): boolean {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null;
  } catch {
    return false;
  }
}

/** Reads the `seq` of a line we wrote ourselves without parsing the whole object (lines start `{"seq":N,`). */
export function peekSeq(line: string): number {
  if (line.startsWith('{"seq":')) {
    let value = 0;
    for (let index = 7; index < line.length; index += 1) {
      const code = line.charCodeAt(index);
      if (code < 48 || code > 57) return value;
      value = value * 10 + (code - 48);
    }
  }
  const parsed = JSON.parse(line) as { seq?: unknown };
  return typeof parsed.seq === "number" ? parsed.seq : 0;
}

/**
 * Reads every line of a session file (the serialised envelopes, as written). Lines are returned as
 * strings so replay can send the exact stored bytes without re-serialising.
 */
export async function readLines(path: string): Promise<string[]> {
  const handle = await open(path, "r");
  try {
    const text = await handle.readFile("utf8");
    if (text.length === 0) return [];
    const lines = text.split("\n");
    // The last piece is "" when the file ends in "\n"; otherwise it is an event still being written
    // (this read raced the writer) and is dropped: the caller gets it live, or on its next read.
    lines.pop();
    return lines;
  } finally {
    await handle.close();
  }
}
