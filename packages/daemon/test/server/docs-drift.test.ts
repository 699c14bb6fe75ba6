/**
 * docs/api.md and docs/sdk.md against the truth: the routes the daemon's HTTP app really answers
 * (read from its router stack), the request fields its schemas accept, and the methods the SDK's
 * client really has. A route, field or method added without its docs fails here, by name.
 */
import { readFile } from "node:fs/promises";
import {
  AuthExchangeRequest,
  CreateSessionRequest,
  EventsQuery,
  ExportQuery,
  LogsQuery,
  McpListQuery,
  McpTestRequest,
  PermissionDecisionRequest,
  ResumeTurnRequest,
  SessionListQuery,
  SubmitTurnRequest,
} from "@opta/protocol";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { DaemonClient } from "../../../daemon-client/src/client.js";
import type { DaemonContext } from "../../src/server/context.js";
import { createHttpApp, WEBSOCKET_PATHS } from "../../src/server/http.js";
import { routeTable } from "../../src/server/route-table.js";

const apiDoc = await readFile(new URL("../../../../docs/api.md", import.meta.url), "utf8");
const sdkDoc = await readFile(new URL("../../../../docs/sdk.md", import.meta.url), "utf8");

/** `METHOD /v3/...` as the server serves it; the WebSocket endpoints are `WS`. */
function servedRoutes(): string[] {
  // Building the app only registers handlers; none of the context is touched until a request.
  const app = createHttpApp({} as DaemonContext);
  const routes = routeTable(app)
    .filter((route) => route.path.startsWith("/v3/"))
    .map((route) => (WEBSOCKET_PATHS.includes(route.path) ? `WS ${route.path}` : `${route.method} ${route.path}`));
  return [...new Set(routes)].sort();
}

/** Every `` `METHOD /v3/path` `` a document names (query strings dropped). */
function documentedRoutes(markdown: string): string[] {
  const found = markdown.matchAll(/`(GET|POST|PUT|PATCH|DELETE|WS) (\/v3\/[^`?\s]*)/g);
  return [...new Set([...found].map((match) => `${match[1]} ${match[2]}`))].sort();
}

/** The rows of the markdown table line that names `route` (in its first cell). */
function apiRow(route: string): string | undefined {
  return apiDoc.split("\n").find((line) => line.startsWith(`| \`${route}\``));
}

/** What each route reads from its body or query: every field must be in its api.md row. */
const ROUTE_FIELDS: Record<string, z.ZodObject> = {
  "POST /v3/auth/exchange": AuthExchangeRequest,
  "GET /v3/daemon/logs": LogsQuery,
  "GET /v3/sessions": SessionListQuery,
  "POST /v3/sessions": CreateSessionRequest,
  "GET /v3/sessions/:id/events": EventsQuery,
  "POST /v3/sessions/:id/turns": SubmitTurnRequest,
  "POST /v3/sessions/:id/resume": ResumeTurnRequest,
  "POST /v3/sessions/:id/permissions/:requestId": PermissionDecisionRequest,
  "GET /v3/sessions/:id/export": ExportQuery,
  "GET /v3/mcp/servers": McpListQuery,
  "POST /v3/mcp/servers/:name/test": McpTestRequest,
};

/** The SDK methods whose argument object docs/sdk.md spells out field by field. */
const METHOD_FIELDS: Record<string, z.ZodObject> = {
  createSession: CreateSessionRequest,
  submitTurn: SubmitTurnRequest,
};

/** Rows of the Methods table of docs/sdk.md: method name → the whole row. */
function sdkMethodRows(): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of sdkDoc.split("\n")) {
    const name = /^\| `(\w+)\(/.exec(line)?.[1];
    if (name) rows.set(name, [...(rows.get(name) ?? []), line]);
  }
  return rows;
}

const sdkMethods = Object.getOwnPropertyNames(DaemonClient.prototype)
  .filter((name) => name !== "constructor")
  .sort();

describe("docs/api.md against the server's route table", () => {
  it("documents every route the daemon serves", () => {
    const documented = new Set(documentedRoutes(apiDoc));
    const missing = servedRoutes().filter((route) => !documented.has(route));
    expect(missing, `routes missing from docs/api.md: ${missing.join(", ")}`).toEqual([]);
  });

  it("documents no route the daemon does not serve", () => {
    const served = new Set(servedRoutes());
    const stale = documentedRoutes(apiDoc).filter((route) => !served.has(route));
    expect(stale, `docs/api.md names routes the daemon does not serve: ${stale.join(", ")}`).toEqual([]);
  });

  it("names every request field in the route's row", () => {
    const missing: string[] = [];
    for (const [route, schema] of Object.entries(ROUTE_FIELDS)) {
      const row = apiRow(route);
      if (!row) {
        missing.push(`${route} (no row in the Routes table)`);
        continue;
      }
      for (const field of Object.keys(schema.shape)) {
        if (!new RegExp(`\\b${field}\\b`).test(row)) missing.push(`${route}: ${field}`);
      }
    }
    expect(missing, `request fields missing from docs/api.md: ${missing.join(", ")}`).toEqual([]);
  });
});

describe("docs/sdk.md against the SDK", () => {
  it("has a Methods row for every method of DaemonClient", () => {
    const rows = sdkMethodRows();
    const missing = sdkMethods.filter((name) => !rows.has(name));
    expect(missing, `DaemonClient methods missing from docs/sdk.md: ${missing.join(", ")}`).toEqual([]);
    const stale = [...rows.keys()].filter((name) => !sdkMethods.includes(name));
    expect(stale, `docs/sdk.md documents methods DaemonClient lacks: ${stale.join(", ")}`).toEqual([]);
  });

  it("names only routes the daemon serves, and every field of the spelled-out arguments", () => {
    const served = new Set(servedRoutes());
    const stale = documentedRoutes(sdkDoc).filter((route) => !served.has(route));
    expect(stale, `docs/sdk.md names routes the daemon does not serve: ${stale.join(", ")}`).toEqual([]);
    const rows = sdkMethodRows();
    const missing: string[] = [];
    for (const [method, schema] of Object.entries(METHOD_FIELDS)) {
      const row = rows.get(method)?.join("\n") ?? "";
      for (const field of Object.keys(schema.shape)) {
        if (!new RegExp(`\\b${field}\\b`).test(row)) missing.push(`${method}: ${field}`);
      }
    }
    expect(missing, `argument fields missing from docs/sdk.md: ${missing.join(", ")}`).toEqual([]);
  });
});
