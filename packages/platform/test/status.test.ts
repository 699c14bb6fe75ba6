/**
 * The status checks against a loopback HTTP server whose answers the test sets: the status rule,
 * roll-ups and retention, admin incidents and their timeline, maintenance windows, the last known
 * state while the database is down, and who may use the admin routes (status-admin-authz,
 * status-csrf families).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import { componentStatus, windowBuckets, worstStatus } from "../src/status/rules.js";
import { statusSettingsFromEnv } from "../src/status/settings.js";
import type { StatusSummary } from "../src/status/summary.js";
import { send } from "./fixtures/http.js";
import { makeAdmin, START_TIMEOUT, type StatusPlatform, signUp, startStatusPlatform } from "./fixtures/status.js";

const INTERVAL_MS = 60_000;
const DAY_MS = 86_400_000;
let server: StatusPlatform;
let admin: string;
let user: string;
/** How the test target answers next. */
const target: {
  status: number;
  delayMs: number;
  hang: boolean;
  before?: () => Promise<void>;
  /** Answer `status` with this Location. */
  location?: string;
} = {
  status: 200,
  delayMs: 0,
  hang: false,
};
let targetServer: Server;
let targetUrl: string;

beforeAll(async () => {
  targetServer = createServer(async (_request, response) => {
    if (target.hang) return;
    await target.before?.();
    const headers = target.location ? { location: target.location } : {};
    setTimeout(() => response.writeHead(target.status, headers).end("ok"), target.delayMs);
  });
  await new Promise<void>((resolve) => targetServer.listen(0, "127.0.0.1", () => resolve()));
  targetUrl = `http://127.0.0.1:${(targetServer.address() as AddressInfo).port}`;
  server = await startStatusPlatform({ failuresToOpen: 2, intervalS: 60, retentionDays: 2, degradedLatencyMs: 150 });
  admin = await signUp(server, "admin@example.com", "127.0.0.31");
  user = await signUp(server, "user@example.com", "127.0.0.32");
  await makeAdmin(server, "admin@example.com");
}, START_TIMEOUT);

afterAll(async () => {
  await server?.close();
  targetServer?.closeAllConnections();
  await new Promise((resolve) => targetServer?.close(resolve));
});

function adminCall(method: string, path: string, json?: unknown, cookie = admin, origin = server.origin("status")) {
  return send(server.port, server.host("status"), path, method, {
    headers: { origin, ...(cookie ? { cookie } : {}) },
    ...(json === undefined ? {} : { json }),
  });
}

async function summary(): Promise<StatusSummary> {
  const answer = await send(server.port, server.host("status"), "/summary.json");
  expect(answer.status, answer.body).toBe(200);
  return JSON.parse(answer.body) as StatusSummary;
}

async function register(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const answer = await adminCall("POST", "/api/admin/components", { name, url: targetUrl, ...extra });
  expect(answer.status, answer.body).toBe(201);
  return (JSON.parse(answer.body) as { id: string }).id;
}

async function round(): Promise<void> {
  server.clock.advance(INTERVAL_MS);
  await server.platform.status.monitor.tick();
}

const find = async (id: string) => (await summary()).components.find((component) => component.id === id)!;

describe("status rules", () => {
  const thresholds = { failuresToOpen: 3, degradedLatencyMs: 1000 };
  it("map the latest checks to operational, degraded, partial and major outage", () => {
    const state = { checked: true, lastOk: true, lastLatencyMs: 10, consecutiveFailures: 0 };
    expect(componentStatus({ ...state, checked: false, lastOk: false }, thresholds)).toBe("operational");
    expect(componentStatus(state, thresholds)).toBe("operational");
    expect(componentStatus({ ...state, lastLatencyMs: 1001 }, thresholds)).toBe("degraded");
    expect(componentStatus({ ...state, lastOk: false, consecutiveFailures: 2 }, thresholds)).toBe("partial_outage");
    expect(componentStatus({ ...state, lastOk: false, consecutiveFailures: 3 }, thresholds)).toBe("major_outage");
    expect(worstStatus(["operational", "partial_outage", "degraded"])).toBe("partial_outage");
    expect(worstStatus([])).toBe("operational");
  });

  it("draw 24 hourly and 7 or 90 daily bars ending with the current bucket", () => {
    const now = Date.parse("2026-03-01T12:34:00Z");
    expect(windowBuckets("24h", now).at(-1)).toBe(Date.parse("2026-03-01T12:00:00Z"));
    expect(windowBuckets("24h", now)[0]).toBe(Date.parse("2026-02-28T13:00:00Z"));
    expect(windowBuckets("7d", now)).toHaveLength(7);
    expect(windowBuckets("90d", now).at(-1)).toBe(Date.parse("2026-03-01T00:00:00Z"));
  });
});

