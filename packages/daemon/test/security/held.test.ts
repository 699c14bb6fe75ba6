import { symlink, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import { type DaemonProcess, spawnDaemon, tempHome } from "../fixtures/daemon-harness.js";
import { makeWorkspace } from "../tool/workspace.js";

// The attacks that already held before the containment work (auth, DNS rebinding, path escapes),
// replayed so that the security summary counts them and a regression shows up as a family that
// lets something through.

function raw(
  port: number,
  options: { path: string; method?: string; headers?: Record<string, string> },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path: options.path, method: options.method ?? "GET", headers: options.headers },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function wsStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers });
    socket.on("unexpected-response", (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.on("open", () => {
      resolve(101);
      socket.close();
    });
    // A refused socket is a refusal too (status 0), never an open one.
    socket.on("error", () => resolve(0));
  });
}

/** Sends raw bytes and returns the status code of the first response line (0 if none). */
function rawStatus(port: number, bytes: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.end(bytes));
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk;
    });
    socket.on("error", () => resolve(0));
    socket.on("close", () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0)));
  });
}

const ROUTES: Array<[string, string]> = [
  ["GET", "/v3/daemon"],
  ["POST", "/v3/daemon/stop"],
  ["GET", "/v3/daemon/logs"],
  ["GET", "/v3/sessions"],
  ["POST", "/v3/sessions"],
  ["GET", "/v3/sessions/s-000000000000000/events"],
  ["POST", "/v3/sessions/s-000000000000000/turns"],
  ["POST", "/v3/sessions/s-000000000000000/permissions/p-000000000000000"],
  ["GET", "/v3/sessions/s-000000000000000/export?format=md"],
  ["GET", "/v3/models"],
  ["POST", "/v3/auth/codes"],
  ["GET", "/v3/mcp/servers"],
];

describe("attacks that already held", () => {
  let daemon: DaemonProcess;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const home = await tempHome();
    cleanup = home.cleanup;
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: "127.0.0.1:9" });
  });
  afterAll(async () => {
    await daemon?.stop();
    await cleanup?.();
  });

  it("auth: no route and no WebSocket answers without the right bearer token", async ({ task }) => {
    const cases: SecurityCase[] = [];
    const tokens: Array<[string, Record<string, string>]> = [
      ["no token", {}],
      ["wrong token", { authorization: "Bearer nope" }],
      ["token as Basic", { authorization: `Basic ${Buffer.from(`x:${daemon.token}`).toString("base64")}` }],
      ["token prefix", { authorization: `Bearer ${daemon.token.slice(0, -1)}` }],
      ["token in query", {}],
    ];
    for (const [label, headers] of tokens) {
      for (const [method, path] of ROUTES) {
        const query = label === "token in query" ? `${path.includes("?") ? "&" : "?"}token=${daemon.token}` : "";
        const response = await raw(daemon.port, { method, path: `${path}${query}`, headers });
        cases.push({
          attack: `${method} ${path} (${label})`,
          refused: response.status === 401,
          detail: `status ${response.status}`,
        });
      }
    }
    const base = `ws://127.0.0.1:${daemon.port}`;
    for (const url of [
      `${base}/v3/events`,
      `${base}/v3/events?token=wrong`,
      `${base}/v3/sessions/s-000000000000000/stream?afterSeq=0`,
    ]) {
      const status = await wsStatus(url);
      cases.push({
        attack: `WebSocket ${url.slice(base.length)}`,
        refused: status !== 101,
        detail: `status ${status}`,
      });
    }
    const result = reportFamily(task, "auth", cases);
    expect(result.through).toEqual([]);
    // The check is not vacuous: the right token is let in.
    expect(await wsStatus(`${base}/v3/events?token=${daemon.token}`)).toBe(101);
  });

  it("dns-rebinding: a foreign Host or Origin is refused on HTTP and WebSocket", async ({ task }) => {
    const auth = { authorization: `Bearer ${daemon.token}` };
    const cases: SecurityCase[] = [];
    for (const host of [
      "evil.example",
      `evil.example:${daemon.port}`,
      "127.0.0.1:1",
      `localhost.evil.example:${daemon.port}`,
      `127.0.0.1.nip.io:${daemon.port}`,
      `[::2]:${daemon.port}`,
    ]) {
      const response = await raw(daemon.port, { path: "/v3/health", headers: { ...auth, host } });
      cases.push({ attack: `Host: ${host}`, refused: response.status === 403 });
      const ws = await wsStatus(`ws://127.0.0.1:${daemon.port}/v3/events?token=${daemon.token}`, { host });
      cases.push({ attack: `WebSocket Host: ${host}`, refused: ws !== 101, detail: `status ${ws}` });
    }
    // Node's client fills in an empty Host, so requests without one go over a raw socket.
    for (const [label, head] of [
      ["HTTP/1.1 without Host", "GET /v3/health HTTP/1.1\r\n"],
      ["HTTP/1.0 without Host", "GET /v3/health HTTP/1.0\r\n"],
      ["empty Host", "GET /v3/health HTTP/1.1\r\nHost: \r\n"],
    ] as const) {
      const status = await rawStatus(
        daemon.port,
        `${head}Authorization: Bearer ${daemon.token}\r\nConnection: close\r\n\r\n`,
      );
      cases.push({ attack: label, refused: status === 400 || status === 403, detail: `status ${status}` });
    }
    for (const origin of ["http://evil.example", `http://evil.example:${daemon.port}`, "null", "file://"]) {
      const preflight = await raw(daemon.port, {
        path: "/v3/sessions",
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST" },
      });
      cases.push({
        attack: `CORS preflight from ${origin}`,
        refused: preflight.headers["access-control-allow-origin"] === undefined,
      });
      const simple = await raw(daemon.port, { path: "/v3/sessions", headers: { ...auth, origin } });
      cases.push({
        attack: `GET with Origin ${origin}`,
        refused: simple.headers["access-control-allow-origin"] === undefined,
      });
      const ws = await wsStatus(`ws://127.0.0.1:${daemon.port}/v3/events?token=${daemon.token}`, { origin });
      cases.push({ attack: `WebSocket Origin ${origin}`, refused: ws !== 101, detail: `status ${ws}` });
    }
    const result = reportFamily(task, "dns-rebinding", cases);
    expect(result.through).toEqual([]);
    const own = await raw(daemon.port, { path: "/v3/health", headers: { ...auth, host: `localhost:${daemon.port}` } });
    expect(own.status).toBe(200);
  });
});

