import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DaemonApiError, DaemonClient, DaemonConnectionError } from "../src/index.js";

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void;

/** A stand-in daemon: routes by "METHOD /path", checks the bearer token against `currentToken`. */
let currentToken = "t1";
const routes = new Map<string, Handler>();
const seen: { method: string; url: string; auth: string | undefined; body: string }[] = [];
let server: Server;
let baseUrl: string;

function json(response: ServerResponse, status: number, value: unknown) {
  response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
}

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      seen.push({ method: request.method!, url: request.url!, auth: request.headers.authorization, body });
      if (request.headers.authorization !== `Bearer ${currentToken}`) {
        return json(response, 401, { error: { code: "UNAUTHORIZED", message: "missing or wrong token" } });
      }
      const path = new URL(request.url!, "http://x").pathname;
      const handler = routes.get(`${request.method} ${path}`);
      if (!handler) return json(response, 404, { error: { code: "NOT_FOUND", message: `no route ${path}` } });
      handler(request, body, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const session = {
  id: "s-1",
  title: "hello",
  cwd: "/tmp",
  mode: "chat",
  model: "m",
  status: "idle",
  turnCount: 0,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  lastSeq: 1,
};

describe("DaemonClient", () => {
  it("sends the token, encodes queries and bodies, and validates responses", async () => {
    routes.set("GET /v3/health", (_request, _body, response) => json(response, 200, { ok: true, version: "0.1.0" }));
    routes.set("GET /v3/sessions", (_request, _body, response) => json(response, 200, { sessions: [session] }));
    routes.set("POST /v3/sessions/s-1/turns", (_request, body, response) => {
      expect(JSON.parse(body)).toEqual({ text: "hi", model: "m" });
      json(response, 202, { sessionId: "s-1", turnId: "t-1", seq: 2 });
    });
    const client = new DaemonClient({ baseUrl: `${baseUrl}/`, token: "t1" });
    expect(await client.health()).toEqual({ ok: true, version: "0.1.0" });
    const list = await client.listSessions({ q: "hel lo", limit: 5 });
    expect(list.sessions[0]?.id).toBe("s-1");
    expect(seen.at(-1)?.url).toBe("/v3/sessions?q=hel+lo&limit=5");
    expect(await client.submitTurn("s-1", { text: "hi", model: "m" })).toEqual({
      sessionId: "s-1",
      turnId: "t-1",
      seq: 2,
    });
    expect(seen.at(-1)?.auth).toBe("Bearer t1");
  });

  it("returns Markdown exports as text and JSON exports parsed", async () => {
    routes.set("GET /v3/sessions/s-1/export", (request, _body, response) => {
      if (request.url!.includes("format=md"))
        response.writeHead(200, { "content-type": "text/markdown" }).end("# hi\n");
      else json(response, 200, { session, events: [], exportedAt: "2026-01-01T00:00:00.000Z" });
    });
    const client = new DaemonClient({ baseUrl, token: "t1" });
    expect(await client.exportSession("s-1", { format: "md" })).toBe("# hi\n");
    expect((await client.exportSession("s-1")).session.id).toBe("s-1");
  });

  it("re-reads the token once after a 401 (daemon restarted)", async () => {
    currentToken = "t2";
    let reads = 0;
    const client = new DaemonClient({
      baseUrl,
      token: async () => {
        reads += 1;
        return reads === 1 ? "t1" : "t2";
      },
    });
    expect((await client.health()).ok).toBe(true);
    expect(reads).toBe(2);
    await client.health();
    expect(reads).toBe(2); // cached until the next 401
    currentToken = "t1";
  });

  it("maps wire errors to DaemonApiError with code and status", async () => {
    routes.set("POST /v3/sessions/s-1/stop", (_request, _body, response) =>
      json(response, 409, { error: { code: "NO_ACTIVE_TURN", message: "no turn is running" } }),
    );
    const client = new DaemonClient({ baseUrl, token: "t1" });
    const error = await client.stopTurn("s-1").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DaemonApiError);
    expect(error).toMatchObject({ code: "NO_ACTIVE_TURN", status: 409, message: "no turn is running" });

    const wrong = new DaemonClient({ baseUrl, token: "nope" });
    await expect(wrong.health()).rejects.toMatchObject({ code: "UNAUTHORIZED", status: 401 });
  });

  it("rejects a response that does not match the protocol", async () => {
    routes.set("GET /v3/daemon", (_request, _body, response) => json(response, 200, { pid: "x" }));
    const client = new DaemonClient({ baseUrl, token: "t1" });
    await expect(client.daemonStatus()).rejects.toMatchObject({ code: "INVALID_RESPONSE" });
  });

  it("says how to start the daemon when nothing listens", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = new DaemonClient({ baseUrl: `http://127.0.0.1:${port}`, token: "t1" });
    const error = await client.health().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DaemonConnectionError);
    expect((error as Error).message).toMatch(/ECONNREFUSED.*opta daemon start/);
  });

  it("times out a daemon that does not answer", async () => {
    routes.set("GET /v3/models", () => {});
    const client = new DaemonClient({ baseUrl, token: "t1", timeoutMs: 100 });
    await expect(client.models()).rejects.toThrow(/did not answer/);
  });
});

