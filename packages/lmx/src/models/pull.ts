import { rm } from "node:fs/promises";
import { basename, relative, sep } from "node:path";
import { createModelDownloader } from "node-llama-cpp";
import { inspectModelFile } from "../gguf/inspect.js";

/** Options of {@link pullModel}. */
export type PullOptions = {
  /** Destination directory (the models directory). */
  modelsDir: string;
  /** Show node-llama-cpp's progress bar on the terminal. */
  showProgressBar?: boolean;
  /** Progress callback, bytes. */
  onProgress?: (progress: { downloadedBytes: number; totalBytes: number }) => void;
  /** Cancels the download (the partial file is deleted). */
  signal?: AbortSignal;
};

/** A model now in the models directory. */
export type PulledModel = { id: string; path: string; sizeBytes: number };

/**
 * Downloads a GGUF into the models directory with node-llama-cpp's downloader (resumable,
 * split-file aware) and checks it before declaring success: a file that is not a usable GGUF is
 * deleted and reported. `source` is `hf:<user>/<repo>/<file.gguf>`, `hf:<user>/<repo>:<quant>`, or
 * an `https://` (or `http://`) URL.
 */
export async function pullModel(source: string, options: PullOptions): Promise<PulledModel> {
  const isUri = /^(hf|huggingface):/i.test(source);
  const isUrl = /^https?:\/\//i.test(source);
  if (!isUri && !isUrl) {
    throw new Error(
      `cannot pull '${source}': use hf:<user>/<repo>/<file.gguf>, hf:<user>/<repo>:<quant>, or an https:// URL`,
    );
  }
  const downloader = await createModelDownloader({
    ...(isUri ? { modelUri: source } : { modelUrl: source }),
    dirPath: options.modelsDir,
    showCliProgress: options.showProgressBar ?? false,
    deleteTempFileOnCancel: true,
    skipExisting: true,
    onProgress: (status) =>
      options.onProgress?.({ downloadedBytes: status.downloadedSize, totalBytes: status.totalSize }),
  });
  const path = await downloader.download(options.signal ? { signal: options.signal } : {});
  try {
    const inspected = await inspectModelFile(path);
    const id = relative(options.modelsDir, path)
      .split(sep)
      .join("/")
      .replace(/\.gguf$/i, "");
    return { id, path, sizeBytes: inspected.sizeBytes };
  } catch (error) {
    await rm(path, { force: true });
    throw new Error(
      `downloaded ${basename(path)} but it is not usable, so it was deleted: ${(error as Error).message}`,
    );
  }
}
