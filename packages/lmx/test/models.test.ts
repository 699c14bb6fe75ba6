import { createReadStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, stat, truncate, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discoverLmx, type LmxServer, listModelFiles, pullModel, startLmx, writeTestModel } from "../src/index.js";
import { client, post, startTestLmx } from "./helpers.js";

let root: string;
let tinyPath: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "opta-lmx-models-"));
  tinyPath = join(root, "source", "tiny.gguf");
  await mkdir(join(root, "source"));
  await writeTestModel(tinyPath, { size: "tiny", seed: 1 });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function modelsDir(name: string, files: Record<string, "tiny" | "garbage" | "truncated">): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [file, kind] of Object.entries(files)) {
    const path = join(dir, file);
    if (kind === "garbage") await writeFile(path, "definitely not a GGUF file");
    else {
      await copyFile(tinyPath, path);
      if (kind === "truncated") await truncate(path, 200_000);
    }
  }
  return dir;
}

type Status = { models: { id: string; state: string }[] };

describe("model management", () => {
  let server: LmxServer;
  afterAll(async () => server?.close());

  it("loads and unloads by API, and unloads idle models after the TTL", async () => {
    server = await startTestLmx({
      modelsDir: await modelsDir("managed", { "a.gguf": "tiny", "b.gguf": "tiny" }),
      idleTtlMs: 400,
    });
    const state = async () =>
      Object.fromEntries(
        ((await (await fetch(`${server.url}/api/v1/models`)).json()) as Status).models.map((m) => [m.id, m.state]),
      );
    expect(await state()).toEqual({ a: "not-loaded", b: "not-loaded" });

    const loaded = await post(server, "/api/v1/models/load", { model: "a" });
    expect(loaded.status).toBe(200);
    expect(await state()).toEqual({ a: "loaded", b: "not-loaded" });
    const unloaded = await post(server, "/api/v1/models/unload", { model: "a" });
    expect(unloaded.json.unloaded).toBe(true);
    expect(await state()).toEqual({ a: "not-loaded", b: "not-loaded" });

    // JIT: a request names an unloaded model, which loads, answers, then unloads when idle.
    const answer = await client(server).chat.completions.create({
      model: "b",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 2,
    });
    expect(answer.model).toBe("b");
    expect((await state()).b).toBe("loaded");
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect((await state()).b).toBe("not-loaded");

    // While a model loads, /health stays 200 and says "loading".
    const loading = post(server, "/api/v1/models/load", { model: "a" });
    const seen = new Set<string>();
    while (!seen.has("200 loading") && (await state()).a !== "loaded") {
      const health = await fetch(`${server.url}/health`);
      seen.add(`${health.status} ${((await health.json()) as { status: string }).status}`);
    }
    expect((await loading).status).toBe(200);
    expect([...seen].every((entry) => entry.startsWith("200 "))).toBe(true);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);

    const missing = await post(server, "/api/v1/models/load", { model: "zzz" });
    expect(missing.status).toBe(404);

    // Requests resolve against a cached listing, but a model added since is found at once.
    await copyFile(tinyPath, join(root, "managed", "c.gguf"));
    expect((await post(server, "/api/v1/models/load", { model: "c" })).status).toBe(200);
  });

  it("reports broken and truncated GGUFs clearly and keeps serving the good ones", async () => {
    const dir = await modelsDir("mixed", { "good.gguf": "tiny", "broken.gguf": "garbage", "cut.gguf": "truncated" });
    const lmx = await startTestLmx({ modelsDir: dir });
    try {
      const broken = await post(lmx, "/v1/chat/completions", {
        model: "broken",
        messages: [{ role: "user", content: "x" }],
      });
      expect(broken.status).toBe(422);
      expect(broken.json.error!.code).toBe("model_invalid");
      expect(broken.json.error!.message).toMatch(/broken\.gguf is not a usable GGUF model/);
      const cut = await post(lmx, "/api/v1/models/load", { model: "cut" });
      expect(cut.status).toBe(422);
      expect(cut.json.error!.message).toMatch(/truncated/);
      const good = await client(lmx).chat.completions.create({
        model: "good",
        messages: [{ role: "user", content: "x" }],
        max_tokens: 2,
      });
      expect(good.choices).toHaveLength(1);
      expect((await fetch(`${lmx.url}/health`)).status).toBe(200);
    } finally {
      await lmx.close();
    }
  });

  it("serves an empty models directory and says how to add a model", async () => {
    const lmx = await startTestLmx({ modelsDir: join(root, "empty", "models") });
    try {
      expect((await client(lmx).models.list()).data).toEqual([]);
      const chat = await post(lmx, "/v1/chat/completions", {
        model: "anything",
        messages: [{ role: "user", content: "x" }],
      });
      expect(chat.status).toBe(404);
      expect(chat.json.error!.code).toBe("no_models");
      expect(chat.json.error!.message).toContain("opta lmx pull");
    } finally {
      await lmx.close();
    }
  });

  it("refuses to load a model that does not fit in memory", async () => {
    const lmx = await startTestLmx({
      modelsDir: await modelsDir("small-budget", { "tiny.gguf": "tiny" }),
      memoryLimitBytes: 1024 * 1024,
    });
    try {
      const response = await post(lmx, "/api/v1/models/load", { model: "tiny" });
      expect(response.status).toBe(507);
      expect(response.json.error!.code).toBe("insufficient_memory");
      expect(response.json.error!.message).toMatch(/needs about .* GiB/);
    } finally {
      await lmx.close();
    }
  });
});