describe("the root export", () => {
  it("is browser-safe: no node: modules or ws in its import graph", async () => {
    const { readFile } = await import("node:fs/promises");
    const seenFiles = new Set<string>();
    const visit = async (file: string) => {
      if (seenFiles.has(file)) return;
      seenFiles.add(file);
      const source = await readFile(new URL(`../src/${file}`, import.meta.url), "utf8");
      for (const [, specifier] of source.matchAll(/from "([^"]+)"/g)) {
        expect(specifier, `${file} imports ${specifier}`).not.toMatch(/^(node:|ws$|fs$|path$)/);
        if (specifier!.startsWith("./")) await visit(specifier!.slice(2).replace(/\.js$/, ".ts"));
      }
    };
    await visit("index.ts");
    expect(seenFiles.size).toBeGreaterThan(3);
  });
});

describe("DaemonClient session lifecycle", () => {
  it("renames, pins, deletes (archive or purge) and prunes with the right method, path and body", async () => {
    currentToken = "t1";
    const client = new DaemonClient({ baseUrl, token: "t1" });
    routes.set("PATCH /v3/sessions/s-1", (_request, body, response) =>
      json(response, 200, { ...session, ...(JSON.parse(body) as object) }),
    );
    routes.set("DELETE /v3/sessions/s-1", (request, _body, response) => {
      const purge = new URL(request.url!, "http://x").searchParams.get("purge") === "1";
      json(response, 200, {
        purged: purge,
        deleted: {
          id: "s-1",
          title: "hello",
          cwd: "/tmp",
          updatedAt: session.updatedAt,
          ...(purge ? {} : { archivedTo: "/a/s-1.jsonl.gz" }),
        },
      });
    });
    routes.set("POST /v3/sessions/prune", (_request, body, response) =>
      json(response, 200, {
        sessions: [],
        dryRun: (JSON.parse(body) as { dryRun: boolean }).dryRun,
        purged: false,
        kept: [],
      }),
    );
    seen.length = 0;
    expect(await client.renameSession("s-1", "New name")).toMatchObject({ title: "New name" });
    expect(await client.updateSession("s-1", { pinned: true })).toMatchObject({ pinned: true });
    expect((await client.deleteSession("s-1")).deleted.archivedTo).toBe("/a/s-1.jsonl.gz");
    expect(await client.deleteSession("s-1", { purge: true })).toMatchObject({ purged: true });
    expect(await client.pruneSessions({ olderThanMs: 1000, dryRun: true })).toMatchObject({ dryRun: true });
    expect(seen.map((request) => `${request.method} ${request.url} ${request.body}`)).toEqual([
      'PATCH /v3/sessions/s-1 {"title":"New name"}',
      'PATCH /v3/sessions/s-1 {"pinned":true}',
      "DELETE /v3/sessions/s-1 ",
      "DELETE /v3/sessions/s-1?purge=1 ",
      'POST /v3/sessions/prune {"olderThanMs":1000,"dryRun":true}',
    ]);
  });
});
