import { readFile, stat, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { reportFamily, type SecurityCase } from "../../../../scripts/security-family.js";
import { api, collectFrames, type DaemonProcess, spawnDaemon, tempHome } from "../fixtures/daemon-harness.js";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { token?: string; grantKey?: string; error?: { code: string }; [key: string]: unknown };
}

/** A request with headers fetch would not let a browser set (Origin, Cookie, Host), as any local program can. */
function send(port: number, path: string, headers: Record<string, string>, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        headers: { ...(text ? { "content-type": "application/json" } : {}), ...headers },
      },
      (res) => {
        let data = "";
        res.on("data", (chunk) => {
          data += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data ? JSON.parse(data) : {} }),
        );
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}

/** A port that was free a moment ago: a daemon started again with the same home keeps its origin. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe("client grants", () => {
  let daemon: DaemonProcess;
  let home: { home: string; cleanup: () => Promise<void> };
  let port: number;
  let origin: string;
  /** The signed-in browser: its cookie (name=value) and its grant key. */
  let cookie: string;
  let grantKey: string;

  /** Trades with `key` (default: the browser's); `null` sends none. */
  const trade = (headers: Record<string, string>, key: string | null = grantKey) =>
    send(port, "/v3/auth/grant/token", headers, key === null ? {} : { grantKey: key });
  const asBrowser = () => ({ origin, cookie });

  const signIn = async (extra: Record<string, string> = {}, body: Record<string, string> = {}): Promise<Answer> => {
    const minted = await api(daemon)("/v3/auth/codes", { method: "POST" });
    const { code } = (await minted.json()) as { code: string };
    return send(port, "/v3/auth/exchange", { origin, "user-agent": "Chromium test", ...extra }, { code, ...body });
  };

  beforeAll(async () => {
    home = await tempHome();
    port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: "127.0.0.1:9", OPTA_DAEMON_PORT: String(port) });
  });
  afterAll(async () => {
    await daemon?.stop();
    await home?.cleanup();
  });

  it("signing in from the daemon's own origin sets an HttpOnly, SameSite=Strict grant cookie and returns its key", async () => {
    const answer = await signIn();
    expect(answer.status).toBe(200);
    expect(answer.body.token).toBe(daemon.token);
    expect(answer.body.grantKey).toMatch(/^[\w-]{40,}$/);
    const setCookie = String(answer.headers["set-cookie"]);
    expect(setCookie).toMatch(new RegExp(`^opta_grant_${port}=g-[0-9a-z]+\\.[\\w-]{40,};`));
    expect(setCookie).toContain("Path=/v3/auth");
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Strict");
    expect(setCookie).not.toMatch(/Domain=/i);
    cookie = setCookie.split(";")[0]!;
    grantKey = answer.body.grantKey!;
    // The CLI (no Origin) trading a code gets the token and no grant: it has the token file.
    const cli = await signIn({ origin: "" });
    expect(cli.body.grantKey).toBeUndefined();
    expect(cli.headers["set-cookie"]).toBeUndefined();
  });

  it("stores only hashes, in a 0600 file, with the id, dates and User-Agent", async () => {
    const file = join(home.home, "daemon", "grants.json");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const text = await readFile(file, "utf8");
    const secret = cookie.split(".")[1]!;
    expect(text).not.toContain(secret);
    expect(text).not.toContain(grantKey);
    const listed = (await (await api(daemon)("/v3/auth/grants")).json()) as {
      grants: Array<{ id: string; userAgent: string; createdAt: string; lastUsedAt: string }>;
    };
    expect(listed.grants).toHaveLength(1);
    expect(listed.grants[0]!.userAgent).toBe("Chromium test");
    expect(cookie).toContain(listed.grants[0]!.id);
    expect(JSON.stringify(listed)).not.toContain("hash");
  });

  it("trades the grant for the current token across a restart, a crash and a stop/start", async () => {
    const first = await trade(asBrowser());
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ token: daemon.token });
    expect(first.headers["cache-control"]).toBe("no-store");

    // In-process restart: the token rotates, the grant stays.
    const restarted = (await (await api(daemon)("/v3/daemon/restart", { method: "POST" })).json()) as {
      token: string;
    };
    daemon.token = restarted.token;
    expect((await trade(asBrowser())).body.token).toBe(restarted.token);

    // kill -9, then a new daemon on the same home and port.
    daemon.child.kill("SIGKILL");
    await new Promise((resolve) => daemon.child.once("exit", resolve));
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: "127.0.0.1:9", OPTA_DAEMON_PORT: String(port) });
    expect(daemon.token).not.toBe(restarted.token);
    expect((await trade(asBrowser())).body.token).toBe(daemon.token);

    // A clean stop and start.
    await daemon.stop();
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: "127.0.0.1:9", OPTA_DAEMON_PORT: String(port) });
    const traded = await trade(asBrowser());
    expect(traded.body.token).toBe(daemon.token);
    expect((await api({ url: daemon.url, token: traded.body.token! })("/v3/health")).status).toBe(200);
  });

  it("signing in again from the same browser replaces its grant", async () => {
    const again = await signIn({ cookie }, { grantKey });
    expect(again.status).toBe(200);
    const listed = (await (await api(daemon)("/v3/auth/grants")).json()) as { grants: Array<{ id: string }> };
    expect(listed.grants).toHaveLength(1);
    expect((await trade(asBrowser())).status).toBe(401);
    cookie = String(again.headers["set-cookie"]).split(";")[0]!;
    grantKey = again.body.grantKey!;
    expect((await trade(asBrowser())).status).toBe(200);
  });

  it("refuses every other way to get the token out of a grant", async ({ task }) => {
    const [cookieName, cookieValue] = cookie.split("=") as [string, string];
    const [grantId, secret] = cookieValue.split(".") as [string, string];
    const storedHash = ((await readFile(join(home.home, "daemon", "grants.json"), "utf8")).match(/[0-9a-f]{64}/) ?? [
      "",
    ])[0];
    // The protected path works: every refusal below is the check, not a broken route.
    expect((await trade(asBrowser())).body.token).toBe(daemon.token);
    const attempts: Array<[string, () => Promise<Answer>]> = [
      ["no cookie, right key", () => trade({ origin })],
      ["right cookie, no key (cookie leaked to another loopback port)", () => trade(asBrowser(), null)],
      ["right cookie, wrong key", () => trade(asBrowser(), "x".repeat(43))],
      ["wrong secret in the cookie", () => trade({ origin, cookie: `${cookieName}=${grantId}.${"A".repeat(43)}` })],
      ["the stored hash as the secret", () => trade({ origin, cookie: `${cookieName}=${grantId}.${storedHash}` })],
      ["the stored hash as the key", () => trade(asBrowser(), storedHash)],
      ["cookie under another port's name", () => trade({ origin, cookie: `opta_grant_1=${cookieValue}` })],
      [
        "the cookie twice (ambiguous)",
        () => trade({ origin, cookie: `${cookie}; ${cookieName}=${grantId}.${secret}x` }),
      ],
      ["cross-site Origin", () => trade({ ...asBrowser(), origin: "http://evil.example" })],
      ["same-site page on another port", () => trade({ ...asBrowser(), origin: "http://127.0.0.1:1" })],
      ["the Vite dev server (dev mode off)", () => trade({ ...asBrowser(), origin: "http://localhost:5173" })],
      ["no Origin (a script, not the page)", () => trade({ cookie })],
      ["Origin 'null' (sandboxed frame)", () => trade({ ...asBrowser(), origin: "null" })],
      ["foreign Host (DNS rebinding)", () => trade({ ...asBrowser(), host: "evil.example" })],
    ];
    const cases: SecurityCase[] = [];
    for (const [attack, run] of attempts) {
      const answer = await run();
      const refused = answer.status >= 400 && answer.body.token === undefined;
      cases.push({ attack, refused, detail: `HTTP ${answer.status}` });
    }
    // Revoked: the grant is dead, and the token its app holds rotated with it.
    const before = daemon.token;
    const revoked = (await (
      await api(daemon)("/v3/auth/grants/revoke", { method: "POST", json: { all: true } })
    ).json()) as {
      revoked: string[];
      tokenRotated: boolean;
    };
    expect(revoked).toEqual({ revoked: [grantId], tokenRotated: true });
    daemon.token = await daemon.readToken();
    const afterRevoke = await trade(asBrowser());
    cases.push({
      attack: "a revoked grant",
      refused: afterRevoke.status === 401 && afterRevoke.body.error?.code === "INVALID_CLIENT_GRANT",
    });
    const oldToken = await api({ url: daemon.url, token: before })("/v3/health");
    cases.push({ attack: "the revoked app's last token", refused: oldToken.status === 401 });
    const report = reportFamily(task, "client-grant", cases);
    expect(report.through).toEqual([]);
  });

  it("revokes one grant by id, and says so for an unknown id", async () => {
    const answer = await signIn();
    const listed = (await (await api(daemon)("/v3/auth/grants")).json()) as { grants: Array<{ id: string }> };
    const id = listed.grants[0]!.id;
    const unknown = await api(daemon)("/v3/auth/grants/revoke", { method: "POST", json: { id: "g-nope00000000" } });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("GRANT_NOT_FOUND");
    const one = await api(daemon)("/v3/auth/grants/revoke", { method: "POST", json: { id } });
    expect(((await one.json()) as { revoked: string[] }).revoked).toEqual([id]);
    daemon.token = await daemon.readToken();
    const dead = await trade(
      { origin, cookie: String(answer.headers["set-cookie"]).split(";")[0]! },
      answer.body.grantKey ?? null,
    );
    expect(dead.status).toBe(401);
  });
});

