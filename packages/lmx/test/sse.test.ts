import type { ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import { SseStream } from "../src/server/sse.js";

/** The parts of a ServerResponse SseStream uses, recording every write. */
function fakeResponse() {
  const writes: string[] = [];
  const response = {
    writableEnded: false,
    status: 0,
    writeHead(status: number) {
      this.status = status;
      return this;
    },
    write(text: string) {
      writes.push(text);
      return true;
    },
    end(text: string) {
      writes.push(text);
      this.writableEnded = true;
    },
  };
  return { response, writes };
}

describe("SSE stream", () => {
  it("writes chunks after the token callback, in order and together, and flushes them before [DONE]", async () => {
    const { response, writes } = fakeResponse();
    const sse = new SseStream(response as unknown as ServerResponse);
    sse.send({ n: 1 });
    sse.send({ n: 2 });
    // Committed to a 200 stream at once, but nothing written inside the callback.
    expect(sse.isOpen).toBe(true);
    expect(response.status).toBe(200);
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(['data: {"n":1}\n\ndata: {"n":2}\n\n']);
    sse.send({ n: 3 });
    sse.end();
    expect(writes.at(-1)).toBe('data: {"n":3}\n\ndata: [DONE]\n\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveLength(2);
  });
});
