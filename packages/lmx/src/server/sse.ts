import type { ServerResponse } from "node:http";
import type { LmxError } from "./errors.js";

/** Server-sent events in OpenAI's framing: `data: <json>\n\n` per chunk, `data: [DONE]` at the end. */
export class SseStream {
  private opened = false;

  constructor(private readonly response: ServerResponse) {}

  /** Whether the status line has gone out (errors after that travel as an event). */
  get isOpen(): boolean {
    return this.opened;
  }

  /** Sends the headers; further errors can no longer change the status. */
  open(): void {
    if (this.opened) return;
    this.opened = true;
    this.response.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    this.response.flushHeaders();
  }

  /** One chunk. */
  send(data: unknown): void {
    this.open();
    if (!this.response.writableEnded) this.response.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** An error after the stream started, as OpenAI sends it, then the end of the stream. */
  fail(error: LmxError): void {
    this.send(error.toBody());
    this.end();
  }

  /** `data: [DONE]` and the end of the response. */
  end(): void {
    this.open();
    if (!this.response.writableEnded) this.response.end("data: [DONE]\n\n");
  }
}
