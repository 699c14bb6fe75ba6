import type { Dirent } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { freemem } from "node:os";
import { join, relative, sep } from "node:path";
import {
  type ChatWrapper,
  GgufInsights,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaModel,
} from "node-llama-cpp";
import { type ChatWrapperPlan, chatWrapperFor, planChatWrapper } from "../engine/chat-wrapper.js";
import { checkGgufPreamble, GgufHeaderError } from "../gguf/header.js";
import { type InspectedModel, inspectModelFile } from "../gguf/inspect.js";
import { LmxError } from "../server/errors.js";
import { SlotPool } from "./slot-pool.js";

/** A GGUF file in the models directory. */
export type ModelFile = {
  /** The model id clients send: the path under the models directory without `.gguf`. */
  id: string;
  /** Absolute path. */
  path: string;
  /** File size in bytes. */
  sizeBytes: number;
  /** Last modification time. */
  modifiedAt: Date;
  /**
   * Set when the header's first 24 bytes already show the file is unusable (not GGUF, or counts
   * the file cannot hold): why, as the second half of a sentence. Loading it gives the full error.
   */
  problem?: string;
};

/**
 * Every GGUF under `modelsDir` (two levels deep), sorted by id; a missing directory is empty. Each
 * file's 24-byte preamble is checked (one small read), so a corrupt file is marked, not hidden.
 */
export async function listModelFiles(modelsDir: string): Promise<ModelFile[]> {
  const found: ModelFile[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && depth < 2 && !entry.name.startsWith(".")) await walk(path, depth + 1);
      else if ((entry.isFile() || entry.isSymbolicLink()) && /\.gguf$/i.test(entry.name)) {
        // Split models are served through their first part only.
        const part = /-(\d{5})-of-\d{5}\.gguf$/i.exec(entry.name);
        if (part && part[1] !== "00001") continue;
        const info = await stat(path).catch(() => undefined);
        if (!info?.isFile()) continue;
        const id = relative(modelsDir, path)
          .split(sep)
          .join("/")
          .replace(/\.gguf$/i, "");
        const problem = await checkGgufPreamble(path).then(
          () => undefined,
          (error) => (error instanceof GgufHeaderError ? error.reason : (error as Error).message),
        );
        found.push({ id, path, sizeBytes: info.size, modifiedAt: info.mtime, ...(problem ? { problem } : {}) });
      }
    }
  };
  await walk(modelsDir, 0);
  return found.sort((a, b) => a.id.localeCompare(b.id));
}

/** Settings of the registry, fixed at server start. */
export type ModelRegistryOptions = {
  /** The shared llama.cpp binding. */
  llama: Llama;
  /** Directory scanned for `*.gguf`. */
  modelsDir: string;
  /** Inference threads per context. */
  threads: number;
  /** Parallel sequences per loaded model. */
  parallel: number;
  /** Requests that may wait for a sequence, per model, before new ones get 503. */
  queueLimit: number;
  /** Unload a model after this long without requests; 0 keeps models loaded. */
  idleTtlMs: number;
  /**
   * Tokens per sequence. Default: the model's training context, halved until weights plus the KV
   * cache of `parallel` sequences fit the memory budget (never below {@link MIN_DEFAULT_CONTEXT}).
   */
  contextSize?: number;
  /** Memory budget for all loaded models, in bytes; default: whatever the OS reports free. */
  memoryLimitBytes?: number;
  /** Structured log sink. */
  log: (line: Record<string, unknown>) => void;
};

/** A model in memory with its context, sequences and queue. */
export class LoadedModel {
  readonly loadedAt = new Date();
  lastUsedAt = new Date();
  /** Work in progress (generations and embedding calls); TTL unloading waits for zero. */
  busy = 0;
  idleTimer: NodeJS.Timeout | undefined;
  private embeddingContext: Promise<LlamaEmbeddingContext> | undefined;
  private embeddingLock: Promise<unknown> = Promise.resolve();
  private readonly unloadController = new AbortController();

  constructor(
    readonly id: string,
    readonly path: string,
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    readonly pool: SlotPool<LlamaContextSequence>,
    readonly chatWrapper: ChatWrapper,
    /** Estimated resident memory (weights + context), bytes. */
    readonly memoryBytes: number,
    /** Number of tokens in the vocabulary (bounds `logit_bias` keys). */
    readonly vocabularySize: number,
    private readonly threads: number,
    /** The context length the model was trained on (GGUF `context_length`), if it says. */
    readonly trainContextSize: number | undefined,
    /** How the context size was chosen: `flag` (--context-size), `trained`, or `memory` (capped). */
    readonly contextSource: "flag" | "trained" | "memory",
  ) {}

