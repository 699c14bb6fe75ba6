/** The model's file name (its LMX model id is this without `.gguf`). */
export const GEMMA_FILE: string;
/** The LMX model id of the cached file. */
export const GEMMA_MODEL_ID: string;
/** The cache directory: `$OPTA_MODEL_CACHE`, else `~/.cache/opta/models` (outside every repository). */
export function modelCacheDir(): string;
/** Path of the cached model file (it may not exist). */
export function gemmaModelPath(): string;
/** The cached model's path when it has been fetched and verified, else undefined. */
export function fetchedGemmaModel(): string | undefined;
/** The sha256 recorded in scripts/gemma.sha256, or undefined before the first fetch. */
export function recordedGemmaSha256(): string | undefined;
/** What a skipped test prints when the model is absent. */
export const GEMMA_MISSING: string;
