import type { ServerResponse } from "node:http";
import type { LmxError } from "./errors.js";

/**
 * Server-sent events in OpenAI's framing: `data: <json>\n\n` per chunk, `data: [DONE]` at the end.
 *
 * Chunks are serialized and written on the next turn of the event loop (setImmediate), not inside
 * `send`: `send` runs in node-llama-cpp's token callback, between one token and the decode of the
 * next, so JSON.stringify and the socket write there delay every token. Deferred, they run while
 * llama.cpp decodes on its own thread, and chunks that arrive together go out in one write.
 */
export class SseStream {
  private opened = false;
  private pending: unknown[] = [];
  /** Event names, parallel to `pending` (undefined: a bare `data:` line). */
  private names: (string | undefined)[] = [];
  private flushScheduled = false;
  private readonly flushNow = () => {
    this.flushScheduled = false;
    const text = this.take();
    if (text !== "" && !this.response.writableEnded) this.response.write(text);
  };

  /**
   * `framing: "events"` is the Responses and Anthropic Messages framing: every chunk carries an
   * `event:` line, and the stream ends without `data: [DONE]`.
   */
  constructor(
    private readonly response: ServerResponse,
    private readonly framing: "openai" | "events" = "openai",
  ) {}

  /** Whether the status line has gone out (errors after that travel as an event). */
  get isOpen(): boolean {
    return this.opened;
  }

  /**
   * Commits to a 200 event stream: further errors can no longer change the status. The headers go
   * out with the first write (the next turn of the event loop), not before the prompt is decoded.
   */
  open(): void {
    if (this.opened) return;
    this.opened = true;
    this.response.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
  }

  /** One chunk (written on the next turn of the event loop, in order); `event` names it. */
  send(data: unknown, event?: string): void {
    this.open();
    if (this.response.writableEnded) return;
    this.pending.push(data);
    this.names.push(event);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
  }

  /** The pending chunks as SSE text, emptying the queue. */
  private take(): string {
    if (this.pending.length === 0) return "";
    let text = "";
    for (const [index, data] of this.pending.entries()) {
      const name = this.names[index];
      text += `${name === undefined ? "" : `event: ${name}\n`}data: ${JSON.stringify(data)}\n\n`;
    }
    this.pending = [];
    this.names = [];
    return text;
  }

  /** An error after the stream started, as OpenAI sends it, then the end of the stream. */
  fail(error: LmxError): void {
    this.send(error.toBody());
    this.end();
  }

  /** `data: [DONE]` (OpenAI framing) and the end of the response. */
  end(): void {
    this.open();
    const text = this.take();
    if (!this.response.writableEnded) this.response.end(this.framing === "openai" ? `${text}data: [DONE]\n\n` : text);
  }
}
