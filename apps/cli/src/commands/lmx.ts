/**
 * `opta lmx …`: run and drive Opta LMX, the OpenAI-compatible inference server. Only commander
 * types load with this module; @opta/lmx (and node-llama-cpp) load inside the actions that need
 * them, so `opta --help` stays fast.
 */
import type { Command } from "commander";
import { CliError, UsageError } from "../output/errors.js";
import { dim, notice, print, table } from "../output/terminal.js";

type ServerFlags = { host?: string; apiKey?: string };

/**
 * Loads `specifier` (@opta/lmx), an optional peer of the CLI: it carries node-llama-cpp and its
 * native binaries, which a CLI that only talks to the daemon, or to LMX on another machine, does
 * not need. Missing, it is one clear error saying how to add it.
 */
export async function loadOptionalLmx<T = typeof import("@opta/lmx")>(specifier = "@opta/lmx"): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && String(error).includes(specifier)) {
      throw new CliError(
        `Opta LMX is not installed with this CLI (${specifier} is an optional part: it brings node-llama-cpp). ` +
          `Install it beside opta with 'npm install -g ${specifier}', or point the daemon at a running server with 'opta config set lmx.host HOST:PORT'.`,
      );
    }
    throw error;
  }
}

const DEFAULT_LMX = "127.0.0.1:1234";

function integer(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
  }
  return parsed;
}

async function defaultModelsDir(): Promise<string> {
  const { optaPaths, resolveOptaHome } = await import("@opta/local");
  return optaPaths(resolveOptaHome()).lmxModels;
}

/** Where a running LMX is: --host, else $OPTA_LMX_HOST, else config `lmx.host`, else 127.0.0.1:1234. */
async function serverUrl(flags: ServerFlags): Promise<string> {
  let target = flags.host ?? process.env.OPTA_LMX_HOST;
  if (!target) {
    const { loadConfig, optaPaths, resolveOptaHome } = await import("@opta/local");
    const config = await loadConfig(optaPaths(resolveOptaHome()).config).catch(
      () => ({}) as { lmx?: { host?: string } },
    );
    target = config.lmx?.host ?? DEFAULT_LMX;
  }
  const withScheme = /^https?:\/\//i.test(target) ? target : `http://${target}`;
  return withScheme.replace(/\/+$/, "").replace(/\/v1$/, "");
}

