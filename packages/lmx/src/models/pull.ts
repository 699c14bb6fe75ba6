import { access, mkdir, rename, rm, rmdir } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { createModelDownloader, type ModelDownloader } from "node-llama-cpp";
import { inspectModelFile } from "../gguf/inspect.js";
import { PullProgressWriter } from "./pull-progress.js";

/** Options of {@link pullModel}. */
export type PullOptions = {
  /** Destination directory (the models directory). */
  modelsDir: string;
  /** Replace a model file that already exists under the same name (default: refuse). */
  force?: boolean;
  /** Show node-llama-cpp's progress bar on the terminal. */
  showProgressBar?: boolean;
  /** Progress callback, bytes. */
  onProgress?: (progress: { downloadedBytes: number; totalBytes: number }) => void;
  /** Cancels the download (the partial file is deleted). */
  signal?: AbortSignal;
};

/** A model now in the models directory. */
export type PulledModel = { id: string; path: string; sizeBytes: number; replaced: boolean };

/** Why a pull failed, with a message that says what to do; `code` for callers that branch on it. */
export class PullError extends Error {
  constructor(
    readonly code: "bad_source" | "exists" | "not_found" | "access_denied" | "download_failed" | "not_gguf",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "PullError";
  }
}

/** Directory inside the models directory where downloads land before they are checked (dot: never listed). */
const STAGING = ".pull";

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Turns the downloader's HTTP failures into a sentence that says what to check. */
function explain(source: string, isUri: boolean, error: unknown): PullError {
  const status = (error as { statusCode?: unknown }).statusCode;
  const message = (error as Error)?.message ?? String(error);
  const reference = isUri
    ? "check the hf: reference: hf:<user>/<repo>/<file.gguf> must name a file that exists in the repository (hf:<user>/<repo>:<quant> a quantization it has)"
    : "check the URL: it must point at the .gguf file itself";
  if (status === 404 || /\bdoes not exist\b/i.test(message)) {
    return new PullError("not_found", `${source} was not found (HTTP 404); ${reference}`, { cause: error });
  }
  if (status === 401 || status === 403) {
    return new PullError(
      "access_denied",
      `${source} refused access (HTTP ${status}); ${isUri ? "a private or gated Hugging Face repository needs a token: set HF_TOKEN (and accept the model's terms on huggingface.co)" : "the server needs credentials LMX cannot send"}`,
      { cause: error },
    );
  }
  return new PullError("download_failed", `downloading ${source} failed: ${message}`, { cause: error });
}

/**
 * Downloads a GGUF into the models directory with node-llama-cpp's downloader (resumable,
 * split-file aware). The files land in `<modelsDir>/.pull/` first and move into place only once
 * the GGUF checks out, so a failed or broken download never replaces a working model. A model
 * file that already exists under the same name is refused unless `force` is set. `source` is
 * `hf:<user>/<repo>/<file.gguf>`, `hf:<user>/<repo>:<quant>`, or an `https://` (or `http://`) URL.
 */
export async function pullModel(source: string, options: PullOptions): Promise<PulledModel> {
  const isUri = /^(hf|huggingface):/i.test(source);
  const isUrl = /^https?:\/\//i.test(source);
  if (!isUri && !isUrl) {
    throw new PullError(
      "bad_source",
      `cannot pull '${source}': use hf:<user>/<repo>/<file.gguf>, hf:<user>/<repo>:<quant>, or an https:// URL`,
    );
  }
  const staging = join(options.modelsDir, STAGING);
  await mkdir(staging, { recursive: true });
  // What LMX's dashboard shows of this pull (see pull-progress.ts); gone when the pull ends.
  const progress = new PullProgressWriter(staging, source);
  try {
    return await download(source, isUri, staging, progress, options);
  } finally {
    await progress.close();
    await rmdir(staging).catch(() => undefined);
  }
}

async function download(
  source: string,
  isUri: boolean,
  staging: string,
  progress: PullProgressWriter,
  options: PullOptions,
): Promise<PulledModel> {
  let downloader: ModelDownloader;
  try {
    downloader = await createModelDownloader({
      modelUri: source,
      dirPath: staging,
      showCliProgress: options.showProgressBar ?? false,
      deleteTempFileOnCancel: true,
      // A complete file left in the staging directory by an interrupted pull is reused.
      skipExisting: true,
      onProgress: (status) => {
        progress.update({ downloadedBytes: status.downloadedSize, totalBytes: status.totalSize });
        options.onProgress?.({ downloadedBytes: status.downloadedSize, totalBytes: status.totalSize });
      },
    });
  } catch (error) {
    throw explain(source, isUri, error);
  }
  const names = downloader.filesInfo.map((file) => file.fileName);
  progress.update({ files: names, totalBytes: downloader.totalSize });
  const existing: string[] = [];
  for (const name of names) if (await exists(join(options.modelsDir, name))) existing.push(name);
  if (existing.length > 0 && !options.force) {
    throw new PullError(
      "exists",
      `${existing.join(", ")} already exists in ${options.modelsDir}; pass --force (force: true) to replace it with ${source}, or delete it first`,
    );
  }

  let staged: string;
  try {
    staged = await downloader.download(options.signal ? { signal: options.signal } : {});
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw explain(source, isUri, error);
  }
  const stagedFiles = names.map((name) => join(staging, name));
  let sizeBytes: number;
  try {
    sizeBytes = (await inspectModelFile(staged)).sizeBytes;
  } catch (error) {
    await Promise.all(stagedFiles.map((file) => rm(file, { force: true })));
    throw new PullError(
      "not_gguf",
      `downloaded ${names[0]} from ${source} but it is not usable, so it was deleted: ${(error as Error).message}`,
      { cause: error },
    );
  }
  // Move into place: a rename on the same file system, so a replaced model switches atomically.
  for (const [index, name] of names.entries()) await rename(stagedFiles[index]!, join(options.modelsDir, name));
  const path = join(options.modelsDir, relative(staging, staged));
  const id = relative(options.modelsDir, path)
    .split(sep)
    .join("/")
    .replace(/\.gguf$/i, "");
  return { id, path, sizeBytes, replaced: existing.length > 0 };
}