  /** Aborted when the model is being unloaded, so running generations stop. */
  get unloadSignal(): AbortSignal {
    return this.unloadController.signal;
  }

  /** Tokens each sequence holds. */
  get contextSize(): number {
    return this.context.contextSize;
  }

  /** Tokens one embedding input may have. */
  get embeddingContextSize(): number {
    return Math.min(this.context.contextSize, 4096);
  }

  /** Runs `task` with the model's embedding context (created on first use), one call at a time. */
  withEmbeddingContext<T>(task: (context: LlamaEmbeddingContext) => Promise<T>): Promise<T> {
    this.embeddingContext ??= this.model.createEmbeddingContext({
      contextSize: this.embeddingContextSize,
      threads: this.threads,
    });
    const embeddingContext = this.embeddingContext;
    const run = this.embeddingLock.then(async () => task(await embeddingContext));
    this.embeddingLock = run.catch(() => undefined);
    return run;
  }

  /** Stops running work and frees native memory. */
  async dispose(reason: LmxError): Promise<void> {
    this.pool.close(reason);
    this.unloadController.abort(reason);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const deadline = Date.now() + 10_000;
    while (this.busy > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    if (this.embeddingContext) await (await this.embeddingContext.catch(() => undefined))?.dispose();
    await this.context.dispose();
    await this.model.dispose();
  }
}

/** One request's hold on a sequence of a loaded model. Release it exactly once. */
export type Lease = {
  model: LoadedModel;
  sequence: LlamaContextSequence;
  /** Aborts when the client goes away or the model is unloaded. */
  signal: AbortSignal;
  release(): void;
};

const GIB = 1024 ** 3;
/** The smallest default context: below it, the memory check refuses the load instead. */
export const MIN_DEFAULT_CONTEXT = 2048;
/** Used when a GGUF does not say what it was trained on. */
const FALLBACK_CONTEXT = 4096;
/** How long a directory listing serves requests before it is read again (a miss always re-reads). */
export const LISTING_TTL_MS = 1000;

/**
 * The models directory and the models loaded from it: listing, loading on first use (JIT),
 * unloading after an idle TTL or on request, and a memory estimate before every load.
 */
export class ModelRegistry {
  private readonly loaded = new Map<string, LoadedModel>();
  private readonly loading = new Map<string, Promise<LoadedModel>>();
  private readonly unloading = new Map<string, Promise<void>>();
  /** Fraction (0–1) of the weights llama.cpp has loaded, per model being loaded (the dashboard shows it). */
  private readonly progress = new Map<string, number>();
  private closed = false;
  /** The last directory listing and when it was read (`performance.now()`). */
  private listed: { files: ModelFile[]; at: number } | undefined;
  /** A listing being read; concurrent callers share it. */
  private listing: Promise<ModelFile[]> | undefined;
  /** `path@mtime` of unusable files already logged, so each is logged once, not on every listing. */
  private readonly reported = new Set<string>();

  constructor(private readonly options: ModelRegistryOptions) {}

  /** The models directory. */
  get directory(): string {
    return this.options.modelsDir;
  }

  /** True while any model is being loaded (health reports `"loading"` then). */
  get isLoading(): boolean {
    return this.loading.size > 0;
  }

  /** Ids of the models being loaded now. */
  loadingModels(): string[] {
    return [...this.loading.keys()];
  }

  /** How far each loading model is, 0–1 (llama.cpp's own load progress). */
  loadProgress(): ReadonlyMap<string, number> {
    return this.progress;
  }

  /**
   * What loading `file` would take: the estimate the memory check before a load uses (weights plus
   * the KV cache of every sequence at the context size LMX would choose now), without loading it.
   */
  async estimate(
    file: ModelFile,
  ): Promise<{ inspected: InspectedModel; bytes: number; contextSize: number; fits: boolean }> {
    const inspected = await inspectModelFile(file.path);
    const plan = await this.planContext(file, inspected, await GgufInsights.from(inspected.info, this.options.llama));
    return { inspected, bytes: plan.required, contextSize: plan.contextSize, fits: plan.refusal === undefined };
  }

  /** The models in memory. */
  loadedModels(): LoadedModel[] {
    return [...this.loaded.values()];
  }

