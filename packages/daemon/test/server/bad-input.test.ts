import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DaemonProcess, spawnDaemon, tempHome } from "../fixtures/daemon-harness.js";

describe("bad input", () => {
  let daemon: DaemonProcess;
  let cleanup: () => Promise<void>;
  let call: ReturnType<typeof api>;
  let sessionId: string;

  beforeAll(async () => {
    const home = await tempHome();
    cleanup = home.cleanup;
    daemon = await spawnDaemon(home.home, { OPTA_LMX_HOST: "127.0.0.1:9" });
    call = api(daemon);
    sessionId = ((await (await call("/v3/sessions", { method: "POST", json: {} })).json()) as { id: string }).id;
  });
  afterAll(async () => {
    await daemon?.stop();
    await cleanup?.();
  });

  async function expectError(response: Response, status: number, code: string, messagePart?: string) {
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    if (messagePart) expect(body.error.message).toContain(messagePart);
  }

  it("answers malformed JSON with 400", async () => {
    const response = await call(`/v3/sessions/${sessionId}/turns`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"text": "unterminated',
    });
    await expectError(response, 400, "BAD_REQUEST", "not valid JSON");
  });

  it("names the bad field on wrong types and unknown fields", async () => {
    await expectError(
      await call(`/v3/sessions/${sessionId}/turns`, { method: "POST", json: { text: 42 } }),
      400,
      "VALIDATION_FAILED",
      "'text'",
    );
    await expectError(
      await call(`/v3/sessions/${sessionId}/turns`, { method: "POST", json: { text: "hi", mode: "yolo" } }),
      400,
      "VALIDATION_FAILED",
      "'mode'",
    );
    await expectError(
      await call("/v3/sessions", { method: "POST", json: { titel: "typo" } }),
      400,
      "VALIDATION_FAILED",
      "'titel'",
    );
    await expectError(
      await call("/v3/sessions", { method: "POST", json: { cwd: "/definitely/not/here" } }),
      400,
      "VALIDATION_FAILED",
      "'cwd'",
    );
    await expectError(await call("/v3/sessions", { method: "POST", json: [1, 2] }), 400, "VALIDATION_FAILED");
    await expectError(await call("/v3/sessions?limit=abc"), 400, "VALIDATION_FAILED", "'limit'");
    await expectError(
      await call(`/v3/sessions/${sessionId}/events?afterSeq=-1`),
      400,
      "VALIDATION_FAILED",
      "'afterSeq'",
    );
  });

  it("refuses an oversized body with 413 and a non-JSON body with 415", async () => {
    await expectError(
      await call(`/v3/sessions/${sessionId}/turns`, { method: "POST", json: { text: "x".repeat(2 * 1024 * 1024) } }),
      413,
      "PAYLOAD_TOO_LARGE",
    );
    await expectError(
      await call(`/v3/sessions/${sessionId}/turns`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: "hello",
      }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
  });

  it("answers unknown sessions, requests and routes with 404", async () => {
    await expectError(await call("/v3/sessions/s-nothere0000000"), 404, "SESSION_NOT_FOUND");
    await expectError(await call("/v3/sessions/..%2F..%2Fetc%2Fpasswd/events"), 404, "SESSION_NOT_FOUND");
    await expectError(
      await call("/v3/sessions/s-nothere0000000/turns", { method: "POST", json: { text: "hi" } }),
      404,
      "SESSION_NOT_FOUND",
    );
    await expectError(
      await call(`/v3/sessions/${sessionId}/permissions/p-missing000000`, {
        method: "POST",
        json: { decision: "allow" },
      }),
      404,
      "PERMISSION_REQUEST_NOT_FOUND",
    );
    await expectError(await call("/v3/nope"), 404, "NOT_FOUND");
  });

  it("is still serving after all of that", async () => {
    const health = await call("/v3/health");
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true });
    expect(daemon.child.exitCode).toBeNull();
  });
});
