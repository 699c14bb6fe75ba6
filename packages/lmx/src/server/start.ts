import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { type Advertisement, advertiseLmx } from "../discovery/mdns.js";
import { defaultThreads } from "../engine/threads.js";
import { LmxMetrics } from "../metrics/metrics.js";
import { ModelRegistry } from "../models/registry.js";
import { boundGrammarNumbers, GrammarCache } from "../openai/grammars.js";
import type { LmxApp } from "./context.js";
import { createLmxServer } from "./http.js";
import { isLoopbackHost, RequestGuard } from "./safety.js";

/** Options of {@link startLmx}. */
export type LmxOptions = {
  /** Address to bind. Default `127.0.0.1`; anything beyond loopback requires `apiKey`. */
  host?: string;
  /** Port; `0` picks a free one. Default 1234. */
  port?: number;
  /** Directory of GGUF models (created if missing). */
  modelsDir: string;
  /** Inference threads. Default: physical cores − 1, at least 1. */
  threads?: number;
  /** Bearer key required on every route but `/health`; mandatory beyond loopback. */
  apiKey?: string;
  /** Publish `_opta-lmx._tcp` over mDNS. Default false. */
  advertise?: boolean;
  /** Multicast interface for `advertise` (e.g. `127.0.0.1` in tests). */
  advertiseInterface?: string;
  /** Parallel sequences per loaded model, batched in one context. Default 4. */
  parallel?: number;
  /** Requests that may wait per model when every sequence is busy; beyond that, 503. Default 16. */
  queueLimit?: number;
  /** Unload a model after this many ms without requests; 0 never. Default 15 minutes. */
  idleTtlMs?: number;
  /**
   * Tokens per sequence. Default: the model's trained window, halved until it fits the memory
   * budget for `parallel` sequences (reported in `/api/v1/models` as `context_size`).
   */
  contextSize?: number;
  /** Memory budget for loaded models, bytes. Default: the free memory the OS reports at load time. */
  memoryLimitBytes?: number;
  /** Extra browser origins allowed by CORS (pages on loopback are always allowed). */
  corsOrigins?: string[];
  /**
   * Testing aid, not for serving: a request that offers tools with `tool_choice: auto` and whose
   * conversation ends with a user message is answered as if it had sent `required`. A generated
   * (random) test model then calls a tool once per user message and answers in text after the
   * tool's result, so agent clients that never set `tool_choice` (Codex) can be tested end to end.
   * A function name forces that function when the request offers it (as a named `tool_choice`).
   * Default off.
   */
  forceToolCall?: boolean | string;
  /**
   * Testing aid, as llama-server's `--logit-bias`: token id → bias added on every request (a
   * request's own `logit_bias` wins per token; ≤ −100 bans the token). Token ids are the model's,
   * so this suits a server with one model, e.g. making a generated test model close its strings
   * and end its answers soon. Default none.
   */
  logitBias?: Record<number, number>;
  /** Structured log sink, one object per event. Default: silent. */
  log?: (line: object) => void;
};

/** A running LMX server. */
export type LmxServer = {
  /** `http://127.0.0.1:PORT` (or the bound host); the OpenAI API is under `/v1`. */
  url: string;
  /** The bound port. */
  port: number;
  /** Stops listening, aborts running generations, unloads models and frees llama.cpp. */
  close(): Promise<void>;
};

/** The package version, as reported by `/health` and mDNS. */
export const LMX_VERSION: string = (() => {
  try {
    return JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version as string;
  } catch {
    return "0.0.0";
  }
})();

function positiveInt(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new Error(`${name} must be an integer between 0 and ${max}, got ${value}`);
  }
  return value;
}

function checkedLogitBias(bias: Record<number, number>): Record<string, number> {
  for (const [token, value] of Object.entries(bias)) {
    if (!/^\d+$/.test(token) || !Number.isFinite(value) || Math.abs(value) > 100) {
      throw new Error(
        `logitBias: token ids must be non-negative integers and biases within ±100, got ${token}: ${value}`,
      );
    }
  }
  return { ...bias };
}

/**
 * Starts Opta LMX: an OpenAI-compatible server for the GGUF models in `modelsDir`. Models load on
 * first use and unload after `idleTtlMs`; nothing is loaded at start, so an empty directory is fine.
 */
