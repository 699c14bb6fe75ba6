import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { type GgufFileInfo, readGgufFileInfo } from "node-llama-cpp";
import { LmxError } from "../server/errors.js";
import { checkGgufHeader, GgufHeaderError } from "./header.js";

/** What LMX needs to know about a GGUF file before handing it to native code. */
export type InspectedModel = {
  /** The parsed header (metadata and tensor infos). */
  info: GgufFileInfo;
  /** File size in bytes. */
  sizeBytes: number;
  /** `general.architecture`. */
  architecture: string;
  /** `<arch>.context_length`, when present. */
  trainContextSize: number | undefined;
  /** Tokens in the vocabulary (from `token_embd.weight`, else the tokenizer metadata). */
  vocabularySize: number;
};

// Architectures without attention heads; every other one needs head_count and feed_forward_length,
// whose absence makes llama.cpp abort the whole process instead of failing the load.
const RECURRENT_ARCHITECTURES = new Set(["mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"]);

// [elements per block, bytes per block] for the tensor types whose layout is certain.
const TENSOR_LAYOUT: Record<number, [number, number]> = {
  0: [1, 4], // F32
  1: [1, 2], // F16
  2: [32, 18], // Q4_0
  3: [32, 20], // Q4_1
  6: [32, 22], // Q5_0
  7: [32, 24], // Q5_1
  8: [32, 34], // Q8_0
  10: [256, 84], // Q2_K
  11: [256, 110], // Q3_K
  12: [256, 144], // Q4_K
  13: [256, 176], // Q5_K
  14: [256, 210], // Q6_K
  24: [1, 1], // I8
  25: [1, 2], // I16
  26: [1, 4], // I32
  28: [1, 8], // F64
  30: [1, 2], // BF16
};

/**
 * Reads and checks a GGUF file so that a broken, truncated or incomplete file becomes a clear
 * `model_invalid` error instead of a failed (or aborted) native load.
 */
export async function inspectModelFile(path: string): Promise<InspectedModel> {
  const name = basename(path);
  let sizeBytes: number;
  try {
    sizeBytes = (await stat(path)).size;
  } catch (error) {
    throw new LmxError("model_not_found", `model file ${path} cannot be read: ${(error as Error).message}`);
  }
  if (sizeBytes < 24) throw invalid(name, `the file is only ${sizeBytes} bytes long`);
  // node-llama-cpp's parser trusts every count and length in the header (and reads zeros past the
  // end of the file): each part gets the bounds check first.
  for (const part of splitParts(path)) {
    try {
      await checkGgufHeader(part);
    } catch (error) {
      if (error instanceof GgufHeaderError) {
        const advice = /pull it again/.test(error.reason) ? "" : "; the file is corrupt: delete it or pull it again";
        throw invalid(part === path ? name : `${name} (part ${basename(part)})`, `${error.reason}${advice}`);
      }
      throw new LmxError("model_not_found", `model file ${part} cannot be read: ${(error as Error).message}`);
    }
  }
  let info: GgufFileInfo;
  try {
    info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false, sourceType: "filesystem" });
  } catch (error) {
    const reason = (error as Error).message || String(error);
    throw invalid(name, /magic/i.test(reason) ? "it does not start with the GGUF magic bytes" : reason);
  }
  const metadata = info.metadata as unknown as Record<string, unknown>;
  const architecture = lookup(metadata, "general.architecture");
  if (typeof architecture !== "string" || architecture === "") throw invalid(name, "general.architecture is missing");
  const required = [`${architecture}.block_count`, `${architecture}.embedding_length`, "tokenizer.ggml.model"];
  if (!RECURRENT_ARCHITECTURES.has(architecture)) {
    required.push(`${architecture}.attention.head_count`, `${architecture}.feed_forward_length`);
  }
  for (const key of required) {
    if (lookup(metadata, key) === undefined) throw invalid(name, `the metadata key ${key} is missing`);
  }
  if (lookup(metadata, "tokenizer.ggml.model") !== "none" && lookup(metadata, "tokenizer.ggml.tokens") === undefined) {
    throw invalid(name, "the metadata key tokenizer.ggml.tokens is missing");
  }
  const tensors = info.tensorInfo ?? [];
  if (tensors.length === 0 && info.splicedParts === 1) throw invalid(name, "it contains no tensors");
  if (info.splicedParts === 1) {
    for (const tensor of tensors) {
      const layout = TENSOR_LAYOUT[tensor.ggmlType];
      if (!layout) continue;
      const elements = tensor.dimensions.reduce<number>((product, dim) => product * Number(dim), 1);
      const end = Number(tensor.fileOffset) + (elements / layout[0]) * layout[1];
      if (end > sizeBytes) {
        throw invalid(
          name,
          `it is truncated: tensor ${tensor.name} ends at byte ${end} but the file has ${sizeBytes} bytes (an interrupted download? pull it again)`,
        );
      }
    }
  }
  const contextLength = lookup(metadata, `${architecture}.context_length`);
  const embedding = tensors.find((tensor) => tensor.name === "token_embd.weight");
  const tokens = lookup(metadata, "tokenizer.ggml.tokens");
  const vocabularySize =
    embedding && embedding.dimensions.length >= 2
      ? Number(embedding.dimensions[1])
      : Array.isArray(tokens)
        ? tokens.length
        : Number(lookup(metadata, `${architecture}.vocab_size`) ?? 0);
  return {
    vocabularySize,
    info,
    sizeBytes,
    architecture,
    trainContextSize: typeof contextLength === "number" ? contextLength : undefined,
  };
}

/** The files node-llama-cpp reads for `path`: every part of a `-00001-of-0000N.gguf` split, else `path`. */
function splitParts(path: string): string[] {
  // The same pattern node-llama-cpp's resolveSplitGgufParts uses.
  const match = /-(\d{5})-of-(\d{5})\.gguf$/.exec(path);
  const parts = Number(match?.[2] ?? 0);
  if (!match || parts === 0 || Number(match[1]) > parts) return [path];
  const stem = path.slice(0, path.length - match[0].length);
  return Array.from(
    { length: parts },
    (_, index) => `${stem}-${String(index + 1).padStart(5, "0")}-of-${match[2]}.gguf`,
  );
}

function invalid(name: string, reason: string): LmxError {
  return new LmxError("model_invalid", `${name} is not a usable GGUF model: ${reason}`);
}

function lookup(metadata: Record<string, unknown>, key: string): unknown {
  let node: unknown = metadata;
  for (const part of key.split(".")) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}
