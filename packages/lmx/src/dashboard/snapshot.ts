import { GgufFileType } from "node-llama-cpp";
import { type PullProgress, readPullProgress } from "../models/pull-progress.js";
import type { LoadedModel, ModelFile } from "../models/registry.js";
import type { LmxApp } from "../server/context.js";

/** One model row of the dashboard. */
export type DashboardModel = {
  id: string;
  size_bytes: number;
  /** From the GGUF's `general.file_type` (`Q4_K_M`, `F16`…); null when it does not say. */
  quantization: string | null;
  /** The window the model was trained on (GGUF `context_length`). */
  train_context_size: number | null;
  /** Tokens per sequence: the loaded context, else what a load would choose now. */
  context_size: number | null;
  state: "loaded" | "loading" | "not-loaded" | "invalid";
  /** 0–1 while loading. */
  load_progress: number | null;
  /** Why an invalid file cannot be loaded. */
  error: string | null;
  /** What a load needs (weights + KV cache of every sequence), the figure the memory check uses. */
  memory_estimate_bytes: number | null;
  /** Whether the estimate fits the memory budget now. */
  fits: boolean | null;
  /** Once loaded: what llama.cpp reports holding, the weights plus the KV state in use; grows as sequences fill. */
  memory_measured_bytes: number | null;
  /** Once loaded: tokens held in the KV cache now, over all sequences, and llama.cpp's size of that state. */
  kv_used_tokens: number | null;
  kv_used_bytes: number | null;
  parallel: number | null;
  active: number;
  queued: number;
};

/** The live figures, rates over the last sampling interval. */
export type DashboardMetrics = {
  /** Tokens generated per second, all models. */
  tokens_per_second: number;
  /** Finished API requests per second (not the dashboard's own, not /health or /metrics). */
  requests_per_second: number;
  queue_depth: number;
  active_sequences: number;
  /** Finished API requests since LMX started (the same set as the rate). */
  requests_served: number;
  /** Resident memory of the LMX process. */
  process_memory_bytes: number;
};

/** What one event of the dashboard's stream carries. */
export type DashboardSnapshot = {
  version: string;
  /** ISO time of the snapshot. */
  at: string;
  models_dir: string;
  models: DashboardModel[];
  metrics: DashboardMetrics;
  pulls: (PullProgress & { fraction: number | null })[];
};

/** `MOSTLY_Q4_K_M` → `Q4_K_M`; `ALL_F32` → `F32`. */
function quantizationName(fileType: unknown): string | null {
  if (typeof fileType !== "number") return null;
  const name = GgufFileType[fileType];
  return typeof name === "string" ? name.replace(/^(MOSTLY|ALL)_/, "") : null;
}

type Static = Pick<
  DashboardModel,
  "quantization" | "train_context_size" | "context_size" | "memory_estimate_bytes" | "fits"
>;

/**
 * Turns LMX's state into dashboard snapshots. Header reads and memory estimates are cached per
 * file version (path, size, mtime) and per set of loaded models, since the estimate depends on the
 * memory left; rates come from the difference between two samples.
 */
export class DashboardSampler {
  private readonly estimates = new Map<string, Promise<Static>>();
  private previous: { at: number; tokens: number; requests: number } | undefined;
  private tokens = 0;
  private lastCounts = new Map<LoadedModel, number>();

  constructor(
    private readonly app: LmxApp,
    private readonly modelsDir: string,
  ) {}

  private staticFacts(file: ModelFile): Promise<Static> {
    const loadedKey = this.app.registry
      .loadedModels()
      .map((model) => model.id)
      .join(",");
    const key = `${file.path}@${file.sizeBytes}@${file.modifiedAt.getTime()}@${loadedKey}`;
    let facts = this.estimates.get(key);
    if (!facts) {
      facts = this.app.registry.estimate(file).then(
        ({ inspected, bytes, contextSize, fits }) => ({
          quantization: quantizationName(
            (inspected.info.metadata as { general?: { file_type?: unknown } }).general?.file_type,
          ),
          train_context_size: inspected.trainContextSize ?? null,
          context_size: contextSize,
          memory_estimate_bytes: bytes,
          fits,
        }),
        () => ({
          quantization: null,
          train_context_size: null,
          context_size: null,
          memory_estimate_bytes: null,
          fits: null,
        }),
      );
      // Keep one entry per file: a stale key would otherwise stay for every load/unload seen.
      for (const old of this.estimates.keys()) if (old.startsWith(`${file.path}@`)) this.estimates.delete(old);
      this.estimates.set(key, facts);
    }
    return facts;
  }