  /** Every GGUF under the models directory, sorted by id (read now; refreshes the cached listing). */
  list(): Promise<ModelFile[]> {
    this.listing ??= listModelFiles(this.options.modelsDir)
      .then((files) => {
        this.listed = { files, at: performance.now() };
        for (const file of files) {
          const key = `${file.path}@${file.modifiedAt.getTime()}`;
          if (!file.problem || this.reported.has(key)) continue;
          this.reported.add(key);
          this.options.log({ event: "model.invalid", model: file.id, path: file.path, reason: file.problem });
        }
        return files;
      })
      .finally(() => {
        this.listing = undefined;
      });
    return this.listing;
  }

  /**
   * The listing requests resolve against: read at most once per {@link LISTING_TTL_MS} instead of
   * on every request (a readdir and a stat per file on the path to the first token).
   */
  private async cachedList(): Promise<{ files: ModelFile[]; fresh: boolean }> {
    if (this.listed && performance.now() - this.listed.at < LISTING_TTL_MS)
      return { files: this.listed.files, fresh: false };
    return { files: await this.list(), fresh: true };
  }

  /** Finds a model by id (also accepting `.gguf`, a different case, or just the file name). */
  async resolve(requested: string | undefined): Promise<ModelFile> {
    const cached = await this.cachedList();
    const found = this.match(cached.files, requested);
    if (found || cached.fresh) return this.resolved(cached.files, requested, found);
    // A miss against a cached listing: the file may have just been added.
    const files = await this.list();
    return this.resolved(files, requested, this.match(files, requested));
  }

  private match(models: ModelFile[], requested: string | undefined): ModelFile | undefined {
    if (requested === undefined || requested === "") {
      const firstLoaded = this.loadedModels()[0];
      // Never pick a file already known to be broken as the default.
      return models.find((model) => model.id === firstLoaded?.id) ?? models.find((model) => !model.problem);
    }
    // `:latest` is the tag Ollama clients add to a bare name (LMX lists `tiny` as `tiny:latest`).
    const wanted = requested.replace(/:latest$/, "").replace(/\.gguf$/i, "");
    return (
      models.find((model) => model.id === wanted) ??
      models.find((model) => model.id.toLowerCase() === wanted.toLowerCase()) ??
      models.find((model) => model.id.split("/").at(-1)?.toLowerCase() === wanted.toLowerCase())
    );
  }

  private resolved(models: ModelFile[], requested: string | undefined, match: ModelFile | undefined): ModelFile {
    if (match) return match;
    if (models.length === 0) {
      throw new LmxError(
        "no_models",
        `no models in ${this.options.modelsDir}; add one with 'opta lmx pull <hf:user/repo/file.gguf | https://…/model.gguf>' (or 'opta lmx test-model ${join(this.options.modelsDir, "test.gguf")}' for a tiny test model)`,
        { param: "model" },
      );
    }
    const names = models.slice(0, 10).map((model) => model.id);
    throw new LmxError(
      "model_not_found",
      `model '${requested}' is not in ${this.options.modelsDir}; available: ${names.join(", ")}${models.length > 10 ? ", …" : ""}`,
      { param: "model" },
    );
  }

  /** Loads a model if it is not loaded yet; concurrent callers share one load. */
  async load(requested: string | undefined): Promise<LoadedModel> {
    if (this.closed) throw new LmxError("server_closing", "LMX is shutting down");
    const file = await this.resolve(requested);
    const pendingUnload = this.unloading.get(file.id);
    if (pendingUnload) await pendingUnload;
    const existing = this.loaded.get(file.id);
    if (existing) return existing;
    let pending = this.loading.get(file.id);
    if (!pending) {
      pending = this.loadFile(file).finally(() => this.loading.delete(file.id));
      this.loading.set(file.id, pending);
    }
    return pending;
  }

  /**
   * Loads (if needed) and waits for a free sequence; the lease's signal also covers unloading.
   * `preferenceFor` may score the loaded model's free sequences (see prompt-affinity.ts).
   */
  async acquire(
    requested: string | undefined,
    signal: AbortSignal,
    preferenceFor?: (model: LoadedModel) => ((sequence: LlamaContextSequence) => number) | undefined,
  ): Promise<Lease> {
    const model = await this.load(requested);
    model.busy++;
    this.clearIdle(model);
    let sequence: LlamaContextSequence;
    try {
      sequence = await model.pool.acquire(signal, preferenceFor?.(model));
    } catch (error) {
      this.done(model);
      throw error;
    }
    let released = false;
    return {
      model,
      sequence,
      signal: AbortSignal.any([signal, model.unloadSignal]),
      release: () => {
        if (released) return;
        released = true;
        model.pool.release(sequence);
        this.done(model);
      },
    };
  }

