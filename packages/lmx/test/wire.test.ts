import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import type { LmxServer } from "../src/index.js";
import { startTestLmx, tinyModelsDir } from "./helpers.js";

// The edges of LMX's HTTP: bodies declared too large, Content-Length headers the parser must not
// guess at, bodies that never end. Each is replayed on a raw socket, because fetch would refuse to
// send most of them.

let server: LmxServer;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const models = await tinyModelsDir();
  cleanup = models.cleanup;
  server = await startTestLmx({ modelsDir: models.dir });
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

type RawAnswer = { status: number; headers: string; body: { error?: { code: string; message: string } } | null };

/**
 * Writes `head` (and then `body`, if any, as a stream of chunks) and resolves with the response once
 * the server has closed the connection; a server that keeps it open fails the test by its timeout.
 */
function raw(head: string, body?: { chunk: Buffer; times: number }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, "127.0.0.1");
    let received = "";
    let answered = false;
    socket.on("data", (data) => {
      received += data.toString("latin1");
      answered = true;
    });
    socket.on("error", (error) => {
      // The server may reset while a long body is still being written; its answer came first.
      if (!answered) reject(error);
    });
    socket.on("close", () => {
      const [headers = "", text = ""] = received.split("\r\n\r\n");
      let parsed: RawAnswer["body"] = null;
      try {
        parsed = JSON.parse(text);
      } catch {}
      resolve({ status: Number(headers.split(" ")[1]), headers, body: parsed });
    });
    socket.write(head);
    if (body) {
      let sent = 0;
      const pump = () => {
        while (sent < body.times && !answered && !socket.destroyed) {
          sent++;
          const frame = Buffer.concat([
            Buffer.from(`${body.chunk.length.toString(16)}\r\n`),
            body.chunk,
            Buffer.from("\r\n"),
          ]);
          if (!socket.write(frame)) return void socket.once("drain", pump);
        }
      };
      pump();
    }
  });
}

const post = (headers: string, tail = "{}") =>
  `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${headers}\r\n${tail}`;

describe("HTTP edges", () => {
  it("refuses oversized and malformed bodies at once, in JSON, and closes the connection", async ({ task }) => {
    const cases: SecurityCase[] = [];
    const expectRefusal = async (attack: string, answer: Promise<RawAnswer>, status: number, code: string) => {
      const got = await answer;
      cases.push({
        attack,
        refused: got.status === status && got.body?.error?.code === code && /connection: close/i.test(got.headers),
        detail: `${got.status} ${got.body?.error?.code ?? "(no JSON body)"}`,
      });
      return got;
    };

    // Only 2 of the declared bytes are sent: an answer at all shows the body was not awaited.
    const huge = await expectRefusal(
      "Content-Length: 999999999999 with a 2-byte body",
      raw(post("Content-Length: 999999999999\r\n")),
      413,
      "payload_too_large",
    );
    expect(huge.body?.error?.message).toContain("999999999999");
    await expectRefusal(
      "Content-Length: 16 MiB + 1 with no body",
      raw(post(`Content-Length: ${16 * 1024 * 1024 + 1}\r\n`, "")),
      413,
      "payload_too_large",
    );
    for (const value of ["abc", "-1", "5, 7", "1e3", "0x10", " 2 2"]) {
      await expectRefusal(
        `Content-Length: ${JSON.stringify(value)}`,
        raw(post(`Content-Length: ${value}\r\n`)),
        400,
        "invalid_request",
      );
    }
    await expectRefusal(
      "two different Content-Length headers",
      raw(post("Content-Length: 2\r\nContent-Length: 3\r\n")),
      400,
      "invalid_request",
    );
    await expectRefusal(
      "Content-Length together with Transfer-Encoding: chunked",
      raw(post("Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", "2\r\n{}\r\n0\r\n\r\n")),
      400,
      "invalid_request",
    );
    await expectRefusal(
      "a chunked body that goes on past 16 MiB",
      raw(post("Transfer-Encoding: chunked\r\n", ""), { chunk: Buffer.alloc(1024 * 1024, 0x20), times: 64 }),
      413,
      "payload_too_large",
    );

    // The server still answers afterwards.
    cases.push({ attack: "still serving afterwards", refused: (await fetch(`${server.url}/health`)).status === 200 });
    const report = reportFamily(task, "lmx-wire", cases);
    expect(report.through).toEqual([]);
  });
});