  private describe(file: ModelFile, facts: Static, loaded: LoadedModel | undefined): DashboardModel {
    const progress = this.app.registry.loadProgress().get(file.id);
    const loading = this.app.registry.loadingModels().includes(file.id);
    let kvTokens: number | null = null;
    let kvBytes: number | null = null;
    if (loaded) {
      kvTokens = loaded.pool.slots.reduce((sum, sequence) => sum + sequence.nextTokenIndex, 0);
      // llama.cpp's state size covers the cells in use (it grows token by token), not the allocation.
      kvBytes = loaded.context.stateSize;
    }
    return {
      id: file.id,
      size_bytes: file.sizeBytes,
      quantization: facts.quantization,
      train_context_size: loaded?.trainContextSize ?? facts.train_context_size,
      context_size: loaded?.contextSize ?? facts.context_size,
      state: loaded ? "loaded" : loading ? "loading" : file.problem ? "invalid" : "not-loaded",
      load_progress: loading ? (progress ?? 0) : null,
      error: file.problem ? `not a usable GGUF model: ${file.problem}` : null,
      memory_estimate_bytes: loaded?.memoryBytes ?? facts.memory_estimate_bytes,
      fits: loaded ? true : facts.fits,
      memory_measured_bytes: loaded ? loaded.model.size + (kvBytes ?? 0) : null,
      kv_used_tokens: kvTokens,
      kv_used_bytes: kvBytes,
      parallel: loaded?.pool.total ?? null,
      active: loaded?.pool.active ?? 0,
      queued: loaded?.pool.queued ?? 0,
    };
  }

  /**
   * Tokens generated since the first sample, counted from the sequences' token meters, which
   * node-llama-cpp advances per decode: a rate that moves during a stream, not only at its end.
   */
  private generatedTokens(loaded: LoadedModel[]): number {
    const counts = new Map<LoadedModel, number>();
    for (const model of loaded) {
      const count = model.pool.slots.reduce((sum, sequence) => sum + sequence.tokenMeter.usedOutputTokens, 0);
      this.tokens += count - (this.lastCounts.get(model) ?? 0);
      counts.set(model, count);
    }
    this.lastCounts = counts;
    return this.tokens;
  }

  /** A snapshot now; rates cover the time since the previous call. */
  async sample(): Promise<DashboardSnapshot> {
    const files = await this.app.registry.list();
    const loaded = this.app.registry.loadedModels();
    const byId = new Map(loaded.map((model) => [model.id, model]));
    const facts = await Promise.all(files.map((file) => this.staticFacts(file)));
    const models = files.map((file, index) => this.describe(file, facts[index]!, byId.get(file.id)));
    const now = performance.now();
    const tokens = this.generatedTokens(loaded);
    const requests = this.app.metrics.servedRequests;
    const seconds = this.previous ? (now - this.previous.at) / 1000 : 0;
    const rate = (value: number, before: number | undefined) =>
      seconds > 0 && before !== undefined ? Math.max(0, value - before) / seconds : 0;
    const metrics: DashboardMetrics = {
      tokens_per_second: rate(tokens, this.previous?.tokens),
      requests_per_second: rate(requests, this.previous?.requests),
      queue_depth: loaded.reduce((sum, model) => sum + model.pool.queued, 0),
      active_sequences: loaded.reduce((sum, model) => sum + model.pool.active, 0),
      requests_served: requests,
      process_memory_bytes: process.memoryUsage().rss,
    };
    this.previous = { at: now, tokens, requests };
    const pulls = (await readPullProgress(this.modelsDir)).map((pull) => ({
      ...pull,
      fraction: pull.totalBytes > 0 ? Math.min(1, pull.downloadedBytes / pull.totalBytes) : null,
    }));
    return {
      version: this.app.version,
      at: new Date().toISOString(),
      models_dir: this.modelsDir,
      models,
      metrics,
      pulls,
    };
  }
}