describe("status checks", () => {
  it("check the platform's own components on loopback and serve the page under the site's CSP", async () => {
    await server.platform.status.monitor.tick();
    const first = await summary();
    expect(first.components.map((component) => component.id)).toEqual([
      "platform",
      "accounts-api",
      ...["home", "accounts", "admin", "status", "lmx", "init", "help", "learn"].map((site) => `site-${site}`),
    ]);
    expect(first.components.every((component) => component.lastCheck?.httpStatus === 200)).toBe(true);
    const page = await send(server.port, server.host("status"), "/");
    expect(page.body).toContain('<script src="/status.js" defer></script>');
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.body).not.toMatch(/<script>|style=/);
  });

  it("call a slow answer degraded, a missing one a failure, and report the timeout", async () => {
    const id = await register("Slow host", { timeoutMs: 5_000 });
    target.delayMs = 400;
    await round();
    expect(await find(id)).toMatchObject({ status: "degraded", lastCheck: { ok: true } });
    target.delayMs = 0;
    target.hang = true;
    const hanging = await register("Hanging host", { timeoutMs: 300 });
    await round();
    expect(await find(hanging)).toMatchObject({
      status: "partial_outage",
      lastCheck: { ok: false, httpStatus: null, error: "no answer within 300 ms" },
    });
    target.hang = false;
    target.status = 500;
    await round();
    expect((await find(hanging)).lastCheck?.error).toBe("HTTP 500, expected 200");
    target.status = 200;
    for (const component of [id, hanging])
      expect((await adminCall("DELETE", `/api/admin/components/${component}`)).status).toBe(204);
    // Its incident (two failures opened one) goes with it.
    expect((await summary()).incidents.filter((incident) => incident.componentId === hanging)).toEqual([]);
  });

  it("record nothing for a host removed while its check ran, and go on with the others", async () => {
    const id = await register("Vanishing host");
    target.before = async () => {
      await adminCall("DELETE", `/api/admin/components/${id}`);
    };
    try {
      await round();
    } finally {
      target.before = undefined;
    }
    expect((await summary()).components.some((component) => component.id === id)).toBe(false);
    expect(
      (await server.platform.database.query("SELECT 1 FROM status_check WHERE component_id = $1", [id])).rows,
    ).toEqual([]);
    expect((await find("platform")).lastCheck?.at).toBe(new Date(server.clock.now()).toISOString());
  });

  it("status-check-redirect: a registered host cannot send the checker anywhere else", async ({ task }) => {
    const hits: string[] = [];
    const victim = createServer((request, response) => {
      hits.push(request.url ?? "");
      response.writeHead(200).end("internal");
    });
    await new Promise<void>((resolve) => victim.listen(0, "127.0.0.1", () => resolve()));
    const victimUrl = `http://127.0.0.1:${(victim.address() as AddressInfo).port}/internal`;
    const cases: SecurityCase[] = [];
    try {
      // Without the rule (a client that follows redirects, as fetch does) the bounce reaches it.
      target.status = 302;
      target.location = victimUrl;
      await fetch(targetUrl);
      expect(hits).toEqual(["/internal"]);
      hits.length = 0;
      const id = await register("Bouncing host");
      for (const status of [301, 302, 303, 307, 308]) {
        target.status = status;
        await round();
        const component = await find(id);
        cases.push({
          attack: `HTTP ${status} to ${victimUrl}`,
          refused: hits.length === 0 && component.lastCheck?.error === `HTTP ${status}, expected 200`,
          detail: `victim hit ${hits.length} times; ${component.lastCheck?.error}`,
        });
      }
      expect((await adminCall("DELETE", `/api/admin/components/${id}`)).status).toBe(204);
    } finally {
      target.status = 200;
      target.location = undefined;
      await new Promise((resolve) => victim.close(resolve));
    }
    expect(reportFamily(task, "status-check-redirect", cases).through).toEqual([]);
  });

  it("open no incident and count no downtime during a maintenance window", async () => {
    const id = await register("Maintained host");
    await round();
    const start = server.clock.now();
    const window = await adminCall("POST", "/api/admin/maintenance", {
      title: "Upgrading the model server",
      componentIds: [id],
      startsAt: new Date(start).toISOString(),
      endsAt: new Date(start + 5 * INTERVAL_MS + 1).toISOString(),
    });
    expect(window.status, window.body).toBe(201);
    target.status = 503;
    for (let index = 0; index < 4; index += 1) await round();
    const during = await summary();
    expect(during.components.find((component) => component.id === id)).toMatchObject({
      status: "major_outage",
      maintenance: true,
      uptime: { "24h": 1 },
    });
    expect(during.maintenance).toMatchObject([{ title: "Upgrading the model server", active: true }]);
    expect(during.incidents.filter((incident) => incident.componentId === id)).toEqual([]);
    // The window ends while it is still down: the next failure opens the incident.
    await round();
    await round();
    const after = await summary();
    expect(after.maintenance).toEqual([]);
    expect(after.incidents.filter((incident) => incident.componentId === id && incident.automatic)).toHaveLength(1);
    target.status = 200;
    await round();
    expect((await summary()).incidents.find((incident) => incident.componentId === id)?.status).toBe("resolved");
    expect((await adminCall("DELETE", `/api/admin/components/${id}`)).status).toBe(204);
  });

  it("keep raw results N days and the roll-ups after them", async () => {
    const id = await register("Kept host");
    await round();
    const count = async () =>
      Number(
        (
          await server.platform.database.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM status_check WHERE component_id = $1",
            [id],
          )
        ).rows[0]!.n,
      );
    expect(await count()).toBe(1);
    // Three days on (retention is two): the old raw row goes, the day's roll-up stays.
    server.clock.advance(3 * DAY_MS);
    await server.platform.status.monitor.tick();
    expect(await count()).toBe(1);
    const kept = await find(id);
    expect(kept.bars["7d"].filter((bar) => bar.checks > 0)).toHaveLength(2);
    expect(kept.uptime["7d"]).toBe(1);
    expect(kept.bars["24h"].filter((bar) => bar.checks > 0)).toHaveLength(1);
    expect((await adminCall("DELETE", `/api/admin/components/${id}`)).status).toBe(204);
  });

  it("serve the last known state, marked stale, while the database cannot be read", async () => {
    const before = await summary();
    const database = server.platform.database;
    const query = database.query;
    database.query = () => Promise.reject(new Error("connection terminated"));
    try {
      const answer = await send(server.port, server.host("status"), "/summary.json");
      expect(answer.status).toBe(200);
      const stale = JSON.parse(answer.body) as StatusSummary;
      expect(stale).toEqual({ ...before, stale: true });
      expect((await send(server.port, server.host("status"), "/feed.atom")).status).toBe(200);
      expect((await send(server.port, server.host("status"), "/status.js")).status).toBe(200);
    } finally {
      database.query = query;
    }
    expect((await summary()).stale).toBe(false);
  });
});