export async function startLmx(options: LmxOptions): Promise<LmxServer> {
  const host = options.host ?? "127.0.0.1";
  if (!isLoopbackHost(host) && !options.apiKey) {
    throw new Error(
      `refusing to listen on ${host} without an API key: anyone who can reach it could use your models. Pass --api-key <key>, or bind 127.0.0.1`,
    );
  }
  const port = positiveInt("port", options.port, 1234, 65535);
  const threads = positiveInt("threads", options.threads, defaultThreads(), 256) || defaultThreads();
  const parallel = positiveInt("parallel", options.parallel, 4, 64);
  if (parallel < 1) throw new Error("parallel must be at least 1");
  const queueLimit = positiveInt("queueLimit", options.queueLimit, 16, 10_000);
  const idleTtlMs = positiveInt("idleTtlMs", options.idleTtlMs, 15 * 60_000, 2 ** 31 - 1);
  if (options.contextSize !== undefined) positiveInt("contextSize", options.contextSize, 0, 1 << 20);
  const logitBias = options.logitBias ? checkedLogitBias(options.logitBias) : undefined;
  const modelsDir = resolve(options.modelsDir);
  await mkdir(modelsDir, { recursive: true });
  const sink = options.log;
  const log = (line: Record<string, unknown>) => sink?.({ ts: new Date().toISOString(), ...line });

  const llama = await getLlama({
    gpu: false,
    maxThreads: threads,
    build: "never",
    usePrebuiltBinaries: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => {
      const text = message.trim();
      if (text) log({ event: "llama.log", level, message: text });
    },
  });
  if (!(await boundGrammarNumbers())) {
    log({
      event: "grammar.numbers_unbounded",
      reason: "this node-llama-cpp's number rule is not the one LMX bounds; generated numbers may overflow to Infinity",
    });
  }
  const registry = new ModelRegistry({
    llama,
    modelsDir,
    threads,
    parallel,
    queueLimit,
    idleTtlMs,
    contextSize: options.contextSize,
    memoryLimitBytes: options.memoryLimitBytes,
    log,
  });
  const metrics = new LmxMetrics(() => {
    const loaded = registry.loadedModels();
    return [
      { name: "lmx_models_loaded", help: "Models in memory.", value: loaded.length },
      { name: "lmx_model_loading", help: "1 while a model is loading.", value: registry.isLoading ? 1 : 0 },
      ...loaded.flatMap((model) => [
        {
          name: "lmx_queue_depth",
          help: "Requests waiting for a sequence.",
          labels: { model: model.id },
          value: model.pool.queued,
        },
        {
          name: "lmx_active_sequences",
          help: "Sequences generating.",
          labels: { model: model.id },
          value: model.pool.active,
        },
        {
          name: "lmx_model_memory_bytes",
          help: "Estimated memory of a loaded model.",
          labels: { model: model.id },
          value: model.memoryBytes,
        },
      ]),
    ];
  });
  const app: LmxApp = {
    llama,
    registry,
    metrics,
    grammars: new GrammarCache(llama),
    version: LMX_VERSION,
    authRequired: options.apiKey !== undefined && options.apiKey !== "",
    log,
    ...(options.forceToolCall ? { forceToolCall: options.forceToolCall } : {}),
    ...(logitBias ? { logitBias } : {}),
  };
  const server = createLmxServer(app, new RequestGuard(host, options.apiKey, options.corsOrigins));
  try {
    await new Promise<void>((resolvePromise, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolvePromise();
      });
    });
  } catch (error) {
    await llama.dispose();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new Error(`port ${port} on ${host} is already in use; pick another with --port`);
    throw error;
  }
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  let advertisement: Advertisement | undefined;
  if (options.advertise) {
    advertisement = advertiseLmx({
      port: bound,
      version: LMX_VERSION,
      auth: options.apiKey !== undefined,
      ...(options.advertiseInterface ? { interface: options.advertiseInterface } : {}),
    });
  }
  log({
    event: "lmx.started",
    url: `http://${urlHost}:${bound}`,
    modelsDir,
    threads,
    parallel,
    queueLimit,
    idleTtlMs,
    // Which llama.cpp binary decodes: node-llama-cpp's prebuilt one, or a native build of its bundled
    // source (`opta lmx build`), which it prefers when present. They
    // cost differently per token with several threads (docs/lmx.md#threads).
    llamaBuild: llama.buildType,
  });
  if (llama.buildType === "prebuilt" && threads > 1) {
    log({
      event: "lmx.threads_prebuilt",
      threads,
      hint: "the prebuilt llama.cpp binary has no OpenMP: its threads busy-wait for each other, so with more than one thread a token costs more CPU time, the more so on a busy machine; a native build ('opta lmx build': needs cmake and a C++ compiler, downloads nothing) avoids it, see docs/lmx.md#threads",
    });
  }

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${bound}`,
    port: bound,
    close: () => {
      closing ??= (async () => {
        await advertisement?.stop();
        const closed = new Promise<void>((resolvePromise) => server.close(() => resolvePromise()));
        server.closeIdleConnections();
        await registry.close();
        server.closeAllConnections();
        await closed;
        await llama.dispose();
        log({ event: "lmx.stopped" });
      })();
      return closing;
    },
  };
}
