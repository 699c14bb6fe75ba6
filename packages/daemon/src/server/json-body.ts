import type { IncomingMessage } from "node:http";
import type { NextFunction, Request, Response } from "express";
import { ApiError } from "./api-error.js";

/**
 * Bounds on a JSON request body, each checked while the body arrives so that no body costs more
 * than a few milliseconds of the event loop. Every request body the API takes is a flat object of a
 * few fields; the largest is a turn's text (1,000,000 characters at most).
 */
export interface JsonLimits {
  /** Bytes on the wire. */
  bytes: number;
  /** Nesting of arrays and objects: `[[[…]]]` 500,000 deep takes V8 ~200 ms to parse (and is a stack overflow for anything recursive after it). */
  depth: number;
  /** Arrays and objects in all: 250,000 `{}` take ~50 ms to parse. */
  containers: number;
  /** Object members in all: 120,000 distinct keys take ~140 ms to parse, and as long again to validate. */
  keys: number;
}

/** Limits for the API's bodies. */
export const BODY_LIMITS: JsonLimits = { bytes: 1024 * 1024, depth: 64, containers: 10_000, keys: 10_000 };

/** True when a request says it carries a body (a non-zero Content-Length, or Transfer-Encoding). */
export function declaresBody(request: IncomingMessage): boolean {
  const length = request.headers["content-length"];
  return (length !== undefined && length !== "0") || request.headers["transfer-encoding"] !== undefined;
}

/**
 * Checks the declared Content-Length before a byte of the body is read: over `limit` is a 413 at
 * once (body-parser would read, and discard, all 999,999,999,999 declared bytes before answering).
 * Node's parser has already refused lengths that are not digits; this is the second line.
 */
export function declaredLengthError(request: IncomingMessage, limit: number): ApiError | undefined {
  const length = request.headers["content-length"];
  if (length === undefined) return undefined;
  if (!/^\d{1,16}$/.test(length)) {
    return new ApiError("BAD_REQUEST", "Content-Length must be a whole number of bytes.");
  }
  if (Number(length) > limit) return new ApiError("PAYLOAD_TOO_LARGE", tooLargeMessage(limit, Number(length)));
  return undefined;
}

function tooLargeMessage(limit: number, declared?: number): string {
  const size = declared === undefined ? "larger than" : `${declared} bytes, over`;
  return `The request body is ${size} the limit of ${formatBytes(limit)}; send a smaller body (a turn's text is at most 1,000,000 characters).`;
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MB` : `${bytes / 1024} KB`;
}

/**
 * Follows the structure of JSON text byte by byte, across chunks, counting nesting, containers and
 * keys without building anything. JSON's structural characters are ASCII, and no byte of a UTF-8
 * multi-byte sequence is below 0x80, so bytes can be scanned before the text is decoded. It does
 * not validate: JSON.parse does that, once the text is known to be cheap to parse.
 */
export class JsonShapeScanner {
  private depth = 0;
  private containers = 0;
  private keys = 0;
  private inString = false;
  private escaped = false;

  constructor(private readonly limits: JsonLimits) {}

  /** Scans the next chunk; returns the limit it broke, worded for the error message, if any. */
  feed(chunk: Uint8Array): string | undefined {
    for (let index = 0; index < chunk.length; index += 1) {
      const byte = chunk[index]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === 0x5c) this.escaped = true;
        else if (byte === 0x22) this.inString = false;
        continue;
      }
      if (byte === 0x22) {
        this.inString = true;
      } else if (byte === 0x7b || byte === 0x5b) {
        this.depth += 1;
        this.containers += 1;
        if (this.depth > this.limits.depth) return `arrays and objects nest deeper than ${this.limits.depth} levels`;
        if (this.containers > this.limits.containers)
          return `it holds more than ${this.limits.containers} arrays and objects`;
      } else if (byte === 0x7d || byte === 0x5d) {
        this.depth -= 1;
      } else if (byte === 0x3a) {
        this.keys += 1;
        if (this.keys > this.limits.keys) return `it holds more than ${this.limits.keys} object keys`;
      }
    }
    return undefined;
  }
}

/**
 * Reads a JSON body within `limits` into `request.body`, refusing it the moment it breaks one: a
 * body over the byte limit (declared, or found while a chunked body streams) is a 413, too deep or
 * too many keys is a 400, and reading stops there (the connection is closed after the answer, see
 * http.ts). Compressed bodies are refused (a small gzip can inflate to gigabytes), and only UTF-8.
 * Requests without a JSON body pass through untouched.
 */
export function jsonBody(limits: JsonLimits = BODY_LIMITS) {
  return (request: Request, _response: Response, next: NextFunction): void => {
    if (!declaresBody(request) || !request.is("application/json")) {
      next();
      return;
    }
    const refused = declaredLengthError(request, limits.bytes) ?? encodingError(request);
    if (refused) {
      next(refused);
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    const scanner = new JsonShapeScanner(limits);
    const detach = () => {
      request.off("data", onData);
      request.off("end", onEnd);
      request.off("error", detach);
    };
    const refuse = (error: ApiError) => {
      detach();
      request.pause();
      next(error);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.bytes) {
        refuse(new ApiError("PAYLOAD_TOO_LARGE", tooLargeMessage(limits.bytes)));
        return;
      }
      const problem = scanner.feed(chunk);
      if (problem) {
        refuse(new ApiError("BAD_REQUEST", `The request body is refused: ${problem}. Send a flatter, smaller body.`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      detach();
      try {
        request.body = parseJson(Buffer.concat(chunks, received));
        next();
      } catch (error) {
        next(error);
      }
    };
    request.on("data", onData);
    request.on("end", onEnd);
    // The client went away mid-body: there is no one to answer.
    request.on("error", detach);
  };
}

function encodingError(request: IncomingMessage): ApiError | undefined {
  const encoding = request.headers["content-encoding"];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== "identity") {
    return new ApiError(
      "UNSUPPORTED_MEDIA_TYPE",
      `Send the body uncompressed; Content-Encoding '${encoding}' is not accepted.`,
    );
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers["content-type"] ?? "")?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    return new ApiError("UNSUPPORTED_MEDIA_TYPE", `Send the body as UTF-8; charset '${charset}' is not accepted.`);
  }
  return undefined;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes and parses a body that passed the scanner; an empty body is `{}` (as body-parser had it). */
function parseJson(buffer: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(buffer);
  } catch {
    throw new ApiError("BAD_REQUEST", "The request body is not valid UTF-8.");
  }
  const start = text.trimStart();
  if (start === "") return {};
  // Only objects and arrays, as body-parser's `strict` had it: a bare string or number is a client bug.
  if (start[0] !== "{" && start[0] !== "[") {
    throw new ApiError("BAD_REQUEST", "The request body is not valid JSON: it must be an object.");
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError("BAD_REQUEST", `The request body is not valid JSON: ${(error as Error).message}`);
  }
}