describe("incidents posted by admins", () => {
  it("carry a timeline from investigating to resolved, editable, and in the audit log", async () => {
    const created = await adminCall("POST", "/api/admin/incidents", {
      title: "Sign-in is slow",
      componentId: "accounts-api",
      body: "We are looking into slow sign-ins.",
    });
    expect(created.status, created.body).toBe(201);
    const { id } = JSON.parse(created.body) as { id: string };
    for (const [status, body] of [
      ["identified", "A full disk on the database host."],
      ["monitoring", "Space freed; watching it."],
      ["resolved", "Sign-in is back to normal."],
    ]) {
      const update = await adminCall("POST", `/api/admin/incidents/${id}/updates`, { status, body });
      expect(update.status, update.body).toBe(201);
      server.clock.advance(1_000);
    }
    expect(
      (await adminCall("PATCH", `/api/admin/incidents/${id}`, { title: "Sign-in was slow", impact: "major" })).status,
    ).toBe(200);
    const posted = (await summary()).incidents.find((incident) => incident.id === id)!;
    expect(posted).toMatchObject({ title: "Sign-in was slow", impact: "major", status: "resolved", automatic: false });
    expect(posted.updates.map((update) => update.status)).toEqual([
      "investigating",
      "identified",
      "monitoring",
      "resolved",
    ]);
    expect(posted.updates[0]!.author).toBe("admin@example.com");
    const { rows } = await server.platform.database.query<{ id: string }>(
      "SELECT id::text FROM status_incident_update WHERE incident_id = $1 ORDER BY at LIMIT 1",
      [id],
    );
    expect(
      (await adminCall("PATCH", `/api/admin/incidents/${id}/updates/${rows[0]!.id}`, { body: "Sign-ins took 20 s." }))
        .status,
    ).toBe(200);
    expect((await summary()).incidents.find((incident) => incident.id === id)!.updates[0]!.body).toBe(
      "Sign-ins took 20 s.",
    );
    const audit = await server.platform.database.query<{ action: string }>(
      "SELECT action FROM audit_log WHERE target = $1 ORDER BY id",
      [id],
    );
    expect(audit.rows.map((row) => row.action)).toEqual([
      "status.incident.create",
      "status.incident.update",
      "status.incident.update",
      "status.incident.update",
      "status.incident.edit",
      "status.incident.update.edit",
    ]);
    const bad = await adminCall("POST", "/api/admin/incidents", { title: "", body: "x" });
    expect(JSON.parse(bad.body).error.code).toBe("invalid_incident");
  });

  it("status-admin-authz: only a signed-in admin may post, edit or register", async ({ task }) => {
    const routes: [string, string, unknown][] = [
      ["POST", "/api/admin/incidents", { title: "Fake outage", body: "fake" }],
      ["PATCH", "/api/admin/incidents/inc-x", { title: "x" }],
      ["POST", "/api/admin/incidents/inc-x/updates", { status: "resolved", body: "x" }],
      ["PATCH", "/api/admin/incidents/inc-x/updates/1", { body: "x" }],
      [
        "POST",
        "/api/admin/maintenance",
        { title: "x", startsAt: "2026-01-01T00:00:00Z", endsAt: "2027-01-01T00:00:00Z" },
      ],
      ["DELETE", "/api/admin/maintenance/mnt-x", undefined],
      ["POST", "/api/admin/components", { name: "x", url: targetUrl }],
      ["DELETE", "/api/admin/components/platform", undefined],
    ];
    const before = await summary();
    const cases: SecurityCase[] = [];
    for (const [method, path, json] of routes) {
      const signedOut = await adminCall(method, path, json, "");
      cases.push({
        attack: `${method} ${path} signed out`,
        refused: signedOut.status === 401,
        detail: `${signedOut.status}`,
      });
      const plain = await adminCall(method, path, json, user);
      cases.push({ attack: `${method} ${path} as a user`, refused: plain.status === 403, detail: `${plain.status}` });
      const forged = await adminCall(method, path, json, "__Secure-better-auth.session_token=forged.token");
      cases.push({
        attack: `${method} ${path} with a forged cookie`,
        refused: forged.status === 401,
        detail: `${forged.status}`,
      });
    }
    // The admin can: the route is real (the refusals above are the role check, not a missing route).
    expect((await adminCall("POST", "/api/admin/incidents", { title: "Real", body: "real" })).status).toBe(201);
    const after = await summary();
    cases.push({
      attack: "refused calls changed nothing",
      refused:
        after.components.length === before.components.length &&
        !after.incidents.some((incident) => incident.title === "Fake outage"),
    });
    expect(reportFamily(task, "status-admin-authz", cases).through).toEqual([]);
  });

  it("status-csrf: an admin's browser on another origin cannot post or edit", async ({ task }) => {
    const cases: SecurityCase[] = [];
    const origins = ["http://evil.example", "null", `http://evil.opta.localhost:${server.port}`];
    const routes: [string, string, unknown][] = [
      ["POST", "/api/admin/incidents", { title: "CSRF outage", body: "x" }],
      ["PATCH", "/api/admin/incidents/inc-x", { title: "x" }],
      ["POST", "/api/admin/incidents/inc-x/updates", { status: "resolved", body: "x" }],
      [
        "POST",
        "/api/admin/maintenance",
        { title: "x", startsAt: "2026-01-01T00:00:00Z", endsAt: "2027-01-01T00:00:00Z" },
      ],
      ["DELETE", "/api/admin/maintenance/mnt-x", undefined],
      ["POST", "/api/admin/components", { name: "CSRF host", url: targetUrl }],
      ["DELETE", "/api/admin/components/platform", undefined],
    ];
    for (const origin of origins) {
      for (const [method, path, json] of routes) {
        const answer = await adminCall(method, path, json, admin, origin);
        cases.push({
          attack: `${method} ${path} from ${origin}`,
          refused: answer.status === 403 && answer.body.includes("origin_refused"),
          detail: `${answer.status}`,
        });
      }
    }
    const after = await summary();
    cases.push({
      attack: "a CSRF incident or host appeared",
      refused:
        !after.incidents.some((incident) => incident.title === "CSRF outage") &&
        !after.components.some((c) => c.name === "CSRF host"),
    });
    expect(reportFamily(task, "status-csrf", cases).through).toEqual([]);
  });
});

describe("status settings from the environment", () => {
  it("take whole numbers in bounds and name the variable that is not", () => {
    expect(statusSettingsFromEnv({ OPTA_STATUS_RETENTION_DAYS: "30", OPTA_STATUS_FAILURES: "5" })).toEqual({
      settings: { retentionDays: 30, failuresToOpen: 5 },
    });
    expect(statusSettingsFromEnv({ OPTA_STATUS_RETENTION_DAYS: "0" })).toEqual({
      error: "OPTA_STATUS_RETENTION_DAYS must be a whole number from 1 to 400, not '0'",
    });
    expect(statusSettingsFromEnv({ OPTA_STATUS_INTERVAL_S: "1.5" })).toHaveProperty("error");
    expect(statusSettingsFromEnv({ OPTA_STATUS_INTERVAL_S: "10", OPTA_STATUS_TIMEOUT_MS: "20000" })).toHaveProperty(
      "error",
    );
  });
});
