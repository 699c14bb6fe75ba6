/**
 * LMX's dashboard over plain HTTP: what it serves, its snapshot, its stream, and the attacks it
 * refuses (family `lmx-dashboard`). The page itself, in Chromium, is in dashboard-browser.test.ts.
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportFamily, type SecurityCase } from "../../../scripts/security-family.js";
import type { LmxServer } from "../src/index.js";
import { PullProgressWriter, readPullProgress } from "../src/models/pull-progress.js";
import { startTestLmx, tinyModelsDir } from "./helpers.js";

type Reply = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

/** A raw request, so that Host, Origin and Sec-Fetch-* can be anything (fetch() fixes Host). */
function send(
  server: LmxServer,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: "127.0.0.1", port: server.port, method, path, headers: { Host: `127.0.0.1:${server.port}`, ...headers } },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        // A stream (events) is judged by its status and headers alone.
        if (response.headers["content-type"]?.startsWith("text/event-stream")) {
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: "" });
          response.destroy();
          return;
        }
        response.on("data", (chunk) => {
          text += chunk;
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
      },
    );
    request.on("error", reject);
    request.end(method === "POST" ? body : undefined);
  });
}

const json = { "Content-Type": "application/json" };
const loadBody = JSON.stringify({ model: "tiny" });

describe("LMX dashboard over HTTP", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let open: LmxServer;
  let keyed: LmxServer;
  const KEY = "dashboard-test-key-3f9a";

  beforeAll(async () => {
    ({ dir, cleanup } = await tinyModelsDir());
    open = await startTestLmx({ modelsDir: dir, idleTtlMs: 0 });
    keyed = await startTestLmx({ modelsDir: dir, idleTtlMs: 0, apiKey: KEY });
  });

  afterAll(async () => {
    await open?.close();
    await keyed?.close();
    await cleanup?.();
  });

  it("serves the page and its files with a strict CSP, from the built package too", async () => {
    const page = await send(open, "GET", "/dashboard");
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.body).toContain('<script type="module" src="/dashboard/dashboard.js">');
    const csp = String(page.headers["content-security-policy"]);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("frame-ancestors 'none'");
    // Also with a trailing slash, and each file with its type.
    expect((await send(open, "GET", "/dashboard/")).status).toBe(200);
    for (const [path, type] of [
      ["/dashboard/dashboard.js", "text/javascript"],
      ["/dashboard/dashboard.css", "text/css"],
      ["/dashboard/icon.svg", "image/svg+xml"],
    ]) {
      const file = await send(open, "GET", path!);
      expect(file.status).toBe(200);
      expect(String(file.headers["content-type"])).toContain(type!);
    }
    // The published package carries the files its dist/ serves (package.json `files`).
    const packed = spawnSync("npm", ["pack", "--dry-run", "--json"], {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      encoding: "utf8",
    });
    const files = (JSON.parse(packed.stdout) as [{ files: { path: string }[] }])[0].files.map((file) => file.path);
    for (const name of ["index.html", "dashboard.js", "dashboard.css", "icon.svg"]) {
      expect(files).toContain(`src/dashboard/static/${name}`);
    }
    expect(files).toContain("dist/dashboard/routes.js");
  });

  it("describes each model and streams snapshots; /health says whether a key is needed", async () => {
    const state = JSON.parse((await send(open, "GET", "/dashboard/api/state")).body);
    expect(state.models).toEqual([
      expect.objectContaining({
        id: "tiny",
        size_bytes: expect.any(Number),
        quantization: "F32",
        train_context_size: 4096,
        context_size: 4096,
        state: "not-loaded",
        memory_estimate_bytes: expect.any(Number),
        fits: true,
        memory_measured_bytes: null,
      }),
    ]);
    expect(state.metrics).toMatchObject({ tokens_per_second: 0, queue_depth: 0, active_sequences: 0 });
    expect(JSON.parse((await send(open, "GET", "/health")).body).auth_required).toBe(false);
    expect(JSON.parse((await send(keyed, "GET", "/health")).body).auth_required).toBe(true);

    const response = await fetch(`${open.url}/dashboard/api/events`);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("event: snapshot\ndata: ")) text += (await reader.read()).value ?? "";
    await reader.cancel();
  });

  it("refuses DNS rebinding, other origins and missing keys on the page, its API and its stream", async ({ task }) => {
    const cases: SecurityCase[] = [];
    const expectRefused = async (attack: string, reply: Promise<Reply>, status: number, code?: string) => {
      const result = await reply;
      const refused =
        result.status === status &&
        (code === undefined || result.body.includes(`"${code}"`)) &&
        result.headers["access-control-allow-origin"] === undefined;
      cases.push({
        attack,
        refused,
        ...(refused ? {} : { detail: `HTTP ${result.status} ${result.body.slice(0, 160)}` }),
      });
    };
    const rebound = { Host: `evil.example:${open.port}` };
    for (const [method, path] of [
      ["GET", "/dashboard"],
      ["GET", "/dashboard/dashboard.js"],
      ["GET", "/dashboard/api/state"],
      ["GET", "/dashboard/api/events"],
      ["POST", "/dashboard/api/models/load"],
    ] as const) {
      await expectRefused(
        `DNS rebinding: ${method} ${path} with Host evil.example`,
        send(open, method, path, { ...rebound, ...json, Origin: `http://evil.example:${open.port}` }, loadBody),
        403,
        "forbidden_host",
      );
    }
    // Another page on loopback is a different origin: LMX's OpenAI API lets it in (CORS for local
    // tools), the dashboard's API does not.
    for (const origin of [
      "http://localhost:3000",
      `http://localhost:${open.port + 1}`,
      "https://evil.example",
      "null",
    ]) {
      await expectRefused(
        `cross-origin load from ${origin}`,
        send(open, "POST", "/dashboard/api/models/load", { ...json, Origin: origin }, loadBody),
        403,
        "forbidden_origin",
      );
      await expectRefused(
        `cross-origin read of the state from ${origin}`,
        send(open, "GET", "/dashboard/api/state", { Origin: origin }),
        403,
        "forbidden_origin",
      );
      await expectRefused(
        `cross-origin stream from ${origin}`,
        send(open, "GET", "/dashboard/api/events", { Origin: origin }),
        403,
        "forbidden_origin",
      );
    }
    await expectRefused(
      "preflight for a cross-origin unload",
      send(open, "OPTIONS", "/dashboard/api/models/unload", {
        Origin: "http://localhost:3000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
      }),
      403,
      "forbidden_origin",
    );
    await expectRefused(
      "a browser request marked cross-site without an Origin",
      send(open, "POST", "/dashboard/api/models/unload", { ...json, "Sec-Fetch-Site": "cross-site" }, loadBody),
      403,
      "forbidden_origin",
    );
    await expectRefused(
      "a same-site (other port) browser read without an Origin",
      send(open, "GET", "/dashboard/api/state", { "Sec-Fetch-Site": "same-site" }),
      403,
      "forbidden_origin",
    );
    await expectRefused(
      "a form-style text/plain POST (no preflight) to load",
      send(open, "POST", "/dashboard/api/models/load", { "Content-Type": "text/plain" }, loadBody),
      415,
      "unsupported_media_type",
    );
    // With a key configured, nothing with data answers without it — and never takes it from the URL.
    for (const [method, path] of [
      ["GET", "/dashboard/api/state"],
      ["GET", "/dashboard/api/events"],
      ["POST", "/dashboard/api/models/load"],
      ["POST", "/dashboard/api/models/unload"],
    ] as const) {
      await expectRefused(
        `${method} ${path} without the key`,
        send(keyed, method, path, json, loadBody),
        401,
        "invalid_api_key",
      );
      await expectRefused(
        `${method} ${path} with a wrong key`,
        send(keyed, method, path, { ...json, Authorization: "Bearer not-the-key" }, loadBody),
        401,
        "invalid_api_key",
      );
      await expectRefused(
        `${method} ${path} with the key in the query string`,
        send(keyed, method, `${path}?key=${KEY}&api_key=${KEY}&token=${KEY}`, json, loadBody),
        401,
        "invalid_api_key",
      );
    }
    // Only the listed files: no path reaches the rest of the package.
    for (const path of [
      "/dashboard/../package.json",
      "/dashboard/%2e%2e/%2e%2e/package.json",
      "/dashboard/index.html/..%2f..%2fdashboard.test.ts",
      "/dashboard/routes.ts",
    ]) {
      await expectRefused(`static path ${path}`, send(open, "GET", path), 404, "not_found");
    }
    // Clickjacking the load buttons: the page may not be framed anywhere.
    const page = await send(open, "GET", "/dashboard");
    const framable =
      !String(page.headers["content-security-policy"]).includes("frame-ancestors 'none'") ||
      page.headers["x-frame-options"] !== "DENY";
    cases.push({ attack: "framing the dashboard (clickjacking)", refused: !framable });

    // The controls: the same requests from the page's own origin, or with the key, do go through,
    // so the refusals above are the checks' doing, not a broken route.
    const own = { ...json, Origin: `http://127.0.0.1:${open.port}`, "Sec-Fetch-Site": "same-origin" };
    expect((await send(open, "POST", "/dashboard/api/models/load", own, loadBody)).status).toBe(200);
    expect((await send(open, "POST", "/dashboard/api/models/unload", own, loadBody)).status).toBe(200);
    expect((await send(keyed, "GET", "/dashboard/api/state", { Authorization: `Bearer ${KEY}` })).status).toBe(200);
    // The same authority over https (a TLS-terminating proxy in front) is still the page's own.
    const proxied = { Origin: `https://127.0.0.1:${open.port}` };
    expect((await send(open, "GET", "/dashboard/api/state", proxied)).status).toBe(200);
    // The page shell itself opens from a link on another site (the platform's lmx site links here).
    expect((await send(open, "GET", "/dashboard", { "Sec-Fetch-Site": "cross-site" })).status).toBe(200);
    // And the OpenAI-side route that allows loopback pages does take the localhost:3000 load the
    // dashboard refused: the attack is real against an origin check as loose as that one.
    const loose = await send(
      open,
      "POST",
      "/api/v1/models/load",
      { ...json, Origin: "http://localhost:3000" },
      loadBody,
    );
    expect(loose.status).toBe(200);

    const report = reportFamily(task, "lmx-dashboard", cases);
    expect(report.through).toEqual([]);
  });

  it("shows a pull's progress record while its process lives, and not an interrupted pull's", async () => {
    const models = await mkdtemp(join(tmpdir(), "opta-lmx-pulls-"));
    try {
      const staging = join(models, ".pull");
      await mkdir(staging);
      // A record left by a pull whose process died (killed, power cut): never shown as running.
      const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
        encoding: "utf8",
      });
      const stale = { source: "hf:a/b/c.gguf", files: ["c.gguf"], downloadedBytes: 5, totalBytes: 10 };
      await writeFile(
        join(staging, `${gone.stdout}-dead.progress.json`),
        JSON.stringify({ ...stale, startedAt: "", updatedAt: "", pid: Number(gone.stdout) }),
      );
      expect(await readPullProgress(models)).toEqual([]);

      const writer = new PullProgressWriter(staging, "https://example.test/m.gguf");
      writer.update({ files: ["m.gguf"], downloadedBytes: 1024, totalBytes: 4096 });
      let shown = await readPullProgress(models);
      while (shown.length === 0) shown = await readPullProgress(models);
      expect(shown).toEqual([
        expect.objectContaining({ source: "https://example.test/m.gguf", files: ["m.gguf"], pid: process.pid }),
      ]);
      await writer.close();
      expect(await readPullProgress(models)).toEqual([]);
      // Only the stale record is left: nothing of the finished pull, no temp files.
      expect(await readdir(staging)).toEqual([`${gone.stdout}-dead.progress.json`]);
    } finally {
      await rm(models, { recursive: true, force: true });
    }
  });
});
