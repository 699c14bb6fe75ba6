import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_LAUNCHER, type CliResult, cliEnv, runCli } from "../fixtures/run-cli.js";

let home: string;
let modelsDir: string;
let source: string;

/** The built `opta` launcher, run as users run it, against a temporary home. */
function opta(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { home, bin: CLI_LAUNCHER, noStdin: true, env: { OPTA_LMX_HOST: "127.0.0.1:9", ...env } });
}

/** A failure as the CLI reports one: a non-zero exit and exactly one `error: …` line on stderr. */
function expectOneLineError(result: CliResult, code: number, message: RegExp): void {
  expect(result.code, result.stderr).toBe(code);
  const lines = result.stderr.trimEnd().split("\n");
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(message);
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "opta-lmx-cli-"));
  modelsDir = join(home, "models");
  await mkdir(modelsDir);
  source = join(home, "source");
  await mkdir(source);
});

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe("opta lmx test-model", () => {
  it("writes the same bytes for the same seed, different ones for another seed", async () => {
    const first = await opta(["lmx", "test-model", join(source, "a.gguf"), "--size", "tiny", "--seed", "3"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^wrote .*a\.gguf \(tiny, seed 3\)/);
    expect((await opta(["lmx", "test-model", join(source, "b.gguf"), "--size", "tiny", "--seed", "3"])).code).toBe(0);
    expect((await opta(["lmx", "test-model", join(source, "c.gguf"), "--seed", "4"])).code).toBe(0);
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((name) => readFile(join(source, `${name}.gguf`))));
    expect(a!.subarray(0, 4).toString()).toBe("GGUF");
    expect(a!.equals(b!)).toBe(true);
    expect(a!.equals(c!)).toBe(false);
  });

  it("rejects bad flags with one line and exit code 2", async () => {
    expectOneLineError(
      await opta(["lmx", "test-model", join(source, "x.gguf"), "--size", "huge"]),
      2,
      /--size must be tiny, small or mid, got 'huge'/,
    );
    expectOneLineError(
      await opta(["lmx", "test-model", join(source, "x.gguf"), "--seed", "abc"]),
      2,
      /--seed must be an integer/,
    );
    await expect(stat(join(source, "x.gguf"))).rejects.toThrow(/ENOENT/);
  });
});

describe("opta lmx start, status, models, load, unload", () => {
  let server: ChildProcess;
  let host: string;
  let serverStderr = "";

  beforeAll(async () => {
    const { copyFile } = await import("node:fs/promises");
    await copyFile(join(source, "a.gguf"), join(modelsDir, "tiny.gguf"));
    server = spawn(
      process.execPath,
      [
        CLI_LAUNCHER,
        "lmx",
        "start",
        "--port",
        "0",
        "--models",
        modelsDir,
        "--threads",
        "1",
        "--parallel",
        "1",
        "--quiet",
      ],
      { env: cliEnv(home), stdio: ["ignore", "pipe", "pipe"] },
    );
    host = await new Promise<string>((resolve, reject) => {
      server.stderr!.on("data", (chunk: Buffer) => {
        serverStderr += chunk;
        const match = /listening on http:\/\/([^/\s]+)\/v1/.exec(serverStderr);
        if (match) resolve(match[1]!);
      });
      server.once("exit", (code) => reject(new Error(`opta lmx start exited with ${code}: ${serverStderr}`)));
    });
  });

  afterAll(async () => {
    if (server.exitCode === null) {
      const exited = new Promise((resolve) => server.once("exit", resolve));
      server.kill("SIGTERM");
      await exited;
    }
  });

  it("reports status, lists, loads and unloads, and stops on SIGTERM", async () => {
    const env = { OPTA_LMX_HOST: host };
    // `start` names the dashboard's address, and the page is there.
    while (!serverStderr.includes("dashboard:")) await once(server.stderr!, "data");
    expect(serverStderr).toContain(`dashboard: http://${host}/dashboard`);
    expect((await fetch(`http://${host}/dashboard`)).status).toBe(200);
    const status = await opta(["lmx", "status"], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^LMX \\S+ at http://${host}/v1: ok, 1 models, 0 loaded`));

    const models = await opta(["lmx", "models", "--json"], env);
    expect(models.code, models.stderr).toBe(0);
    expect(JSON.parse(models.stdout)).toMatchObject([{ id: "tiny", state: "not-loaded" }]);

    const load = await opta(["lmx", "load", "tiny", "--host", host]);
    expect(load.code, load.stderr).toBe(0);
    expect(load.stdout).toMatch(/^loaded tiny \(.+\) in \d+ ms/);
    const loaded = await opta(["lmx", "status", "--json"], env);
    expect(JSON.parse(loaded.stdout)).toMatchObject({ status: "ok", models: [{ id: "tiny", state: "loaded" }] });
    const table = await opta(["lmx", "models"], env);
    expect(table.stdout).toMatch(/tiny\s+\S+ \S+\s+loaded/);

    expect((await opta(["lmx", "unload", "tiny"], env)).stdout).toBe("unloaded tiny\n");
    expect((await opta(["lmx", "unload", "tiny"], env)).stdout).toBe("tiny was not loaded\n");

    expectOneLineError(await opta(["lmx", "load", "nope"], env), 1, /model 'nope' is not in .*; available: tiny/);

    const exited = new Promise<number | null>((resolve) => server.once("exit", resolve));
    server.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(serverStderr).toMatch(/stopping LMX/);
    expectOneLineError(await opta(["lmx", "status"], env), 1, /LMX is not reachable at http:\/\/127\.0\.0\.1:\d+/);
  });

  it("lists the directory when LMX is not running, and refuses bad start flags", async () => {
    const offline = await opta(["lmx", "models", "--models", modelsDir]);
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stdout).toMatch(/tiny\s+\S+ \S+\s+not-running/);
    expectOneLineError(await opta(["lmx", "start", "--port", "99999"]), 2, /--port must be an integer from 0 to 65535/);
    expectOneLineError(
      await opta(["lmx", "start", "--host", "0.0.0.0", "--port", "0", "--models", modelsDir]),
      1,
      /refusing to listen on 0\.0\.0\.0 without an API key/,
    );
  });
});