describe("path escapes through the file tools", () => {
  it("path-escape: no file tool reads, lists or writes outside the workspace", async ({ task }) => {
    const ws = await makeWorkspace();
    try {
      await writeFile(join(ws.outside, "secret.txt"), "top secret\n");
      await symlink(join(ws.outside, "secret.txt"), join(ws.cwd, "link.txt"));
      await symlink(ws.outside, join(ws.cwd, "linkdir"));
      await symlink(join(ws.outside, "made-by-write.txt"), join(ws.cwd, "dangling"));
      const paths = [
        "../outside/secret.txt",
        `${ws.outside}/secret.txt`,
        "/etc/passwd",
        "~/.bashrc",
        "link.txt",
        "linkdir/secret.txt",
        "linkdir/new.txt",
        "dangling",
        "./x/../../outside/secret.txt",
        "..",
        "secret.txt\u0000.md",
      ];
      const cases: SecurityCase[] = [];
      for (const path of paths) {
        for (const [tool, args] of [
          ["read_file", { path }],
          ["list_dir", { path }],
          ["write_file", { path, content: "pwned" }],
          ["edit_file", { path, old_string: "top secret", new_string: "pwned" }],
        ] as const) {
          const outcome = await ws.call(tool, args);
          const leaked = outcome.ok && JSON.stringify(outcome.result).includes("top secret");
          cases.push({
            attack: `${tool} ${JSON.stringify(path)}`,
            refused: !outcome.ok && !leaked,
            detail: outcome.ok ? "succeeded" : undefined,
          });
        }
      }
      const { readFile, readdir } = await import("node:fs/promises");
      cases.push({
        attack: "outside directory unchanged after all of the above",
        refused:
          (await readFile(join(ws.outside, "secret.txt"), "utf8")) === "top secret\n" &&
          (await readdir(ws.outside)).join(",") === "secret.txt",
      });
      const result = reportFamily(task, "path-escape", cases);
      expect(result.through).toEqual([]);
      // Not vacuous: the same tools work inside.
      expect((await ws.call("write_file", { path: "inside.txt", content: "ok" })).ok).toBe(true);
      expect((await ws.call("read_file", { path: "inside.txt" })).ok).toBe(true);
    } finally {
      await ws.cleanup();
    }
  });
});
