import { ConfigError, VaultError } from "@opta/local";
import { ERROR_STATUS } from "@opta/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { McpCallError } from "../../src/mcp/connection.js";
import { NoModelError, ProviderError } from "../../src/provider/types.js";
import { ApiError, toApiError } from "../../src/server/api-error.js";
import { api, type DaemonProcess, spawnDaemon, tempHome, waitFor } from "../fixtures/daemon-harness.js";
import { type ScriptedServer, startScriptedServer } from "../fixtures/scripted-openai-server.js";

type Event = Record<string, unknown> & { event: string };
type ErrorAnswer = { error: { code: string; message: string; details?: Record<string, unknown> } };

describe("one mapping from error families to HTTP", () => {
  it("gives each family its code and status, and only the unknown INTERNAL", () => {
    const endpoint = "http://127.0.0.1:9/v1";
    const cases: Array<[unknown, string, number]> = [
      [new ApiError("TURN_IN_PROGRESS", "busy"), "TURN_IN_PROGRESS", 409],
      [
        new ProviderError("PROVIDER_UNREACHABLE", "Could not reach lmx", {
          endpoint,
          retryable: true,
          beforeFirstToken: true,
        }),
        "PROVIDER_UNREACHABLE",
        503,
      ],
      [
        new ProviderError("PROVIDER_ERROR", "lmx answered 500", {
          endpoint,
          status: 500,
          retryable: true,
          beforeFirstToken: true,
        }),
        "PROVIDER_ERROR",
        502,
      ],
      [
        new ProviderError("PROVIDER_TIMEOUT", "lmx did not answer", {
          endpoint,
          retryable: true,
          beforeFirstToken: true,
        }),
        "PROVIDER_TIMEOUT",
        504,
      ],
      [new NoModelError("No model to use"), "NO_MODEL", 503],
      [new ConfigError("config.yaml: 'max-steps' …", "/x/config.yaml"), "CONFIG_INVALID", 500],
      [new VaultError("keychain unreachable"), "VAULT_UNAVAILABLE", 503],
      [new McpCallError("MCP_TIMEOUT", "slow"), "MCP_TIMEOUT", 504],
      [new McpCallError("MCP_SERVER_CRASHED", "gone"), "MCP_ERROR", 502],
      [Object.assign(new Error("request entity too large"), { status: 413 }), "PAYLOAD_TOO_LARGE", 413],
      [Object.assign(new Error("URI malformed"), { status: 400 }), "BAD_REQUEST", 400],
      [new TypeError("x is undefined"), "INTERNAL", 500],
    ];
    const got = cases.map(([error]) => {
      const mapped = toApiError(error);
      return [mapped.code, mapped.status];
    });
    expect(got).toEqual(cases.map(([, code, status]) => [code, status]));
    // The family's own message (which says what to do) reaches the client; an unknown error's does not.
    expect(toApiError(cases[1]![0]).message).toBe("Could not reach lmx");
    expect(toApiError(new TypeError("secret detail")).message).not.toContain("secret detail");
    // Every code the mapper produces has its status in the one table.
    for (const [, code] of cases) expect(ERROR_STATUS).toHaveProperty(code);
  });
});

describe("routes answer each failure with its own code", () => {
  let model: ScriptedServer;
  let daemon: DaemonProcess;
  let cleanup: () => Promise<void>;
  let call: ReturnType<typeof api>;
  let home: string;

  beforeAll(async () => {
    model = await startScriptedServer({ models: ["scripted-a"] });
    ({ home, cleanup } = await tempHome());
    daemon = await spawnDaemon(home, {
      OPTA_LMX_HOST: model.host,
      OPTA_PROVIDER_TIMEOUT_MS: "2000",
      OPTA_VAULT: "file",
    });
    call = api(daemon);
  });
  afterAll(async () => {
    await daemon?.stop();
    await model?.close();
    await cleanup?.();
  });

  async function settled(sessionId: string): Promise<Event[]> {
    return waitFor(async () => {
      const body = (await (await call(`/v3/sessions/${sessionId}/events`)).json()) as { events: Event[] };
      const last = body.events.at(-1)?.event;
      return last === "turn.done" || last === "turn.error" || last === "session.cancelled" ? body.events : undefined;
    });
  }

  it("400 for a bad field, 404 for an unknown session, 409 while a turn runs", async () => {
    const bad = await call("/v3/sessions", { method: "POST", json: { cwd: "relative/dir" } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as ErrorAnswer).error.code).toBe("VALIDATION_FAILED");

    const missing = await call("/v3/sessions/s-nope/compact", { method: "POST" });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as ErrorAnswer).error.code).toBe("SESSION_NOT_FOUND");

    const id = ((await (await call("/v3/sessions", { method: "POST", json: {} })).json()) as { id: string }).id;
    model.setReplies([{ chunks: ["a"], hangAfterChunks: 1 }]);
    await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text: "stall" } });
    const busy = await waitFor(async () => {
      const answer = await call(`/v3/sessions/${id}/compact`, { method: "POST" });
      return answer.status === 409 ? answer : undefined;
    });
    expect(((await busy.json()) as ErrorAnswer).error.code).toBe("TURN_IN_PROGRESS");
    await call(`/v3/sessions/${id}/stop`, { method: "POST" });
  });

  it("/compact with the provider down is 503 PROVIDER_UNREACHABLE saying what to do, not 500 INTERNAL", async () => {
    model.setReplies([{ chunks: ["the answer"] }]);
    const id = ((await (await call("/v3/sessions", { method: "POST", json: {} })).json()) as { id: string }).id;
    await call(`/v3/sessions/${id}/turns`, { method: "POST", json: { text: "hello" } });
    expect((await settled(id)).at(-1)?.event).toBe("turn.done");

    await model.close();
    const answer = await call(`/v3/sessions/${id}/compact`, { method: "POST" });
    const body = (await answer.json()) as ErrorAnswer;
    expect([answer.status, body.error.code]).toEqual([503, "PROVIDER_UNREACHABLE"]);
    expect(body.error.message).toContain(model.host);
    expect(body.error.message).toMatch(/start it with 'opta lmx start'|check that the server is running/);
    expect(body.error.details).toMatchObject({ retryable: true });
  });

  it("GET /v3/doctor answers with the daemon's own checks; a relative cwd is 400", async () => {
    const report = (await (await call(`/v3/doctor?policy=true&cwd=${encodeURIComponent(home)}`)).json()) as {
      checkedBy: string;
      checks: Array<{ id: string }>;
    };
    expect(report.checkedBy).toBe("daemon");
    expect(report.checks.map((check) => check.id)).toEqual(["policy"]);
    const full = (await (await call("/v3/doctor")).json()) as { checks: Array<{ id: string; detail: string }> };
    expect(full.checks.find((check) => check.id === "daemon")?.detail).toContain(`pid ${daemon.child.pid}`);
    const relative = await call("/v3/doctor?cwd=project");
    expect(relative.status).toBe(400);
    expect(((await relative.json()) as ErrorAnswer).error.code).toBe("VALIDATION_FAILED");
  });
});
