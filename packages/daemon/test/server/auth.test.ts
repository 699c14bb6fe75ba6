import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { api, type DaemonProcess, spawnDaemon, tempHome } from "../fixtures/daemon-harness.js";

/** Every route in the contract, with a method and a path that would otherwise be valid-looking. */
const ROUTES: Array<[string, string]> = [
  ["GET", "/v3/health"],
  ["GET", "/v3/daemon"],
  ["POST", "/v3/daemon/stop"],
  ["POST", "/v3/daemon/restart"],
  ["GET", "/v3/daemon/logs"],
  ["GET", "/v3/sessions"],
  ["POST", "/v3/sessions"],
  ["GET", "/v3/sessions/s-000000000000000"],
  ["GET", "/v3/sessions/s-000000000000000/events"],
  ["POST", "/v3/sessions/s-000000000000000/turns"],
  ["POST", "/v3/sessions/s-000000000000000/stop"],
  ["POST", "/v3/sessions/s-000000000000000/permissions/p-000000000000000"],
  ["GET", "/v3/sessions/s-000000000000000/export?format=md"],
  ["GET", "/v3/models"],
  ["POST", "/v3/sessions/s-000000000000000/compact"],
  ["POST", "/v3/auth/codes"],
  ["GET", "/v3/auth/grants"],
  ["POST", "/v3/auth/grants/revoke"],
  ["GET", "/v3/mcp/servers"],
  ["POST", "/v3/mcp/servers/fs/test"],
];

