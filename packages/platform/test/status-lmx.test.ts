/**
 * The status site's Done-when (issue 14): a real LMX server registered as a component is stopped,
 * the component goes to outage and an incident opens by itself; LMX comes back on the same port
 * and both recover. summary.json matches what the page shows in headless Chromium.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LmxServer, startLmx } from "../../lmx/src/index.js";
import type { StatusSummary } from "../src/status/summary.js";
import { send } from "./fixtures/http.js";
import { makeAdmin, START_TIMEOUT, type StatusPlatform, signUp, startStatusPlatform } from "./fixtures/status.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(`[status e2e] page comparison skipped: ${CHROMIUM} not found (apt-get install chromium)`);
const K = 3;
const INTERVAL_MS = 60_000;

let server: StatusPlatform;
let modelsDir: string;
let lmx: LmxServer | undefined;
let lmxPort: number;
let admin: string;
let browser: Browser | undefined;

beforeAll(async () => {
  modelsDir = await mkdtemp(join(tmpdir(), "opta-status-lmx-"));
  // No model: /health answers without one, and that is what the check asks.
  lmx = await startLmx({ port: 0, threads: 1, modelsDir });
  lmxPort = lmx.port;
  // A degraded threshold above the timeout: a slow moment of this shared machine is no part of this test.
  server = await startStatusPlatform({
    failuresToOpen: K,
    intervalS: INTERVAL_MS / 1000,
    timeoutMs: 5_000,
    degradedLatencyMs: 10_000,
  });
  admin = await signUp(server, "ops@example.com", "127.0.0.21");
  await makeAdmin(server, "ops@example.com");
  if (hasChromium)
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu"],
    });
}, START_TIMEOUT);

afterAll(async () => {
  await browser?.close();
  await lmx?.close();
  await server?.close();
  await rm(modelsDir, { recursive: true, force: true });
});

async function summary(): Promise<StatusSummary> {
  const answer = await send(server.port, server.host("status"), "/summary.json");
  expect(answer.status, answer.body).toBe(200);
  return JSON.parse(answer.body) as StatusSummary;
}

/** The next round of checks, one interval later. */
async function nextRound(): Promise<void> {
  server.clock.advance(INTERVAL_MS);
  expect(await server.platform.status.monitor.tick()).toBeGreaterThan(0);
}

