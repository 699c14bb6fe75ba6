import { basename } from "node:path";
import { ModelActionRequest } from "../openai/schemas.js";
import type { LmxApp } from "../server/context.js";
import { parseRequest } from "../server/validate.js";
import type { LoadedModel, ModelFile } from "./registry.js";

/** One model as `/api/v1/models` describes it. */
export type ModelStatus = {
  id: string;
  path: string;
  size_bytes: number;
  /** `invalid`: the header shows the file cannot be loaded (see `error`). */
  state: "loaded" | "not-loaded" | "invalid";
  /** Why an `invalid` file cannot be loaded. */
  error: string | null;
  context_size: number | null;
  /** How `context_size` was chosen: `flag` (--context-size), `trained` (the GGUF's window) or `memory` (capped to fit). */
  context_source: "flag" | "trained" | "memory" | null;
  /** The window the model was trained on, when loaded and the GGUF says. */
  train_context_size: number | null;
  parallel: number | null;
  active: number;
  queued: number;
  memory_bytes: number | null;
  loaded_at: string | null;
  last_used_at: string | null;
  chat_template: string | null;
};

function describe(file: ModelFile, loaded: LoadedModel | undefined): ModelStatus {
  return {
    id: file.id,
    path: file.path,
    size_bytes: file.sizeBytes,
    state: loaded ? "loaded" : file.problem ? "invalid" : "not-loaded",
    error: file.problem ? `${basename(file.path)} is not a usable GGUF model: ${file.problem}` : null,
    context_size: loaded?.contextSize ?? null,
    context_source: loaded?.contextSource ?? null,
    train_context_size: loaded?.trainContextSize ?? null,
    parallel: loaded?.pool.total ?? null,
    active: loaded?.pool.active ?? 0,
    queued: loaded?.pool.queued ?? 0,
    memory_bytes: loaded?.memoryBytes ?? null,
    loaded_at: loaded?.loadedAt.toISOString() ?? null,
    last_used_at: loaded?.lastUsedAt.toISOString() ?? null,
    chat_template: loaded?.chatWrapper.wrapperName ?? null,
  };
}

/**
 * `GET /v1/models`: every usable GGUF in the models directory, OpenAI's list shape. Files whose
 * header is already known to be broken are left out (and logged once); `/api/v1/models` shows them.
 */
export async function listOpenAiModels(app: LmxApp): Promise<unknown> {
  const files = (await app.registry.list()).filter((file) => !file.problem);
  return {
    object: "list",
    data: files.map((file) => ({
      id: file.id,
      object: "model",
      created: Math.floor(file.modifiedAt.getTime() / 1000),
      owned_by: "opta-lmx",
    })),
  };
}

/** `GET /v1/models/{id}`. */
export async function getOpenAiModel(app: LmxApp, id: string): Promise<unknown> {
  const file = await app.registry.resolve(id);
  return { id: file.id, object: "model", created: Math.floor(file.modifiedAt.getTime() / 1000), owned_by: "opta-lmx" };
}

/** `GET /api/v1/models`: files plus load state, sequences in use and queue depth. */
export async function listModelStatus(app: LmxApp): Promise<{ models: ModelStatus[] }> {
  const files = await app.registry.list();
  const loaded = new Map(app.registry.loadedModels().map((model) => [model.id, model]));
  return { models: files.map((file) => describe(file, loaded.get(file.id))) };
}

/** `POST /api/v1/models/load`. */
export async function loadModel(app: LmxApp, body: unknown): Promise<unknown> {
  const { model } = parseRequest(ModelActionRequest, body);
  const loaded = await app.registry.load(model);
  const file = await app.registry.resolve(loaded.id);
  return { loaded: true, model: describe(file, loaded) };
}

/** `POST /api/v1/models/unload`. */
export async function unloadModel(app: LmxApp, body: unknown): Promise<unknown> {
  const { model } = parseRequest(ModelActionRequest, body);
  const file = await app.registry.resolve(model);
  const unloaded = await app.registry.unload(file.id);
  return { unloaded, model: describe(file, undefined) };
}