describe("safety", () => {
  it("refuses to listen beyond loopback without an API key", async () => {
    await expect(startLmx({ host: "0.0.0.0", port: 0, modelsDir: join(root, "x") })).rejects.toThrow(
      /without an API key/,
    );
  });

  it("requires the API key when one is set, except for /health", async () => {
    const lmx = await startTestLmx({ modelsDir: await modelsDir("keyed", { "tiny.gguf": "tiny" }), apiKey: "s3cret" });
    try {
      expect((await fetch(`${lmx.url}/health`)).status).toBe(200);
      const denied = await fetch(`${lmx.url}/v1/models`);
      expect(denied.status).toBe(401);
      expect(((await denied.json()) as { error: { type: string } }).error.type).toBe("authentication_error");
      await expect(client(lmx, "wrong").models.list()).rejects.toMatchObject({ status: 401 });
      expect((await client(lmx, "s3cret").models.list()).data).toHaveLength(1);
    } finally {
      await lmx.close();
    }
  });
});

describe("discovery and pull", () => {
  it("advertises _opta-lmx._tcp over mDNS (loopback only in tests)", async () => {
    const lmx = await startTestLmx({ modelsDir: join(root, "mdns"), advertise: true, advertiseInterface: "127.0.0.1" });
    try {
      const found = await discoverLmx({ interface: "127.0.0.1", timeoutMs: 1500 });
      const mine = found.find((service) => service.port === lmx.port);
      expect(mine).toBeDefined();
      expect(mine!.baseUrl).toBe(`http://127.0.0.1:${lmx.port}/v1`);
      expect(mine!.auth).toBe(false);
      expect(mine!.version).toMatch(/^\d+\.\d+\.\d+/);
    } finally {
      await lmx.close();
    }
  });

  it("pulls a GGUF from an HTTP server into the models directory, and rejects a non-GGUF download", async () => {
    const size = (await stat(tinyPath)).size;
    const files: Record<string, string> = { "/tiny-pulled.gguf": tinyPath, "/fake.gguf": join(root, "fake.bin") };
    await writeFile(files["/fake.gguf"]!, "<html>not found</html>");
    const http: Server = createServer((request, response) => {
      const file = files[request.url ?? ""];
      if (!file) {
        response.writeHead(404).end();
        return;
      }
      const length = file === tinyPath ? size : 22;
      const range = /bytes=(\d+)-(\d*)/.exec(request.headers.range ?? "");
      const start = range ? Number(range[1]) : 0;
      const end = range?.[2] ? Number(range[2]) : length - 1;
      response.writeHead(range ? 206 : 200, {
        "Content-Length": end - start + 1,
        "Accept-Ranges": "bytes",
        ...(range ? { "Content-Range": `bytes ${start}-${end}/${length}` } : {}),
      });
      if (request.method === "HEAD") response.end();
      else createReadStream(file, { start, end }).pipe(response);
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const dir = join(root, "pulled");
    try {
      const progress: number[] = [];
      const pulled = await pullModel(`${base}/tiny-pulled.gguf`, {
        modelsDir: dir,
        onProgress: (p) => progress.push(p.downloadedBytes),
      });
      expect(pulled.id).toBe("tiny-pulled");
      expect(pulled.sizeBytes).toBe(size);
      expect(progress.at(-1)).toBe(size);
      expect((await listModelFiles(dir)).map((file) => file.id)).toEqual(["tiny-pulled"]);
      await expect(pullModel(`${base}/fake.gguf`, { modelsDir: dir })).rejects.toThrow(/not usable, so it was deleted/);
      expect((await listModelFiles(dir)).map((file) => file.id)).toEqual(["tiny-pulled"]);
      await expect(pullModel("ftp://example/x.gguf", { modelsDir: dir })).rejects.toThrow(/hf:/);

      // The same name again: refused (nothing downloaded) unless forced, and then reported as a replacement.
      await expect(pullModel(`${base}/tiny-pulled.gguf`, { modelsDir: dir })).rejects.toThrow(
        /tiny-pulled\.gguf already exists in .*pass --force/,
      );
      const again = await pullModel(`${base}/tiny-pulled.gguf`, { modelsDir: dir, force: true });
      expect(again).toMatchObject({ id: "tiny-pulled", sizeBytes: size, replaced: true });
      // A broken download never replaces a working model, even when forced.
      files["/tiny-pulled.gguf"] = files["/fake.gguf"]!;
      await expect(pullModel(`${base}/tiny-pulled.gguf`, { modelsDir: dir, force: true })).rejects.toThrow(
        /not usable/,
      );
      expect((await stat(join(dir, "tiny-pulled.gguf"))).size).toBe(size);
      // A missing file says what to check.
      await expect(pullModel(`${base}/missing.gguf`, { modelsDir: dir })).rejects.toThrow(
        /missing\.gguf was not found \(HTTP 404\); check the URL/,
      );
      // The staging directory is gone and was never listed.
      expect((await listModelFiles(dir)).map((file) => file.id)).toEqual(["tiny-pulled"]);
      await expect(stat(join(dir, ".pull"))).rejects.toThrow(/ENOENT/);
    } finally {
      http.close();
    }
  });
});