/** What the status page shows, read in Chromium, next to what summary.json says at the same moment. */
async function pageAndSummary() {
  const expected = await summary();
  if (!browser) return { page: undefined, expected };
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${server.origin("status")}/`);
  await page.waitForSelector("#components [data-component]");
  const shown = await page.evaluate(() => ({
    overall: (document.getElementById("overall") as HTMLElement).dataset.status,
    stale: !(document.getElementById("stale") as HTMLElement).hidden,
    components: [...document.querySelectorAll<HTMLElement>("#components [data-component]")].map((item) => ({
      id: item.dataset.component,
      status: item.dataset.status,
      uptime: item.querySelector(".uptime-value")?.textContent,
      bars: item.querySelectorAll(".bar").length,
    })),
    incidents: [...document.querySelectorAll<HTMLElement>("#incidents [data-incident]")].map((item) => ({
      id: item.dataset.incident,
      status: item.dataset.status,
      updates: [...item.querySelectorAll<HTMLElement>("[data-update-status]")].map(
        (update) => update.dataset.updateStatus,
      ),
    })),
  }));
  await page.close();
  expect(errors).toEqual([]);
  const percent = (value: number | null) =>
    value === null ? "no data" : `${(value * 100).toFixed(value === 1 ? 0 : 2)}%`;
  expect(shown).toEqual({
    overall: expected.status,
    stale: false,
    components: expected.components.map((component) => ({
      id: component.id,
      status: component.status,
      uptime: percent(component.uptime["90d"]),
      bars: 90,
    })),
    incidents: expected.incidents.map((incident) => ({
      id: incident.id,
      status: incident.status,
      updates: incident.updates.map((update) => update.status).reverse(),
    })),
  });
  return { page: shown, expected };
}

describe("status: a registered LMX host", () => {
  it("goes to outage and opens an incident when LMX stops, and both recover when it comes back", async () => {
    const registered = await send(server.port, server.host("status"), "/api/admin/components", "POST", {
      headers: { origin: server.origin("status"), cookie: admin },
      json: { name: "Team LMX", url: `http://127.0.0.1:${lmxPort}` },
    });
    expect(registered.status, registered.body).toBe(201);
    const { id } = JSON.parse(registered.body) as { id: string };
    const component = async () => (await summary()).components.find((entry) => entry.id === id)!;

    // First round: every component (the platform's own and the LMX host) answers.
    expect(await server.platform.status.monitor.tick()).toBe(11);
    const first = await summary();
    expect(first.status).toBe("operational");
    expect(first.components.map((entry) => entry.status)).toEqual(first.components.map(() => "operational"));
    expect((await component()).lastCheck).toMatchObject({ ok: true, httpStatus: 200 });
    await pageAndSummary();

    // LMX stops: one failure is a partial outage, K in a row a major one, with an incident.
    await lmx!.close();
    lmx = undefined;
    await nextRound();
    expect(await component()).toMatchObject({ status: "partial_outage", consecutiveFailures: 1 });
    expect((await summary()).incidents).toEqual([]);
    for (let round = 2; round <= K; round += 1) await nextRound();
    const down = await summary();
    expect(down.components.find((entry) => entry.id === id)).toMatchObject({
      status: "major_outage",
      lastCheck: { ok: false, error: "connection refused" },
    });
    expect(down.status).toBe("major_outage");
    expect(down.incidents).toHaveLength(1);
    const incident = down.incidents[0]!;
    expect(incident).toMatchObject({ componentId: id, status: "investigating", automatic: true, resolvedAt: null });
    expect(incident.title).toBe("Team LMX is not answering");
    expect(incident.updates[0]!.body).toContain(`${K} checks in a row failed (connection refused)`);
    await pageAndSummary();

    // More failures while the incident is open open no second one.
    await nextRound();
    expect((await summary()).incidents).toHaveLength(1);

    // LMX comes back on the same port.
    lmx = await startLmx({ port: lmxPort, threads: 1, modelsDir });
    await nextRound();
    const up = await summary();
    expect(up.status).toBe("operational");
    expect(up.components.find((entry) => entry.id === id)).toMatchObject({
      status: "operational",
      consecutiveFailures: 0,
    });
    expect(up.incidents).toHaveLength(1);
    expect(up.incidents[0]).toMatchObject({ id: incident.id, status: "resolved" });
    expect(up.incidents[0]!.resolvedAt).not.toBeNull();
    expect(up.incidents[0]!.updates.map((update) => update.status)).toEqual(["investigating", "resolved"]);
    expect(up.incidents[0]!.updates[1]!.body).toContain("answers again (HTTP 200");
    // 1 + 4 failed + 1: two of six checks passed this hour and this day.
    const lmxComponent = up.components.find((entry) => entry.id === id)!;
    expect(lmxComponent.uptime["24h"]).toBeCloseTo(2 / 6);
    expect(lmxComponent.uptime["90d"]).toBeCloseTo(2 / 6);
    expect(lmxComponent.bars["24h"]).toHaveLength(24);
    expect(lmxComponent.bars["24h"].at(-1)).toMatchObject({ checks: 6 });
    await pageAndSummary();

    // The feed for machines carries the incident and its resolution.
    const feed = await send(server.port, server.host("status"), "/feed.atom");
    expect(feed.status).toBe(200);
    expect(feed.headers["content-type"]).toContain("application/atom+xml");
    expect(feed.body).toContain("<title>[resolved] Team LMX is not answering</title>");
    expect(feed.body).toContain("Resolved automatically.");
  }, 120_000);
});