  /** Marks work on a model (an embedding call) so the idle TTL does not fire under it. */
  async use<T>(requested: string | undefined, task: (model: LoadedModel) => Promise<T>): Promise<T> {
    const model = await this.load(requested);
    model.busy++;
    this.clearIdle(model);
    try {
      return await task(model);
    } finally {
      this.done(model);
    }
  }

  /** Unloads a model; running generations are aborted. Returns false when it was not loaded. */
  async unload(requested: string): Promise<boolean> {
    const file = await this.resolve(requested);
    const pending = this.loading.get(file.id);
    if (pending) await pending.catch(() => undefined);
    const model = this.loaded.get(file.id);
    if (!model) return false;
    await this.unloadModel(model, "unloaded on request");
    return true;
  }

  /** Unloads everything and refuses new loads. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.loading.values()]);
    await Promise.all(this.loadedModels().map((model) => this.unloadModel(model, "LMX is shutting down")));
  }

  private async unloadModel(model: LoadedModel, why: string): Promise<void> {
    if (this.loaded.get(model.id) !== model) return this.unloading.get(model.id);
    this.loaded.delete(model.id);
    const done = model
      .dispose(new LmxError("model_unloaded", `model '${model.id}' was unloaded (${why}); retry to load it again`))
      .finally(() => this.unloading.delete(model.id));
    this.unloading.set(model.id, done);
    await done;
    this.options.log({ event: "model.unloaded", model: model.id, reason: why });
  }

  private done(model: LoadedModel): void {
    model.busy--;
    model.lastUsedAt = new Date();
    this.scheduleIdle(model);
  }

  private scheduleIdle(model: LoadedModel): void {
    if (model.busy === 0 && this.options.idleTtlMs > 0 && this.loaded.get(model.id) === model) {
      this.clearIdle(model);
      model.idleTimer = setTimeout(() => {
        model.idleTimer = undefined;
        if (model.busy === 0) void this.unloadModel(model, `idle for ${this.options.idleTtlMs} ms`);
      }, this.options.idleTtlMs);
      model.idleTimer.unref();
    }
  }

  private clearIdle(model: LoadedModel): void {
    if (model.idleTimer) clearTimeout(model.idleTimer);
    model.idleTimer = undefined;
  }

  /**
   * The context size and memory a load of `file` needs now, refused when it does not fit the budget.
   */
  private async planContext(
    file: ModelFile,
    inspected: InspectedModel,
    insights: GgufInsights,
  ): Promise<{
    contextSize: number;
    contextSource: "flag" | "trained" | "memory";
    required: number;
    /** Set when `required` exceeds the budget: the error a load throws. */
    refusal: LmxError | undefined;
  }> {
    const { parallel } = this.options;
    const weights = await insights.estimateModelResourceRequirementsV2({ gpuLayers: 0 });
    const inUse = this.loadedModels().reduce((sum, model) => sum + model.memoryBytes, 0);
    const available =
      this.options.memoryLimitBytes === undefined ? freemem() : Math.max(0, this.options.memoryLimitBytes - inUse);
    const contextFor = (size: number) =>
      insights.estimateContextResourceRequirementsV2({ contextSize: size, modelGpuLayers: 0, sequences: parallel });
    // The default is the trained window (what clients with long system prompts and many tools
    // need: opencode sends ~15k tokens), halved while weights plus the KV cache of every sequence
    // (node-llama-cpp's estimate: layers × KV heads × head size × tokens) exceed the budget.
    let contextSize = this.options.contextSize ?? inspected.trainContextSize ?? FALLBACK_CONTEXT;
    let contextSource: "flag" | "trained" | "memory" = this.options.contextSize !== undefined ? "flag" : "trained";
    let contextNeeds = await contextFor(contextSize);
    while (
      contextSource !== "flag" &&
      contextSize > MIN_DEFAULT_CONTEXT &&
      weights.cpuRam + contextNeeds.cpuRam > available
    ) {
      contextSize = Math.max(MIN_DEFAULT_CONTEXT, Math.floor(contextSize / 2));
      contextSource = "memory";
      contextNeeds = await contextFor(contextSize);
    }
    const required = weights.cpuRam + contextNeeds.cpuRam;
    const refusal =
      required > available
        ? new LmxError(
            "insufficient_memory",
            `model '${file.id}' needs about ${(required / GIB).toFixed(2)} GiB (weights ${(weights.cpuRam / GIB).toFixed(2)} GiB + context for ${parallel}×${contextSize} tokens ${(contextNeeds.cpuRam / GIB).toFixed(2)} GiB) but only ${(available / GIB).toFixed(2)} GiB is available; unload a model ('opta lmx unload <id>') or start LMX with a smaller --parallel or --context-size`,
          )
        : undefined;
    return { contextSize, contextSource, required, refusal };
  }