async function call(flags: ServerFlags, method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
  const base = await serverUrl(flags);
  const apiKey = flags.apiKey ?? process.env.OPTA_LMX_API_KEY;
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(method === "POST" ? 600_000 : 5_000),
    });
  } catch {
    throw new CliError(`LMX is not reachable at ${base}; start it with 'opta lmx start'`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (!response.ok && response.status !== 503) {
    const message = (parsed as { error?: { message?: string } })?.error?.message ?? `HTTP ${response.status}`;
    throw new CliError(`LMX at ${base}: ${message}`);
  }
  return parsed;
}

function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "-";
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

type ModelRow = {
  id: string;
  size_bytes: number;
  state: string;
  active: number;
  queued: number;
  memory_bytes: number | null;
};

function printModels(models: ModelRow[]): void {
  if (models.length === 0) {
    print("no models; add one with 'opta lmx pull <hf:user/repo/file.gguf | https://…>'");
    return;
  }
  table(
    ["MODEL", "SIZE", "STATE", "ACTIVE", "QUEUED", "MEMORY"],
    models.map((model) => [
      model.id,
      formatBytes(model.size_bytes),
      model.state,
      String(model.active),
      String(model.queued),
      formatBytes(model.memory_bytes),
    ]),
  );
}

async function start(options: {
  host?: string;
  port?: string;
  models?: string;
  apiKey?: string;
  advertise?: boolean;
  threads?: string;
  parallel?: string;
  queueLimit?: string;
  idleTtl?: string;
  contextSize?: string;
  quiet?: boolean;
}): Promise<void> {
  const { startLmx } = await loadOptionalLmx();
  const modelsDir = options.models ?? (await defaultModelsDir());
  const idleTtlSeconds = integer("idle-ttl", options.idleTtl, 0, 24 * 3600 * 365);
  // Flags are checked (exit code 2) before anything starts.
  const settings: Parameters<typeof startLmx>[0] = {
    modelsDir,
    ...(options.host ? { host: options.host } : {}),
    ...(options.port !== undefined ? { port: integer("port", options.port, 0, 65535)! } : {}),
    ...((options.apiKey ?? process.env.OPTA_LMX_API_KEY)
      ? { apiKey: options.apiKey ?? process.env.OPTA_LMX_API_KEY }
      : {}),
    advertise: options.advertise === true,
    ...(options.threads !== undefined ? { threads: integer("threads", options.threads, 1, 256)! } : {}),
    ...(options.parallel !== undefined ? { parallel: integer("parallel", options.parallel, 1, 64)! } : {}),
    ...(options.queueLimit !== undefined ? { queueLimit: integer("queue-limit", options.queueLimit, 0, 10_000)! } : {}),
    ...(idleTtlSeconds !== undefined ? { idleTtlMs: idleTtlSeconds * 1000 } : {}),
    ...(options.contextSize !== undefined
      ? { contextSize: integer("context-size", options.contextSize, 256, 1 << 20)! }
      : {}),
    ...(options.quiet ? {} : { log: (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`) }),
  };
  let server: Awaited<ReturnType<typeof startLmx>>;
  try {
    server = await startLmx(settings);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  notice(`Opta LMX listening on ${server.url}/v1 — models in ${modelsDir} (Ctrl+C stops)`);
  notice(`dashboard: ${server.url}/dashboard`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      notice("stopping LMX…");
      void server.close().then(resolve);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

async function status(options: ServerFlags & { json?: boolean }): Promise<void> {
  const base = await serverUrl(options);
  const health = (await call(options, "GET", "/health")) as { status: string; version: string };
  const { models } = (await call(options, "GET", "/api/v1/models")) as { models: ModelRow[] };
  if (options.json) {
    print(JSON.stringify({ url: base, ...health, models }, null, 2));
    return;
  }
  const loaded = models.filter((model) => model.state === "loaded");
  print(`LMX ${health.version} at ${base}/v1: ${health.status}, ${models.length} models, ${loaded.length} loaded`);
  if (loaded.length > 0) printModels(loaded);
}

async function models(options: ServerFlags & { models?: string; json?: boolean }): Promise<void> {
  let rows: ModelRow[];
  try {
    rows = ((await call(options, "GET", "/api/v1/models")) as { models: ModelRow[] }).models;
  } catch (error) {
    if (options.host) throw error;
    // Not running: list the directory instead.
    const { listModelFiles } = await loadOptionalLmx();
    const dir = options.models ?? (await defaultModelsDir());
    rows = (await listModelFiles(dir)).map((file) => ({
      id: file.id,
      size_bytes: file.sizeBytes,
      state: "not-running",
      active: 0,
      queued: 0,
      memory_bytes: null,
    }));
    if (!options.json) notice(dim(`LMX is not running; listing ${dir}`, process.stderr));
  }
  if (options.json) print(JSON.stringify(rows, null, 2));
  else printModels(rows);
}

async function load(model: string, options: ServerFlags): Promise<void> {
  const started = performance.now();
  const result = (await call(options, "POST", "/api/v1/models/load", { model })) as { model: ModelRow };
  print(
    `loaded ${result.model.id} (${formatBytes(result.model.memory_bytes)}) in ${Math.round(performance.now() - started)} ms`,
  );
}

async function unload(model: string, options: ServerFlags): Promise<void> {
  const result = (await call(options, "POST", "/api/v1/models/unload", { model })) as {
    unloaded: boolean;
    model: ModelRow;
  };
  print(result.unloaded ? `unloaded ${result.model.id}` : `${result.model.id} was not loaded`);
}

async function pull(source: string, options: { models?: string; force?: boolean }): Promise<void> {
  const { pullModel } = await loadOptionalLmx();
  const modelsDir = options.models ?? (await defaultModelsDir());
  const controller = new AbortController();
  const cancel = () => controller.abort(new Error("cancelled"));
  process.once("SIGINT", cancel);
  try {
    const pulled = await pullModel(source, {
      modelsDir,
      force: options.force === true,
      showProgressBar: Boolean(process.stdout.isTTY),
      signal: controller.signal,
    });
    print(
      `${pulled.replaced ? "pulled and replaced" : "pulled"} ${pulled.id} (${formatBytes(pulled.sizeBytes)}) into ${modelsDir}`,
    );
  } catch (error) {
    throw new CliError(controller.signal.aborted ? "pull cancelled" : `pull failed: ${(error as Error).message}`);
  } finally {
    process.off("SIGINT", cancel);
  }
}

async function testModel(out: string, options: { size?: string; seed?: string }): Promise<void> {
  const size = options.size ?? "tiny";
  if (size !== "tiny" && size !== "small" && size !== "mid") {
    throw new UsageError(`--size must be tiny, small or mid, got '${size}'`);
  }
  const seed = integer("seed", options.seed, 0, Number.MAX_SAFE_INTEGER) ?? 1;
  const { writeTestModel } = await loadOptionalLmx();
  const started = performance.now();
  await writeTestModel(out, { size, seed });
  print(`wrote ${out} (${size}, seed ${seed}) in ${Math.round(performance.now() - started)} ms`);
}

async function build(options: { remove?: boolean }): Promise<void> {
  const lmx = await loadOptionalLmx();
  if (options.remove) {
    const had = await lmx.removeNativeBuild();
    print(
      had
        ? "removed the native llama.cpp build; LMX uses node-llama-cpp's prebuilt binary again"
        : "there was no native build; LMX uses node-llama-cpp's prebuilt binary",
    );
    return;
  }
  const paths = lmx.nodeLlamaCppPaths();
  const controller = new AbortController();
  const cancel = () => controller.abort(new Error("cancelled"));
  process.once("SIGINT", cancel);
  let result: Awaited<ReturnType<typeof lmx.buildNativeLlama>>;
  try {
    // Missing tools are one line before anything starts, not an hour into the build.
    await lmx.checkNativeBuildTools();
    notice(
      `building llama.cpp ${paths.release ?? "(unknown release)"} natively from node-llama-cpp's bundled source (no download) into ${paths.localBuilds}; this takes 30–65 min on 2 cores (Ctrl+C stops)`,
    );
    result = await lmx.buildNativeLlama({ onLine: (line) => print(line), signal: controller.signal });
  } catch (error) {
    if (controller.signal.aborted) throw new CliError("build cancelled; LMX keeps using the prebuilt binary");
    if (error instanceof lmx.NativeBuildError) throw new CliError(error.message);
    throw error;
  } finally {
    process.off("SIGINT", cancel);
  }
  print(
    `built llama.cpp ${result.release ?? ""} natively in ${Math.round(result.seconds / 60)} min (${result.localBuilds}); 'opta lmx start' now uses it (its lmx.started line says "llamaBuild":"localBuild"); 'opta lmx build --remove' goes back to the prebuilt binary`,
  );
}

/** Adds `opta lmx start|status|models|load|unload|pull|test-model|build`. */
export function registerLmxCommands(program: Command): void {
  const lmx = program.command("lmx").description("Opta LMX: the local OpenAI-compatible inference server");
  const done =
    <Args extends unknown[]>(action: (...args: Args) => Promise<void>) =>
    async (...args: Args) => {
      await action(...args);
      process.exitCode = 0;
    };
  lmx
    .command("start")
    .description("serve the GGUF models in the models directory (foreground; Ctrl+C stops)")
    .option("--host <host>", "address to bind (default 127.0.0.1; beyond loopback needs --api-key)")
    .option("--port <port>", "port (default 1234; 0 picks a free one)")
    .option("--models <dir>", "models directory (default $OPTA_HOME/lmx/models)")
    .option("--api-key <key>", "require this bearer key (or $OPTA_LMX_API_KEY)")
    .option("--advertise", "publish _opta-lmx._tcp over mDNS")
    .option("--threads <n>", "inference threads (default: physical cores - 1)")
    .option("--parallel <n>", "parallel sequences per model (default 4)")
    .option("--queue-limit <n>", "requests that may wait per model before 503 (default 16)")
    .option("--idle-ttl <seconds>", "unload a model after this long idle; 0 never (default 900)")
    .option("--context-size <tokens>", "tokens per sequence (default min(model, 4096))")
    .option("--quiet", "no JSON log lines on stdout")
    .action(done((options) => start(options)));
  lmx
    .command("status")
    .description("health, version and loaded models of a running LMX")
    .option("--host <host>", "LMX address (default $OPTA_LMX_HOST, config lmx.host, 127.0.0.1:1234)")
    .option("--api-key <key>", "bearer key (or $OPTA_LMX_API_KEY)")
    .option("--json", "print JSON")
    .action(done((options) => status(options)));
  lmx
    .command("models")
    .description("models in the models directory, with load state when LMX is running")
    .option("--host <host>", "LMX address")
    .option("--api-key <key>", "bearer key")
    .option("--models <dir>", "models directory to list when LMX is not running")
    .option("--json", "print JSON")
    .action(done((options) => models(options)));
  lmx
    .command("load")
    .description("load a model now (instead of on first request)")
    .argument("<model>", "model id (file name without .gguf)")
    .option("--host <host>", "LMX address")
    .option("--api-key <key>", "bearer key")
    .action(done((model: string, options: ServerFlags) => load(model, options)));
  lmx
    .command("unload")
    .description("unload a model (running requests are stopped)")
    .argument("<model>", "model id")
    .option("--host <host>", "LMX address")
    .option("--api-key <key>", "bearer key")
    .action(done((model: string, options: ServerFlags) => unload(model, options)));
  lmx
    .command("pull")
    .description("download a GGUF into the models directory")
    .argument("<source>", "hf:<user>/<repo>/<file.gguf>, hf:<user>/<repo>:<quant>, or an https:// URL")
    .option("--models <dir>", "models directory (default $OPTA_HOME/lmx/models)")
    .option("--force", "replace a model file that already exists under the same name")
    .action(done((source: string, options: { models?: string; force?: boolean }) => pull(source, options)));
  lmx
    .command("test-model")
    .description("write a small random-weight Llama GGUF (deterministic for a seed) for tests and benchmarks")
    .argument("<out>", "output .gguf path")
    .option("--size <size>", "tiny, small or mid (default tiny)")
    .option("--seed <n>", "weight seed (default 1)")
    .action(done((out: string, options: { size?: string; seed?: string }) => testModel(out, options)));
  lmx
    .command("build")
    .description(
      "build llama.cpp natively from the source node-llama-cpp bundles (no download; needs cmake and g++); LMX then uses it",
    )
    .option("--remove", "delete the native build and go back to the prebuilt binary")
    .action(done((options: { remove?: boolean }) => build(options)));
}