function rawRequest(
  port: number,
  options: { path: string; method?: string; headers?: Record<string, string> },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path: options.path, method: options.method ?? "GET", headers: options.headers },
      (res) => {
        let body = "";
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

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

describe("authentication and origin checks", () => {
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

  it("refuses every route without a token and with a wrong token", async () => {
    for (const [method, path] of ROUTES) {
      const none = await fetch(`${daemon.url}${path}`, { method });
      expect(none.status, `${method} ${path} without token`).toBe(401);
      const body = (await none.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("UNAUTHORIZED");
      const wrong = await fetch(`${daemon.url}${path}`, { method, headers: { authorization: "Bearer nope" } });
      expect(wrong.status, `${method} ${path} with a wrong token`).toBe(401);
    }
    // Still alive and still stopped by nothing above.
    expect((await api(daemon)("/v3/health")).status).toBe(200);
  });

  it("refuses every WebSocket endpoint without the token", async () => {
    const base = `ws://127.0.0.1:${daemon.port}`;
    expect(await wsStatus(`${base}/v3/events`)).toBe(401);
    expect(await wsStatus(`${base}/v3/events?token=wrong`)).toBe(401);
    expect(await wsStatus(`${base}/v3/sessions/s-000000000000000/stream?afterSeq=0`)).toBe(401);
    expect(await wsStatus(`${base}/v3/daemon/logs/stream`)).toBe(401);
    expect(await wsStatus(`${base}/v3/events?token=${daemon.token}`)).toBe(101);
  });

  it("answers 403 to a foreign Host header (DNS rebinding), on HTTP and WebSocket", async () => {
    const evil = await rawRequest(daemon.port, {
      path: "/v3/health",
      headers: { host: "evil.example", authorization: `Bearer ${daemon.token}` },
    });
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body).error.code).toBe("FORBIDDEN_HOST");
    const evilPort = await rawRequest(daemon.port, {
      path: "/v3/health",
      headers: { host: "127.0.0.1:1", authorization: `Bearer ${daemon.token}` },
    });
    expect(evilPort.status).toBe(403);
    const ok = await rawRequest(daemon.port, {
      path: "/v3/health",
      headers: { host: `localhost:${daemon.port}`, authorization: `Bearer ${daemon.token}` },
    });
    expect(ok.status).toBe(200);
    expect(
      await wsStatus(`ws://127.0.0.1:${daemon.port}/v3/events?token=${daemon.token}`, { host: "evil.example" }),
    ).toBe(403);
  });

  it("grants CORS only to its own origin (the Vite dev server only in dev mode: wire-edges.test.ts)", async () => {
    const auth = { authorization: `Bearer ${daemon.token}` };
    const evil = await rawRequest(daemon.port, {
      path: "/v3/health",
      headers: { ...auth, origin: "http://evil.example" },
    });
    expect(evil.headers["access-control-allow-origin"]).toBeUndefined();
    const preflight = await rawRequest(daemon.port, {
      path: "/v3/sessions",
      method: "OPTIONS",
      headers: { origin: "http://evil.example", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
    const dev = await rawRequest(daemon.port, {
      path: "/v3/health",
      headers: { ...auth, origin: "http://localhost:5173" },
    });
    expect(dev.headers["access-control-allow-origin"]).toBeUndefined();
    const own = await rawRequest(daemon.port, {
      path: "/v3/sessions",
      method: "OPTIONS",
      headers: { origin: `http://127.0.0.1:${daemon.port}`, "access-control-request-method": "POST" },
    });
    expect(own.status).toBe(204);
    expect(own.headers["access-control-allow-headers"]).toContain("authorization");
    expect(
      await wsStatus(`ws://127.0.0.1:${daemon.port}/v3/events?token=${daemon.token}`, {
        origin: "http://evil.example",
      }),
    ).toBe(403);
  });

  it("rejects the token from before a restart, and accepts the new one", async () => {
    const oldToken = daemon.token;
    const restarted = await api(daemon)("/v3/daemon/restart", { method: "POST" });
    expect(restarted.status).toBe(200);
    const body = (await restarted.json()) as { ok: boolean; token: string };
    const newToken = await daemon.readToken();
    expect(newToken).not.toBe(oldToken);
    expect(body).toEqual({ ok: true, action: "restart", token: newToken });
    for (const [method, path] of ROUTES.filter(([, path]) => !path.startsWith("/v3/daemon/"))) {
      const response = await fetch(`${daemon.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${oldToken}` },
      });
      expect(response.status, `${method} ${path} with the old token`).toBe(401);
    }
    expect(await wsStatus(`ws://127.0.0.1:${daemon.port}/v3/events?token=${oldToken}`)).toBe(401);
    expect(
      await wsStatus(`ws://127.0.0.1:${daemon.port}/v3/sessions/s-000000000000000/stream?afterSeq=0&token=${oldToken}`),
    ).toBe(401);
    const fresh = await fetch(`${daemon.url}/v3/daemon`, { headers: { authorization: `Bearer ${newToken}` } });
    expect(fresh.status).toBe(200);
    expect(((await fresh.json()) as { pid: number }).pid).toBe(daemon.child.pid);
    daemon.token = newToken;
  });

  it("keeps the token file private (mode 0600)", async () => {
    const { stat } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const info = await stat(join(daemon.home, "daemon", "token"));
    expect(info.mode & 0o777).toBe(0o600);
  });
});

describe("single-use sign-in codes", () => {
  it("expire, work once, and are forgotten when the token rotates", async () => {
    const { AuthCodes } = await import("../../src/server/auth-codes.js");
    const codes = new AuthCodes();
    const first = codes.issue(1_000);
    expect(codes.redeem(first.code, 2_000)).toBe(true);
    expect(codes.redeem(first.code, 2_000)).toBe(false);
    const late = codes.issue(1_000);
    expect(codes.redeem(late.code, 1_000 + 60_001)).toBe(false);
    const cleared = codes.issue(1_000);
    codes.clear();
    expect(codes.redeem(cleared.code, 1_001)).toBe(false);
  });

  it("trade a code from POST /v3/auth/codes for the token, once, without a bearer token", async () => {
    const home = await tempHome();
    const daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: "127.0.0.1:9" });
    try {
      const minted = await api(daemon)("/v3/auth/codes", { method: "POST" });
      expect(minted.status).toBe(201);
      const { code } = (await minted.json()) as { code: string };
      expect((await fetch(`${daemon.url}/v3/auth/codes`, { method: "POST" })).status).toBe(401);
      const exchange = () =>
        fetch(`${daemon.url}/v3/auth/exchange`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ code }),
        });
      const traded = await exchange();
      expect(traded.status).toBe(200);
      expect(await traded.json()).toEqual({ token: daemon.token });
      const again = await exchange();
      expect(again.status).toBe(401);
      expect(((await again.json()) as { error: { code: string } }).error.code).toBe("INVALID_AUTH_CODE");
      const malformed = await fetch(`${daemon.url}/v3/auth/exchange`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(malformed.status).toBe(400);
    } finally {
      await daemon.stop();
      await home.cleanup();
    }
  });
});
