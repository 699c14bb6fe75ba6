import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import { BODY_LIMITS, JsonShapeScanner } from "../../src/server/json-body.js";
import { api, type DaemonProcess, spawnDaemon, tempHome } from "../fixtures/daemon-harness.js";
import { loopProbeEnv, startLoopProbe } from "../fixtures/loop-delay.js";
import { type RawResponse, rawExchange, requestHead } from "../fixtures/raw-http.js";

const LIMIT = BODY_LIMITS.bytes;
const MB = 1024 * 1024;

/** A nested array `[[[…]]]`, `levels` deep. */
function nested(levels: number): string {
  return "[".repeat(levels) + "]".repeat(levels);
}

/** `{"k0":0,"k1":0,…}` with `count` distinct keys. */
function manyKeys(count: number): string {
  const keys: string[] = [];
  for (let index = 0; index < count; index += 1) keys.push(`"k${index}":0`);
  return `{${keys.join(",")}}`;
}

describe("big bodies (family big-body)", () => {
  let daemon: DaemonProcess;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const home = await tempHome();
    cleanup = home.cleanup;
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: "127.0.0.1:9", ...loopProbeEnv(home.home) });
  });
  afterAll(async () => {
    await daemon?.stop();
    await cleanup?.();
  });

  /** A POST /v3/sessions head with the token (unless `token` is false) and the given body headers. */
  function post(headers: Array<[string, string | number]>, token = true): string {
    return requestHead("POST /v3/sessions HTTP/1.1", [
      ["Host", `127.0.0.1:${daemon.port}`],
      ...(token ? ([["Authorization", `Bearer ${daemon.token}`]] as Array<[string, string]>) : []),
      ["Content-Type", "application/json"],
      ...headers,
    ]);
  }

  /** rawExchange against the daemon; a connection held open without an answer is an outcome, not a crash. */
  function send(parts: Array<string | Buffer>, options: Parameters<typeof rawExchange>[2] = {}): Promise<RawResponse> {
    return rawExchange(daemon.port, parts, options).catch((error: Error) => ({
      status: 0,
      statusLine: "",
      headers: {},
      body: error.message,
      errorCode: undefined,
      closed: false,
    }));
  }

  /** A whole JSON body with its Content-Length. */
  function postBody(body: string | Buffer, extra: Array<[string, string]> = []): Array<string | Buffer> {
    return [post([["Content-Length", Buffer.byteLength(body)], ...extra]), body];
  }

  /** A chunked body that streams `chunk` until the answer arrives (at most `maxBytes`). */
  function streaming(chunk: Buffer, maxBytes: number): () => Buffer | undefined {
    let sent = 0;
    return () => {
      if (sent >= maxBytes) return undefined;
      sent += chunk.length;
      return Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
    };
  }

  function outcome(
    attack: string,
    response: RawResponse,
    expected: { status: number; code: string; closed?: boolean },
  ): SecurityCase {
    const problems: string[] = [];
    if (response.status !== expected.status) problems.push(`status ${response.status || "none"}`);
    if (response.errorCode !== expected.code) problems.push(`code ${response.errorCode ?? "none"}`);
    if (expected.closed && !response.closed) problems.push("connection left open");
    return { attack, refused: problems.length === 0, ...(problems.length ? { detail: problems.join(", ") } : {}) };
  }

  it("refuses every big body at once, keeps the event loop under 100 ms and /v3/health answering", async ({ task }) => {
    // Payloads are built before the probe starts (the probe measures the daemon's process only).
    const twoBytes = "{}";
    const nearLimit = JSON.stringify({ title: "x".repeat(LIMIT - 100) });
    const overLimit = JSON.stringify({ title: "x".repeat(LIMIT) });
    const tenMegabytes = Buffer.alloc(10 * MB, 0x20);
    const deep = nested(100_000);
    const deepInField = `{"title":${nested(100_000)}}`;
    const millionKeys = manyKeys(1_000_000);
    const keysUnderLimit = manyKeys(90_000);
    const emptyObjects = `[${Array(Math.floor(LIMIT / 3) - 1)
      .fill("{}")
      .join(",")}]`;
    const gzipBomb = gzipSync(Buffer.alloc(64 * MB, 0x20));
    const badUtf8 = Buffer.concat([Buffer.from('{"title":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    expect(nearLimit.length).toBeLessThan(LIMIT);
    expect(keysUnderLimit.length).toBeLessThan(LIMIT);
    expect(emptyObjects.length).toBeLessThan(LIMIT);

    const call = api(daemon);
    const stopProbe = await startLoopProbe(daemon);
    let attacking = true;
    let healthOk = 0;
    let healthFailed = 0;
    const pinging = (async () => {
      while (attacking || healthOk === 0) {
        const response = await call("/v3/health").catch(() => undefined);
        if (response?.status === 200) healthOk += 1;
        else healthFailed += 1;
        await response?.arrayBuffer();
      }
    })();

    const cases: SecurityCase[] = [];
    const tooLarge = { status: 413, code: "PAYLOAD_TOO_LARGE", closed: true };
    // Declared over the limit, concurrently: each answered on its head, the 2 bytes sent never read further.
    const declared = await Promise.all([
      send([post([["Content-Length", "999999999999"]]), twoBytes]).then((response) =>
        outcome("Content-Length: 999999999999 with a 2-byte body", response, tooLarge),
      ),
      send([post([["Content-Length", "999999999999"]], false), twoBytes]).then((response) =>
        outcome("Content-Length: 999999999999 without a token", response, tooLarge),
      ),
      send([post([["Content-Length", LIMIT + 1]]), twoBytes]).then((response) =>
        outcome("Content-Length: limit + 1 byte", response, tooLarge),
      ),
      ...Array.from({ length: 8 }, (_, index) =>
        send([post([["Content-Length", 10 * MB]]), tenMegabytes.subarray(0, 64 * 1024)]).then((response) =>
          outcome(`10 MB declared, concurrent #${index + 1}`, response, tooLarge),
        ),
      ),
      send([post([["Content-Length", Buffer.byteLength(millionKeys)]]), "{"]).then((response) =>
        outcome("1,000,000 tiny keys (declared, ~12 MB)", response, tooLarge),
      ),
    ]);
    cases.push(...declared);

    // Bodies that are really sent, one after another.
    cases.push(
      outcome("10 MB body sent whole", await send(postBody(tenMegabytes)), tooLarge),
      outcome(
        "chunked body streaming past the limit",
        await send([post([["Transfer-Encoding", "chunked"]])], {
          more: streaming(Buffer.alloc(64 * 1024, 0x20), 4 * MB),
        }),
        tooLarge,
      ),
      outcome("body of limit + 1 byte, sent", await send(postBody(overLimit)), tooLarge),
      outcome("body just under the limit (1 MB title)", await send(postBody(nearLimit)), {
        status: 400,
        code: "VALIDATION_FAILED",
      }),
      outcome("[[[…]]] nested 100,000 deep", await send(postBody(deep)), {
        status: 400,
        code: "BAD_REQUEST",
      }),
      outcome('{"title":[[[…]]]} nested 100,000 deep', await send(postBody(deepInField)), {
        status: 400,
        code: "BAD_REQUEST",
      }),
      outcome("90,000 keys under the byte limit", await send(postBody(keysUnderLimit)), {
        status: 400,
        code: "BAD_REQUEST",
      }),
      outcome("349,000 empty objects", await send(postBody(emptyObjects)), {
        status: 400,
        code: "BAD_REQUEST",
      }),
      outcome(
        "1,000,000 keys, chunked (refused while streaming)",
        await send([post([["Transfer-Encoding", "chunked"]])], {
          more: (() => {
            let offset = 0;
            return () => {
              if (offset >= millionKeys.length) return undefined;
              const piece = Buffer.from(millionKeys.slice(offset, offset + 16 * 1024));
              offset += 16 * 1024;
              return Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n")]);
            };
          })(),
        }),
        { status: 400, code: "BAD_REQUEST", closed: true },
      ),
      outcome(
        "gzip bomb (64 MB of spaces, Content-Encoding: gzip)",
        await send(postBody(gzipBomb, [["Content-Encoding", "gzip"]])),
        { status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
      ),
      outcome("invalid UTF-8 in a string", await send(postBody(badUtf8)), {
        status: 400,
        code: "BAD_REQUEST",
      }),
    );

    attacking = false;
    await pinging;
    const delay = await stopProbe();
    cases.push(
      {
        attack: "event-loop delay in the daemon during the attacks < 100 ms",
        refused: delay.blockedMs < 100,
        detail: `blocked on the CPU at most ${delay.blockedMs.toFixed(1)} ms (raw max ${delay.maxMs.toFixed(1)} ms), p99 ${delay.p99Ms.toFixed(1)} ms over ${delay.samples} samples, longest GC ${delay.maxGcMs.toFixed(1)} ms`,
      },
      {
        attack: "/v3/health answers throughout",
        refused: healthFailed === 0 && healthOk > 0,
        detail: `${healthOk} answered, ${healthFailed} failed`,
      },
    );
    const report = reportFamily(task, "big-body", cases);
    expect(report.through).toEqual([]);
    expect(daemon.child.exitCode).toBeNull();
  });

  it("keeps the connection for the next request once a body was read", async () => {
    // The Connection: close of a refused body must not spread to bodies that were read.
    const response = await send(postBody(JSON.stringify({ title: "kept" })));
    expect(response.status).toBe(201);
    expect(response.headers.connection).toBe("keep-alive");
    expect(response.headers["keep-alive"]).toBeDefined();
    expect(response.closed).toBe(false);
  });

  it("shows what the limits stop: deep JSON that parses is a stack overflow for what comes after", () => {
    // V8's JSON.parse is iterative, so the nesting alone passes it; anything recursive afterwards
    // (JSON.stringify into a log line, a schema walk) throws. The scanner refuses it on the way in.
    const value = JSON.parse(nested(100_000)) as unknown;
    expect(() => JSON.stringify(value)).toThrow(RangeError);
    expect(new JsonShapeScanner(BODY_LIMITS).feed(Buffer.from(nested(100_000)))).toMatch(/deeper than 64/);
    expect(new JsonShapeScanner(BODY_LIMITS).feed(Buffer.from(nested(64)))).toBeUndefined();
    // Brackets, colons and escaped quotes inside strings are text, not structure.
    expect(
      new JsonShapeScanner(BODY_LIMITS).feed(Buffer.from(JSON.stringify({ text: `${"[{:".repeat(50_000)}\\"` }))),
    ).toBeUndefined();
  });
});
