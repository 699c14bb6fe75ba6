import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import { api, type DaemonProcess, spawnDaemon, tempHome } from "../fixtures/daemon-harness.js";
import { type RawResponse, rawExchange, requestHead } from "../fixtures/raw-http.js";

const DEV_ORIGINS = ["http://localhost:5173", "http://127.0.0.1:5173"];
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** What a refused request must look like: that status, a JSON error with that code, never a 101. */
interface Expected {
  status: number;
  code?: string;
}

function judge(attack: string, response: RawResponse, expected: Expected): SecurityCase {
  const problems: string[] = [];
  if (response.status === 101) problems.push("upgraded (101)");
  else if (response.status !== expected.status) problems.push(`status ${response.status || "none"}`);
  if (expected.code && response.errorCode !== expected.code) problems.push(`code ${response.errorCode ?? "none"}`);
  return { attack, refused: problems.length === 0, ...(problems.length ? { detail: problems.join(", ") } : {}) };
}

/** A WebSocket upgrade head for `target`, with the usual handshake headers unless overridden. */
function upgrade(port: number, target: string, overrides: Record<string, string | undefined> = {}): string {
  const headers: Record<string, string | undefined> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": KEY,
    "Sec-WebSocket-Version": "13",
    ...overrides,
  };
  const method = overrides[":method"] ?? "GET";
  const present = Object.entries(headers).filter(
    (entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith(":"),
  );
  return requestHead(`${method} ${target} HTTP/1.1`, present);
}

/** Status of a WebSocket opened with the `ws` client (101 when it opens). */
function wsStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.on("unexpected-response", (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.on("open", () => {
      resolve(101);
      socket.close();
    });
    socket.on("error", reject);
  });
}

