// Where the real Gemma 3 270M model lives once scripts/fetch-gemma.mjs has fetched it, shared by
// that script, the tests that use it and the benchmarks. Plain JavaScript so that the fetch script
// runs with no build step.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The model's file name (its LMX model id is this without `.gguf`). */
export const GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf";

/** The LMX model id of the cached file. */
export const GEMMA_MODEL_ID = "gemma-3-270m-q4_k_m";

/** The cache directory: `$OPTA_MODEL_CACHE`, else `~/.cache/opta/models` (outside every repository). */
export function modelCacheDir() {
  return process.env.OPTA_MODEL_CACHE || join(homedir(), ".cache", "opta", "models");
}

/** Path of the cached model file (it may not exist). */
export function gemmaModelPath() {
  return join(modelCacheDir(), GEMMA_FILE);
}

/**
 * The cached model's path when it has been fetched and verified, else undefined. The fetch script
 * writes the file under its final name only after every check passed, so existence is the signal.
 */
export function fetchedGemmaModel() {
  const path = gemmaModelPath();
  return existsSync(path) ? path : undefined;
}

/** The sha256 recorded in scripts/gemma.sha256 (sha256sum format), or undefined before the first fetch. */
export function recordedGemmaSha256() {
  try {
    const line = readFileSync(new URL("./gemma.sha256", import.meta.url), "utf8").trim();
    const match = /^([0-9a-f]{64})\s/.exec(line);
    return match ? match[1] : undefined;
  } catch {
    return undefined;
  }
}

/** What a skipped test prints when the model is absent. */
export const GEMMA_MISSING = `the real Gemma model is not fetched (${GEMMA_FILE} in $OPTA_MODEL_CACHE or ~/.cache/opta/models); run: node scripts/fetch-gemma.mjs`;