  private async loadFile(file: ModelFile): Promise<LoadedModel> {
    const started = performance.now();
    const inspected = await inspectModelFile(file.path);
    // Chosen in a worker while the weights load here (see engine/chat-wrapper.ts).
    const wrapperPlan = planChatWrapper(file.path);
    try {
      return await this.loadInspected(file, inspected, wrapperPlan.plan, started);
    } catch (error) {
      wrapperPlan.cancel();
      throw error;
    }
  }

  private async loadInspected(
    file: ModelFile,
    inspected: InspectedModel,
    wrapperPlan: Promise<ChatWrapperPlan>,
    started: number,
  ): Promise<LoadedModel> {
    const { llama, parallel, threads, log } = this.options;
    const insights = await GgufInsights.from(inspected.info, llama);
    const { contextSize, contextSource, required, refusal } = await this.planContext(file, inspected, insights);
    if (refusal) throw refusal;
    log({ event: "model.loading", model: file.id, path: file.path, estimatedBytes: required });
    let model: LlamaModel;
    try {
      this.progress.set(file.id, 0);
      model = await llama.loadModel({
        modelPath: file.path,
        gpuLayers: 0,
        onLoadProgress: (fraction) => this.progress.set(file.id, fraction),
      });
    } catch (error) {
      throw new LmxError("model_load_failed", `llama.cpp could not load '${file.id}': ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      this.progress.delete(file.id);
    }
    let context: LlamaContext;
    let pool: SlotPool<LlamaContextSequence> | undefined;
    try {
      context = await model.createContext({
        contextSize,
        sequences: parallel,
        threads,
        batching: {
          // node-llama-cpp decodes at once only when every sequence of the context has queued a
          // token; otherwise it waits a setImmediate so that sequences can share the batch. With
          // one request generating (the common case) there is nothing to wait for, and the wait
          // puts a whole event-loop turn (socket I/O, other requests' parsing) between every two
          // tokens: ~2–3% of decode speed on the mid test model. Dispatch at once then.
          dispatchSchedule: (dispatch) => {
            if (pool !== undefined && pool.active <= 1) dispatch();
            else setImmediate(dispatch);
          },
        },
      });
    } catch (error) {
      await model.dispose();
      throw new LmxError(
        "model_load_failed",
        `could not create a ${parallel}×${contextSize}-token context for '${file.id}': ${(error as Error).message}`,
        { cause: error },
      );
    }
    let chatWrapper: ChatWrapper;
    try {
      chatWrapper = await chatWrapperFor(model, wrapperPlan, log);
    } catch (error) {
      await context.dispose();
      await model.dispose();
      throw new LmxError("model_load_failed", `no chat template fits '${file.id}': ${(error as Error).message}`, {
        cause: error,
      });
    }
    const sequences = Array.from({ length: parallel }, () => context.getSequence());
    pool = new SlotPool(sequences, this.options.queueLimit);
    const loaded = new LoadedModel(
      file.id,
      file.path,
      model,
      context,
      pool,
      chatWrapper,
      required,
      inspected.vocabularySize,
      threads,
      inspected.trainContextSize,
      contextSource,
    );
    if (this.closed) {
      await loaded.dispose(new LmxError("server_closing", "LMX is shutting down"));
      throw new LmxError("server_closing", "LMX is shutting down");
    }
    this.loaded.set(file.id, loaded);
    this.scheduleIdle(loaded);
    log({
      event: "model.loaded",
      model: file.id,
      ms: Math.round(performance.now() - started),
      contextSize: context.contextSize,
      contextSource,
      trainContextSize: inspected.trainContextSize ?? null,
      parallel,
      threads,
      chatWrapper: loaded.chatWrapper.wrapperName,
    });
    return loaded;
  }
}
