import type { ServerResponse } from "node:http";

/**
 * Newline-delimited JSON, Ollama's streaming framing: one JSON object per line, no terminator.
 * Lines are written on the next turn of the event loop, as {@link SseStream} does, so that
 * serializing and writing never sit between one token and the decode of the next.
 */
export class NdjsonStream {
  private opened = false;
  private pending: unknown[] = [];
  private flushScheduled = false;
  private readonly flushNow = () => {
    this.flushScheduled = false;
    const text = this.take();
    if (text !== "" && !this.response.writableEnded) this.response.write(text);
  };

  constructor(private readonly response: ServerResponse) {}

  /** Whether the status line has gone out (errors after that travel as an `{"error"}` line). */
  get isOpen(): boolean {
    return this.opened;
  }

  /** One line (written on the next turn of the event loop, in order). */
  send(data: unknown): void {
    if (!this.opened) {
      this.opened = true;
      this.response.writeHead(200, {
        "Content-Type": "application/x-ndjson",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
      });
    }
    if (this.response.writableEnded) return;
    this.pending.push(data);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
  }

  private take(): string {
    let text = "";
    for (const data of this.pending) text += `${JSON.stringify(data)}\n`;
    this.pending = [];
    return text;
  }

  /** Writes what is pending and ends the response. */
  end(): void {
    const text = this.take();
    if (!this.response.writableEnded) this.response.end(text);
  }
}