describe("edges of the wire (family wire-edges)", () => {
  let production: DaemonProcess;
  let dev: DaemonProcess;
  let devByFlag: DaemonProcess;
  const cleanups: Array<() => Promise<void>> = [];
  let sessionId: string;

  beforeAll(async () => {
    const homes = await Promise.all([tempHome(), tempHome(), tempHome()]);
    cleanups.push(...homes.map((home) => home.cleanup));
    const env = { OPTA_LMX_HOST: "127.0.0.1:9" };
    [production, dev, devByFlag] = await Promise.all([
      spawnDaemon(homes[0]!.home, { ...env, OPTA_DEV: "" }),
      spawnDaemon(homes[1]!.home, { ...env, OPTA_DEV: "1" }),
      spawnDaemon(homes[2]!.home, { ...env, OPTA_DEV: "" }, ["--dev"]),
    ]);
    const created = await api(production)("/v3/sessions", { method: "POST", json: {} });
    sessionId = ((await created.json()) as { id: string }).id;
  });
  afterAll(async () => {
    await Promise.all([production, dev, devByFlag].map((daemon) => daemon?.stop()));
    await Promise.all(cleanups.map((cleanup) => cleanup()));
  });

  /** Origin checks against `daemon`: CORS preflight, a simple request, and a WebSocket upgrade. */
  async function originCases(daemon: DaemonProcess, label: string, origin: string): Promise<SecurityCase[]> {
    const host = `127.0.0.1:${daemon.port}`;
    const preflight = await rawExchange(daemon.port, [
      requestHead("OPTIONS /v3/sessions HTTP/1.1", [
        ["Host", host],
        ["Origin", origin],
        ["Access-Control-Request-Method", "POST"],
        ["Access-Control-Request-Headers", "authorization, content-type"],
      ]),
    ]);
    const simple = await rawExchange(daemon.port, [
      requestHead("GET /v3/health HTTP/1.1", [
        ["Host", host],
        ["Origin", origin],
        ["Authorization", `Bearer ${daemon.token}`],
      ]),
    ]);
    const socket = await rawExchange(daemon.port, [
      upgrade(daemon.port, `/v3/events?token=${daemon.token}`, { Origin: origin }),
    ]);
    const noGrant = (response: RawResponse) => response.headers["access-control-allow-origin"] === undefined;
    return [
      {
        attack: `${label}: CORS preflight from ${origin}`,
        refused: preflight.status === 403 && preflight.errorCode === "FORBIDDEN_ORIGIN" && noGrant(preflight),
        detail: `status ${preflight.status}, allow-origin ${preflight.headers["access-control-allow-origin"]}`,
      },
      {
        attack: `${label}: GET with Origin ${origin}`,
        refused: noGrant(simple),
        detail: `allow-origin ${simple.headers["access-control-allow-origin"]}`,
      },
      judge(`${label}: WebSocket upgrade with Origin ${origin}`, socket, { status: 403, code: "FORBIDDEN_ORIGIN" }),
    ];
  }

  it("refuses the dev origin in production, foreign origins always, and malformed upgrades and requests with a 400", async ({
    task,
  }) => {
    const port = production.port;
    const token = production.token;
    const cases: SecurityCase[] = [];

    // Origins. The Vite dev server's origin is refused by a production daemon; foreign ones by all.
    for (const origin of DEV_ORIGINS) cases.push(...(await originCases(production, "production", origin)));
    const foreign = [
      "http://evil.example",
      "null",
      `http://127.0.0.1:${port + 1}`,
      `https://localhost:${port}`,
      `http://localhost:${port}.evil.example`,
      `http://127.0.0.1:${port}/`,
    ];
    for (const origin of foreign) cases.push(...(await originCases(production, "production", origin)));
    for (const origin of ["http://evil.example", "null", "http://localhost:5174"]) {
      cases.push(...(await originCases(dev, "dev mode", origin)));
    }
    cases.push(
      judge(
        "two Origin headers (own, then foreign)",
        await rawExchange(port, [
          requestHead("GET /v3/health HTTP/1.1", [
            ["Host", `127.0.0.1:${port}`],
            ["Origin", `http://127.0.0.1:${port}`],
            ["Origin", "http://evil.example"],
            ["Authorization", `Bearer ${token}`],
          ]),
        ]),
        { status: 400, code: "BAD_REQUEST" },
      ),
    );

    // Malformed WebSocket upgrades: an HTTP 400 with a JSON body before any 101.
    const stream = `/v3/sessions/${sessionId}/stream`;
    const badUpgrades: Array<[string, string, Expected]> = [
      ["bad percent-encoding in the session id", `/v3/sessions/%E0%A4%A/stream?token=${token}`, { status: 400 }],
      ["truncated percent-escape in the session id", `/v3/sessions/s-%ZZ/stream?token=${token}`, { status: 400 }],
      ["session id with a path", `/v3/sessions/..%2F..%2Fetc%2Fpasswd/stream?token=${token}`, { status: 400 }],
      ["session id in capitals", `/v3/sessions/S-ABCDEFGH0000/stream?token=${token}`, { status: 400 }],
      ["session id too short", `/v3/sessions/s-abc/stream?token=${token}`, { status: 400 }],
      ["session id too long", `/v3/sessions/s-${"a".repeat(100)}/stream?token=${token}`, { status: 400 }],
      ["afterSeq=abc", `${stream}?token=${token}&afterSeq=abc`, { status: 400 }],
      ["afterSeq=-1", `${stream}?token=${token}&afterSeq=-1`, { status: 400 }],
      ["afterSeq=1e999", `${stream}?token=${token}&afterSeq=1e999`, { status: 400 }],
      ["afterSeq=1e20 (an integer to Number.isInteger)", `${stream}?token=${token}&afterSeq=1e20`, { status: 400 }],
      ["afterSeq=0x10", `${stream}?token=${token}&afterSeq=0x10`, { status: 400 }],
      ["afterSeq= (empty)", `${stream}?token=${token}&afterSeq=`, { status: 400 }],
      ["afterSeq past 2^53", `${stream}?token=${token}&afterSeq=9007199254740993`, { status: 400 }],
      ["afterSeq with bad percent-encoding", `${stream}?token=${token}&afterSeq=%E0%A4%A`, { status: 400 }],
      ["afterSeq twice", `${stream}?token=${token}&afterSeq=1&afterSeq=2`, { status: 400 }],
      ["unknown parameter since=abc", `${stream}?token=${token}&since=abc`, { status: 400 }],
      ["token twice", `/v3/events?token=${token}&token=${token}`, { status: 400 }],
      ["cursor=garbage", `/v3/events?token=${token}&cursor=garbage`, { status: 400 }],
      ["cursor past the last Date", `/v3/events?token=${token}&cursor=00000000.1.zzzzzzzzzzz`, { status: 400 }],
      ["cursor with four parts", `/v3/events?token=${token}&cursor=deadbeef.1.2.3`, { status: 400 }],
      ["cursor with bad percent-encoding", `/v3/events?token=${token}&cursor=%ZZ`, { status: 400 }],
      ["events filter that is not event names", `/v3/events?token=${token}&events=Turn.Start!`, { status: 400 }],
      ["request target //host/path", `//evil.example/v3/events?token=${token}`, { status: 400 }],
      ["absolute-form target", `ws://evil.example/v3/events?token=${token}`, { status: 400 }],
    ];
    for (const [attack, target, expected] of badUpgrades) {
      cases.push(judge(`upgrade: ${attack}`, await rawExchange(port, [upgrade(port, target)]), expected));
    }
    const events = `/v3/events?token=${token}`;
    const badHandshakes: Array<[string, Record<string, string | undefined>]> = [
      ["no Sec-WebSocket-Key", { "Sec-WebSocket-Key": undefined }],
      ["Sec-WebSocket-Key not 16 bytes of base64", { "Sec-WebSocket-Key": "not-a-key" }],
      ["Sec-WebSocket-Version 12", { "Sec-WebSocket-Version": "12" }],
      ["no Sec-WebSocket-Version", { "Sec-WebSocket-Version": undefined }],
      ["Upgrade: h2c", { Upgrade: "h2c" }],
      ["POST upgrade", { ":method": "POST" }],
      ["malformed Sec-WebSocket-Protocol", { "Sec-WebSocket-Protocol": "a b, ,c" }],
      ["two Host headers", { Host: `127.0.0.1:${port}\r\nHost: evil.example` }],
    ];
    for (const [attack, overrides] of badHandshakes) {
      cases.push(
        judge(`upgrade: ${attack}`, await rawExchange(port, [upgrade(port, events, overrides)]), {
          status: 400,
          code: "BAD_REQUEST",
        }),
      );
    }
    cases.push(
      judge(
        "plain GET of a WebSocket endpoint (no Upgrade)",
        await rawExchange(port, [requestHead(`GET ${events} HTTP/1.1`, [["Host", `127.0.0.1:${port}`]])]),
        { status: 400, code: "BAD_REQUEST" },
      ),
    );

    // Request-smuggling style: what a proxy and the daemon could read differently is refused.
    const host = `127.0.0.1:${port}`;
    const auth = `Authorization: Bearer ${token}\r\n`;
    const raw: Array<[string, string, Expected]> = [
      [
        "two Host headers (own, then foreign)",
        `GET /v3/health HTTP/1.1\r\nHost: ${host}\r\nHost: evil.example\r\n${auth}\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "two Host headers (foreign, then own)",
        `GET /v3/health HTTP/1.1\r\nHost: evil.example\r\nHost: ${host}\r\n${auth}\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "two Authorization headers",
        `GET /v3/health HTTP/1.1\r\nHost: ${host}\r\n${auth}Authorization: Bearer other\r\n\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "absolute-form URI to another host",
        `GET http://evil.example/v3/health HTTP/1.1\r\nHost: ${host}\r\n${auth}\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "absolute-form URI to the daemon itself",
        `GET http://${host}/v3/health HTTP/1.1\r\nHost: ${host}\r\n${auth}\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "target //evil.example/v3/health",
        `GET //evil.example/v3/health HTTP/1.1\r\nHost: ${host}\r\n${auth}\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "OPTIONS * (asterisk-form)",
        `OPTIONS * HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "Content-Length with Transfer-Encoding",
        `POST /v3/sessions HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "two Content-Length headers",
        `POST /v3/sessions HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\n{}`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "Content-Length: 12abc",
        `POST /v3/sessions HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nContent-Length: 12abc\r\n\r\n{}`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "Content-Length: -1",
        `POST /v3/sessions HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nContent-Length: -1\r\n\r\n{}`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "Content-Length: 1e3",
        `POST /v3/sessions HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nContent-Length: 1e3\r\n\r\n{}`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "Content-Length: 2, 2",
        `POST /v3/sessions HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nContent-Length: 2, 2\r\n\r\n{}`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "Transfer-Encoding: xchunked",
        `POST /v3/sessions HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "Transfer-Encoding: chunked, chunked",
        `POST /v3/sessions HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "space before a header's colon",
        `GET /v3/health HTTP/1.1\r\nHost : evil.example\r\nHost: ${host}\r\n${auth}\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "folded header line (obs-fold)",
        `GET /v3/health HTTP/1.1\r\nHost: ${host}\r\n${auth}X-A: b\r\n c\r\n\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "bare LF line endings",
        `GET /v3/health HTTP/1.1\nHost: ${host}\n${auth.replace("\r\n", "\n")}\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "NUL in a header value",
        `GET /v3/health HTTP/1.1\r\nHost: ${host}\r\n${auth}X-A: a\u0000b\r\n\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      [
        "20 KB header",
        `GET /v3/health HTTP/1.1\r\nHost: ${host}\r\n${auth}X-A: ${"a".repeat(20_000)}\r\n\r\n`,
        { status: 400, code: "BAD_REQUEST" },
      ],
      ["HTTP/1.1 without Host", `GET /v3/health HTTP/1.1\r\n${auth}\r\n`, { status: 403, code: "FORBIDDEN_HOST" }],
      ["HTTP/1.0 without Host", `GET /v3/health HTTP/1.0\r\n${auth}\r\n`, { status: 403, code: "FORBIDDEN_HOST" }],
      [
        "Host with userinfo (evil@127.0.0.1)",
        `GET /v3/health HTTP/1.1\r\nHost: evil@${host}\r\n${auth}\r\n`,
        { status: 403, code: "FORBIDDEN_HOST" },
      ],
      [
        "Host with a trailing dot (localhost.)",
        `GET /v3/health HTTP/1.1\r\nHost: localhost.:${port}\r\n${auth}\r\n`,
        { status: 403, code: "FORBIDDEN_HOST" },
      ],
    ];
    for (const [attack, text, expected] of raw) cases.push(judge(attack, await rawExchange(port, [text]), expected));
    // CONNECT has no handler: Node closes the connection without a tunnel.
    const connectResponse = await rawExchange(port, [
      `CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n${auth}\r\n`,
    ]);
    cases.push({
      attack: "CONNECT evil.example:443",
      refused: connectResponse.closed && (connectResponse.status === 0 || connectResponse.status >= 400),
      detail: `status ${connectResponse.status || "none"}`,
    });

    const report = reportFamily(task, "wire-edges", cases);
    expect(report.through).toEqual([]);
    // And the daemon is fine.
    expect((await api(production)("/v3/health")).status).toBe(200);
    expect(production.child.exitCode).toBeNull();
  });

  it("grants the dev origin CORS and WebSockets only in dev mode (OPTA_DEV=1 or --dev)", async () => {
    for (const daemon of [dev, devByFlag]) {
      for (const origin of DEV_ORIGINS) {
        const preflight = await rawExchange(daemon.port, [
          requestHead("OPTIONS /v3/sessions HTTP/1.1", [
            ["Host", `127.0.0.1:${daemon.port}`],
            ["Origin", origin],
            ["Access-Control-Request-Method", "POST"],
          ]),
        ]);
        expect(preflight.status).toBe(204);
        expect(preflight.headers["access-control-allow-origin"]).toBe(origin);
        expect(await wsStatus(`ws://127.0.0.1:${daemon.port}/v3/events?token=${daemon.token}`, { origin })).toBe(101);
      }
    }
    // The refusal in production says how to turn dev mode on.
    const refused = await rawExchange(production.port, [
      upgrade(production.port, `/v3/events?token=${production.token}`, { Origin: "http://localhost:5173" }),
    ]);
    expect(refused.status).toBe(403);
    expect(refused.body).toContain("OPTA_DEV=1");
  });

  it("keeps its own origin and clients without an Origin (the CLI) working", async () => {
    const own = `http://127.0.0.1:${production.port}`;
    const preflight = await rawExchange(production.port, [
      requestHead("OPTIONS /v3/sessions HTTP/1.1", [
        ["Host", `127.0.0.1:${production.port}`],
        ["Origin", own],
        ["Access-Control-Request-Method", "POST"],
      ]),
    ]);
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe(own);
    const base = `ws://127.0.0.1:${production.port}`;
    expect(await wsStatus(`${base}/v3/events?token=${production.token}`, { origin: own })).toBe(101);
    expect(
      await wsStatus(`${base}/v3/events?token=${production.token}`, { origin: `http://localhost:${production.port}` }),
    ).toBe(101);
    // No Origin at all: the CLI and the SDK on Node.
    expect((await api(production)("/v3/health")).status).toBe(200);
    expect(await wsStatus(`${base}/v3/events?token=${production.token}`)).toBe(101);
    expect(await wsStatus(`${base}/v3/sessions/${sessionId}/stream?token=${production.token}&afterSeq=0`)).toBe(101);
    // A cursor the daemon issued (this run or another epoch) still resumes.
    expect(
      await wsStatus(`${base}/v3/events?token=${production.token}&cursor=deadbeef.1.${Date.now().toString(36)}`),
    ).toBe(101);
    // A well-formed id of no session still opens and closes with 4404, as the SDK expects.
    const closeCode = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${base}/v3/sessions/s-000000000000000/stream?token=${production.token}`);
      socket.on("close", (code) => resolve(code));
      socket.on("error", reject);
    });
    expect(closeCode).toBe(4404);
  });

  it("shows what the upgrade checks stop: the old handler threw on these before answering", () => {
    // The old code ran decodeURIComponent on the id (URIError: the socket was dropped), took
    // Number('1e20') as a whole number, and fed a cursor's time to Date (RangeError after the 101: 1011).
    expect(() => decodeURIComponent("%E0%A4%A")).toThrow(URIError);
    expect(Number.isInteger(Number("1e20"))).toBe(true);
    expect(() => new Date(Number.parseInt("zzzzzzzzzzz", 36)).toISOString()).toThrow(RangeError);
  });
});