describe("opta lmx pull", () => {
  let http: Server;
  let base: string;

  beforeAll(async () => {
    const files: Record<string, string> = { "/pulled.gguf": join(source, "a.gguf") };
    http = createServer((request, response) => {
      const file = files[request.url ?? ""];
      if (!file) {
        response.writeHead(404).end();
        return;
      }
      void stat(file).then(({ size }) => {
        const range = /bytes=(\d+)-(\d*)/.exec(request.headers.range ?? "");
        const start = range ? Number(range[1]) : 0;
        const end = range?.[2] ? Number(range[2]) : size - 1;
        response.writeHead(range ? 206 : 200, {
          "Content-Length": end - start + 1,
          "Accept-Ranges": "bytes",
          ...(range ? { "Content-Range": `bytes ${start}-${end}/${size}` } : {}),
        });
        if (request.method === "HEAD") response.end();
        else createReadStream(file, { start, end }).pipe(response);
      });
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterAll(() => {
    http.close();
  });

  it("downloads into the models directory, refuses to overwrite without --force, and explains a 404", async () => {
    const dir = join(home, "pulled-models");
    const pulled = await opta(["lmx", "pull", `${base}/pulled.gguf`, "--models", dir]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stdout).toMatch(/^pulled pulled \(.+\) into /);
    expect((await readFile(join(dir, "pulled.gguf"))).equals(await readFile(join(source, "a.gguf")))).toBe(true);

    expectOneLineError(
      await opta(["lmx", "pull", `${base}/pulled.gguf`, "--models", dir]),
      1,
      /pull failed: pulled\.gguf already exists in .*pass --force/,
    );
    const forced = await opta(["lmx", "pull", `${base}/pulled.gguf`, "--models", dir, "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/^pulled and replaced pulled /);

    expectOneLineError(
      await opta(["lmx", "pull", `${base}/nothing.gguf`, "--models", dir]),
      1,
      /nothing\.gguf was not found \(HTTP 404\); check the URL/,
    );
    expectOneLineError(await opta(["lmx", "pull", "ftp://example/x.gguf", "--models", dir]), 1, /use hf:/);
  });
});

describe("opta lmx build", () => {
  it("without cmake or a compiler, fails at once with the apt-get line, before building anything", async () => {
    // A PATH with git and make but neither cmake nor a C++ compiler.
    const bin = join(home, "bin-without-compilers");
    await mkdir(bin);
    for (const tool of ["git", "make"]) {
      await writeFile(join(bin, tool), "#!/bin/sh\nexit 0\n");
      await chmod(join(bin, tool), 0o755);
    }
    const result = await opta(["lmx", "build"], { PATH: bin });
    expectOneLineError(
      result,
      1,
      /LMX_BUILD_TOOLS_MISSING: .*missing: cmake, a C\+\+ compiler\. On Debian or Ubuntu: sudo apt-get install cmake g\+\+ /,
    );
    expect(result.stdout).toBe("");
  });

  it("is listed under opta lmx with what it needs", async () => {
    const result = await opta(["lmx", "--help"]);
    // Commander wraps the description: compare it with the whitespace folded.
    expect(result.stdout.replace(/\s+/g, " ")).toContain(
      "build [options] build llama.cpp natively from the source node-llama-cpp bundles (no download; needs cmake and g++)",
    );
  });
});
