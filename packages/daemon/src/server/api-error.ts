import { STATUS_CODES } from "node:http";
import { ERROR_STATUS, type ErrorCode } from "@opta/protocol";

/** An error that crosses the wire: a code clients switch on and a message a person can act on. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): { error: { code: string; message: string; details?: unknown } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }

  /**
   * The whole HTTP/1.1 response, for the places that answer on a raw socket (a refused WebSocket
   * upgrade, a request Node's parser rejected); it always closes the connection.
   */
  toHttpResponse(headers: Record<string, string> = {}): string {
    const body = JSON.stringify(this.toBody());
    const extra = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join("");
    return `HTTP/1.1 ${this.status} ${STATUS_CODES[this.status] ?? this.code}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`;
  }
}