describe("log stream", () => {
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

  const base = () => `ws://127.0.0.1:${daemon.port}/v3/daemon/logs/stream`;

  it("sends a backlog, then streams new lines as they are written", async () => {
    const { frames, socket } = await collectFrames(`${base()}?token=${daemon.token}&backlog=5`, (all) =>
      all.some((frame) => frame.control === "replayed"),
    );
    const backlog = frames.slice(0, -1);
    expect(backlog.length).toBeGreaterThan(0);
    expect(backlog.length).toBeLessThanOrEqual(5);
    expect(backlog.some((line) => String(line.message).startsWith("Listening on"))).toBe(true);
    const live = new Promise<Record<string, unknown>>((resolve) => {
      socket.on("message", (data) => {
        const line = JSON.parse(String(data)) as Record<string, unknown>;
        if (String(line.message).includes("created")) resolve(line);
      });
    });
    await api(daemon)("/v3/sessions", { method: "POST", json: { title: "log me" } });
    const line = await live;
    expect(line).toMatchObject({ level: "info", scope: "session" });
    socket.close();
  });

  it("filters by level, backlog and live", async () => {
    const { frames, socket } = await collectFrames(`${base()}?token=${daemon.token}&level=warn`, (all) =>
      all.some((frame) => frame.control === "replayed"),
    );
    expect(frames.filter((frame) => frame.level === "info")).toEqual([]);
    const seen: Array<Record<string, unknown>> = [];
    const errorLine = new Promise<void>((resolve) => {
      socket.on("message", (data) => {
        const line = JSON.parse(String(data)) as Record<string, unknown>;
        seen.push(line);
        if (line.level === "error") resolve();
      });
    });
    // A broken config.yaml: the next request that reads the config logs an error (after the info
    // line of the session it creates); lines on one socket arrive in order, so an info line that
    // got through would be in `seen` before it.
    await writeFile(join(daemon.home, "config.yaml"), "providers: [\n");
    let arrived = false;
    void errorLine.then(() => {
      arrived = true;
    });
    while (!arrived) {
      await api(daemon)("/v3/sessions", { method: "POST", json: { title: "quiet" } });
      await Promise.race([errorLine, new Promise((resolve) => setTimeout(resolve, 600))]);
    }
    expect(seen.some((line) => line.level === "error" && line.scope === "config")).toBe(true);
    expect(seen.filter((line) => line.level === "info")).toEqual([]);
    socket.close();
  });

  it("refuses a missing token, a bad level and a bad backlog", async () => {
    const status = (url: string) =>
      new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(url);
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
    expect(await status(base())).toBe(401);
    expect(await status(`${base()}?token=wrong`)).toBe(401);
    expect(await status(`${base()}?token=${daemon.token}&level=loud`)).toBe(400);
    expect(await status(`${base()}?token=${daemon.token}&backlog=99999`)).toBe(400);
    expect(await status(`${base()}?token=${daemon.token}&lvl=warn`)).toBe(400);
    const plain = await fetch(`${daemon.url}/v3/daemon/logs/stream`, {
      headers: { authorization: `Bearer ${daemon.token}` },
    });
    expect(plain.status).toBe(400);
  });
});
